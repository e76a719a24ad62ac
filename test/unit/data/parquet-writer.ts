/**
 * A minimal Parquet writer for tests (hyparquet only reads): REQUIRED string and int64 columns,
 * PLAIN encoding, no compression, one data page per column chunk, several row groups.
 * Footer and page headers are Thrift compact protocol, written by hand below.
 */
import { writeFileSync } from 'node:fs';

type Column = { name: string; type: 'string' | 'int64'; values: (string | number)[] };

// Thrift compact types
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

type Value =
  | { type: typeof I32 | typeof I64; value: number }
  | { type: typeof BINARY; value: string | Uint8Array }
  | { type: typeof LIST; element: number; items: Value[] }
  | { type: typeof STRUCT; fields: [number, Value][] };

const i32 = (value: number): Value => ({ type: I32, value });
const i64 = (value: number): Value => ({ type: I64, value });
const bin = (value: string | Uint8Array): Value => ({ type: BINARY, value });
const struct = (...fields: [number, Value][]): Value => ({ type: STRUCT, fields });
const list = (element: number, items: Value[]): Value => ({ type: LIST, element, items });

class Out {
  bytes: number[] = [];
  varint(n: bigint): void {
    while (n >= 0x80n) {
      this.bytes.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.bytes.push(Number(n));
  }
  zigzag(n: number): void {
    const big = BigInt(n);
    this.varint(big >= 0n ? big << 1n : (-big << 1n) - 1n);
  }
  value(v: Value): void {
    if (v.type === STRUCT) this.struct(v.fields);
    else if (v.type === I32 || v.type === I64) this.zigzag(v.value);
    else if (v.type === BINARY) {
      const data = typeof v.value === 'string' ? Buffer.from(v.value, 'utf8') : v.value;
      this.varint(BigInt(data.length));
      this.bytes.push(...data);
    } else if (v.type === LIST) {
      if (v.items.length < 15) this.bytes.push((v.items.length << 4) | v.element);
      else {
        this.bytes.push(0xf0 | v.element);
        this.varint(BigInt(v.items.length));
      }
      for (const item of v.items) this.value(item);
    }
  }
  struct(fields: [number, Value][]): void {
    let last = 0;
    for (const [id, field] of fields) {
      this.bytes.push(((id - last) << 4) | field.type);
      last = id;
      this.value(field);
    }
    this.bytes.push(0);
  }
}

function thrift(v: Value): Buffer {
  const out = new Out();
  out.value(v);
  return Buffer.from(out.bytes);
}

function plain(column: Column, start: number, end: number): Buffer {
  const parts = column.values.slice(start, end).map((v) => {
    if (column.type === 'int64') {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v));
      return b;
    }
    const data = Buffer.from(String(v), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(data.length);
    return Buffer.concat([length, data]);
  });
  return Buffer.concat(parts);
}

const PARQUET_TYPE = { string: 6, int64: 2 }; // BYTE_ARRAY, INT64

export function writeParquet(file: string, columns: Column[], rowsPerGroup = 100): void {
  const rows = columns[0].values.length;
  const chunks: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const rowGroups: Value[] = [];
  for (let start = 0; start < rows; start += rowsPerGroup) {
    const end = Math.min(rows, start + rowsPerGroup);
    const columnChunks: Value[] = [];
    let groupBytes = 0;
    for (const column of columns) {
      const data = plain(column, start, end);
      const header = thrift(struct([1, i32(0)], [2, i32(data.length)], [3, i32(data.length)], [5, struct([1, i32(end - start)], [2, i32(0)], [3, i32(3)], [4, i32(3)])]));
      const size = header.length + data.length;
      columnChunks.push(
        struct(
          [2, i64(offset)],
          [3, struct([1, i32(PARQUET_TYPE[column.type])], [2, list(I32, [i32(0)])], [3, list(BINARY, [bin(column.name)])], [4, i32(0)], [5, i64(end - start)], [6, i64(size)], [7, i64(size)], [9, i64(offset)])],
        ),
      );
      chunks.push(header, data);
      offset += size;
      groupBytes += size;
    }
    rowGroups.push(struct([1, list(STRUCT, columnChunks)], [2, i64(groupBytes)], [3, i64(end - start)]));
  }
  const schema = [
    struct([4, bin('schema')], [5, i32(columns.length)]),
    ...columns.map((c) =>
      c.type === 'string' ? struct([1, i32(6)], [3, i32(0)], [4, bin(c.name)], [6, i32(0)]) : struct([1, i32(2)], [3, i32(0)], [4, bin(c.name)]),
    ),
  ];
  const footer = thrift(struct([1, i32(1)], [2, list(STRUCT, schema)], [3, i64(rows)], [4, list(STRUCT, rowGroups)], [6, bin('bert-workbench test writer')]));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length);
  writeFileSync(file, Buffer.concat([...chunks, footer, length, Buffer.from('PAR1')]));
}
