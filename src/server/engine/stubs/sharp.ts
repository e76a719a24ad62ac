/**
 * Stands in for sharp (image decoding) inside the esbuild bundles: Transformers.js checks that it
 * exists when it loads, and the engine never decodes images.
 */
export default function sharp(): never {
  throw new Error('sharp is not part of this build: Transformers.js is used for tokenizers only.');
}
