/**
 * Stands in for ONNX Runtime inside the esbuild bundles. The engine uses Transformers.js only for
 * its tokenizers, which never run an ONNX model; this keeps ~300 MB of runtime and native binaries
 * out of the extension. Transformers.js reads `env`, `Tensor` and `InferenceSession` when it loads.
 */
function notBundled(): never {
  throw new Error('ONNX Runtime is not part of this build: Transformers.js is used for tokenizers only.');
}

export class Tensor {
  constructor(..._args: unknown[]) {
    notBundled();
  }
}

export const InferenceSession = { create: notBundled };
export const env = {};
export default { Tensor, InferenceSession, env };
