/**
 * Hand-written encoder for the few ONNX models the GEMM provider runs: a graph of one node, float
 * inputs and outputs of known rank and symbolic sizes (so one session serves every shape).
 *
 * Hand-written because what is needed is ~40 lines of protobuf wire format (varints and
 * length-delimited fields) for four message types, while the alternatives are a protobuf runtime
 * plus the generated ONNX schema (hundreds of kB, a new dependency) or model files shipped on disk
 * (one per operator and rank). Field numbers are those of onnx/onnx.proto (IR version 8).
 */

export interface OnnxAttribute {
  name: string;
  /** An integer (AttributeProto INT) or a float (FLOAT); INTS for arrays of integers. */
  value: number | number[];
  /** Set for a whole number that must still be written as a FLOAT attribute (e.g. alpha = 1). */
  float?: boolean;
}

export interface OnnxValue {
  name: string;
  rank: number;
}

export interface SingleNodeModel {
  opType: string;
  /** '' for the standard operators, e.g. 'com.microsoft' for ONNX Runtime's contrib operators. */
  domain?: string;
  attributes?: OnnxAttribute[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** Opset of the standard domain. */
  opset: number;
}

const IR_VERSION = 8;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

/** A serialized ModelProto with one node. */
export function encodeSingleNodeModel(model: SingleNodeModel): Uint8Array {
  const domain = model.domain ?? '';
  const opsets = [operatorSetId('', model.opset), ...(domain ? [operatorSetId(domain, 1)] : [])];
  const graph = new ProtoWriter()
    .message(1, nodeProto(model, domain)) // GraphProto.node
    .string(2, model.opType.toLowerCase()) // GraphProto.name
    .messages(11, model.inputs.map(valueInfo)) // GraphProto.input
    .messages(12, model.outputs.map(valueInfo)); // GraphProto.output
  return new ProtoWriter()
    .varint(1, IR_VERSION) // ModelProto.ir_version
    .string(2, 'bert-workbench') // ModelProto.producer_name
    .message(7, graph) // ModelProto.graph
    .messages(8, opsets) // ModelProto.opset_import
    .bytes();
}

function nodeProto(model: SingleNodeModel, domain: string): ProtoWriter {
  const node = new ProtoWriter();
  for (const input of model.inputs) node.string(1, input.name); // NodeProto.input
  for (const output of model.outputs) node.string(2, output.name); // NodeProto.output
  node.string(4, model.opType); // NodeProto.op_type
  node.messages(5, (model.attributes ?? []).map(attribute)); // NodeProto.attribute
  if (domain) node.string(7, domain); // NodeProto.domain
  return node;
}

function attribute({ name, value, float }: OnnxAttribute): ProtoWriter {
  const writer = new ProtoWriter().string(1, name); // AttributeProto.name
  if (Array.isArray(value)) {
    for (const v of value) writer.varint(8, v); // AttributeProto.ints
    return writer.varint(20, ATTRIBUTE_INTS); // AttributeProto.type
  }
  if (float || !Number.isInteger(value)) return writer.float(2, value).varint(20, ATTRIBUTE_FLOAT); // .f
  return writer.varint(3, value).varint(20, ATTRIBUTE_INT); // AttributeProto.i
}

/** A float tensor of the given rank whose sizes are named `<name>_0`, `<name>_1`, … */
function valueInfo({ name, rank }: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (let i = 0; i < rank; i++) shape.message(1, new ProtoWriter().string(2, `${name}_${i}`)); // dim { dim_param }
  const tensorType = new ProtoWriter().varint(1, FLOAT).message(2, shape); // elem_type, shape
  const type = new ProtoWriter().message(1, tensorType); // TypeProto.tensor_type
  return new ProtoWriter().string(1, name).message(2, type); // ValueInfoProto.name, .type
}

function operatorSetId(domain: string, version: number): ProtoWriter {
  const writer = new ProtoWriter();
  if (domain) writer.string(1, domain); // OperatorSetIdProto.domain
  return writer.varint(2, version); // OperatorSetIdProto.version
}

/** Protobuf wire format, only what the messages above use. */
class ProtoWriter {
  private readonly chunks: number[] = [];

  varint(field: number, value: number): this {
    this.key(field, 0);
    this.rawVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    this.chunks.push(...new Uint8Array(new Float32Array([value]).buffer));
    return this;
  }

  string(field: number, value: string): this {
    return this.lengthDelimited(field, new TextEncoder().encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.lengthDelimited(field, value.bytes());
  }

  messages(field: number, values: ProtoWriter[]): this {
    for (const value of values) this.message(field, value);
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }

  private lengthDelimited(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.rawVarint(data.length);
    this.chunks.push(...data);
    return this;
  }

  private key(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`protobuf: cannot write ${value} as a varint`);
    while (value >= 0x80) {
      this.chunks.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.chunks.push(value);
  }
}
