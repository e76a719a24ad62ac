/**
 * Element-wise loops in WebAssembly SIMD (four float32 lanes), running on the wasm backend's own
 * heap: the module imports the backend's memory, so a tensor's data is addressed by its byte offset
 * there and nothing is copied. JS runs such loops one element at a time, in double precision, at
 * 3–12 ns an element here; in SIMD they are several times faster.
 *
 * The module is assembled here, byte by byte, from a small instruction builder (no toolchain, no
 * binary blob). Where it cannot be used (another backend, no SIMD, the memory not reachable)
 * `simdKernels()` is undefined and callers keep their JS loops. The kernels are tested against the
 * JS loops and the stock TF.js ops they replace (test/unit/engine/bert-kernels.test.ts, dropout.test.ts,
 * test/unit/train/optimizer.test.ts).
 *
 * Pointers are byte offsets; counts are elements. Vector loops take counts that are multiples of 4
 * (`n4` counts groups of 4); callers do any tail in JS.
 *
 *   adamw(p, g, m, v, out, n4, β1, 1−β1, β2, 1−β2, decay, k1, k2, gScale)
 *       g' = gScale·g;  m ← β1·m + (1−β1)·g';  v ← β2·v + (1−β2)·g'²;  out = decay·p − m/(√v·k1 + k2)
 *   sumSquares(x, n2) → Σ x² over 2·n2 elements, accumulated in float64
 *   scale(x, out, n4, s): out = s·x
 *   gelu(x, y, n4, table), geluGrad(x, dy, dx, n4, table): x·Φ(x), and dy·(Φ(x) + x·φ(x)), from the
 *       cubic pieces of math.ts (float32 copies at `table`)
 *   layerNorm{mask}{residual}{outMask}(a, m, r, γ, β, y, x̂, rstd, rows, H, eps, om):
 *       per row of H (a multiple of 4): s = a (·m) (+ r); x̂ = (s − mean)·rstd; y = (x̂·γ + β) (·om)
 *   layerNormGrad{outMask}{dx}(dy, om, x̂, rstd, γ, dγ, dβ, ds, m, dx, rows, H):
 *       dz = dy (·om); ĝ = dz·γ; ds = (ĝ − mean ĝ − x̂·mean(ĝ·x̂))·rstd; dγ += dz·x̂; dβ += dz;
 *       with dx: dx = ds·m (m = 0: dx = ds)
 *   softmax(s, add, p, d, m, batches, rowsPerBatch, T): per row of T (a multiple of 4), add the
 *       batch's additive key mask, softmax into p; with m ≠ 0, d = p·m (dropout)
 *   softmaxGrad(dd, dr, p, out, rows, T): out = t − p·Σt, t = dd·dr
 *   embeddingSum(ids, typeIds, words, types, positions, out, N, T, H): row r of out (N, H) is
 *       words[ids[r]] + types[typeIds[r]] + positions[r mod T] (ids int32, checked by the caller)
 *   embeddingGrad(ds, ids, typeIds, dWords, dTypes, dPositions, N, T, H): the same rows += ds[r]
 *   dropoutMask(seeds, out, rows, rowSize, threshold, keep): dropout.ts's masks, four mulberry32 draws
 *       (eight elements) at a time from each row's seed (int32 at seeds); rowSize a multiple of 8
 */
import { wasmMemory } from './host';

export interface SimdKernels {
  adamw(p: number, g: number, m: number, v: number, out: number, n4: number, b1: number, c1: number, b2: number, c2: number, decay: number, k1: number, k2: number, gScale: number): void;
  sumSquares(x: number, n2: number): number;
  scale(x: number, out: number, n4: number, s: number): void;
  gelu(x: number, y: number, n4: number, table: number): void;
  geluGrad(x: number, dy: number, dx: number, n4: number, table: number): void;
  layerNorm(variant: LayerNormVariant): (a: number, m: number, r: number, gamma: number, beta: number, y: number, xHat: number, rstd: number, rows: number, H: number, eps: number, om: number) => void;
  layerNormGrad(variant: LayerNormGradVariant): (dy: number, om: number, xHat: number, rstd: number, gamma: number, dGamma: number, dBeta: number, ds: number, m: number, dx: number, rows: number, H: number) => void;
  softmax(s: number, add: number, p: number, d: number, m: number, batches: number, rowsPerBatch: number, T: number): void;
  softmaxGrad(dd: number, dr: number, p: number, out: number, rows: number, T: number): void;
  embeddingSum(ids: number, typeIds: number, words: number, types: number, positions: number, out: number, N: number, T: number, H: number): void;
  embeddingGrad(ds: number, ids: number, typeIds: number, dWords: number, dTypes: number, dPositions: number, N: number, T: number, H: number): void;
  dropoutMask(seeds: number, out: number, rows: number, rowSize: number, threshold: number, keep: number): void;
}

/** Which inputs a LayerNorm kernel reads: a dropout mask on its input, a residual, a mask on its output. */
export interface LayerNormVariant {
  mask: boolean;
  residual: boolean;
  outMask: boolean;
}

/** A mask on the output's gradient (dropout after the LayerNorm); dx = ds·m as a second output. */
export interface LayerNormGradVariant {
  outMask: boolean;
  dx: boolean;
}

let cached: { memory: WebAssembly.Memory; kernels: SimdKernels | undefined } | undefined;
let disabled = false;

/** Turns the SIMD kernels off (for tests of the JS loops); returns the previous setting. */
export function setSimdKernels(on: boolean): boolean {
  const previous = !disabled;
  disabled = !on;
  return previous;
}

/** The kernels on the wasm backend's heap, or undefined where they cannot run. */
export function simdKernels(): SimdKernels | undefined {
  if (disabled) return undefined;
  const memory = wasmMemory();
  if (!memory) return undefined;
  if (cached?.memory !== memory) cached = { memory, kernels: instantiate(memory) };
  return cached.kernels;
}

function instantiate(memory: WebAssembly.Memory): SimdKernels | undefined {
  try {
    const { bytes, names } = assemble();
    if (!WebAssembly.validate(bytes)) return undefined;
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, Function>;
    const pick = <T>(name: string) => exports[name] as unknown as T;
    return {
      adamw: pick('adamw'),
      sumSquares: pick('sumSquares'),
      scale: pick('scale'),
      gelu: pick('gelu'),
      geluGrad: pick('geluGrad'),
      softmax: pick('softmax'),
      softmaxGrad: pick('softmaxGrad'),
      embeddingSum: pick('embeddingSum'),
      embeddingGrad: pick('embeddingGrad'),
      dropoutMask: pick('dropoutMask'),
      layerNorm: (v) => pick(names.layerNorm(v)),
      layerNormGrad: (v) => pick(names.layerNormGrad(v)),
    };
  } catch {
    return undefined; // e.g. a shared memory (the threaded build), or no SIMD
  }
}

// ---------------------------------------------------------------------------------------------
// the assembler

const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const f32Bytes = (x: number) => [...new Uint8Array(Float32Array.of(x).buffer)];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

type Code = number[];
/** Memory immediates: alignment 2² bytes (float32 data), offset 0. */
const MEMARG = [2, 0];
const simd = (code: number, ...immediates: number[]): Code => [0xfd, ...uleb(code), ...immediates];
/** i8x16.shuffle picking four 32-bit lanes of (a, b): 0–3 from a, 4–7 from b. */
const shuffle32 = (...lanes: number[]): Code => simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));

/** The instructions used (core, then SIMD). */
const I = {
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (n: number): Code => [0x41, ...sleb(n)],
  f32: (x: number): Code => [0x43, ...f32Bytes(x)],
  f64Zero: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32RemU: [0x70],
  i32Load: [0x28, ...MEMARG],
  i32Eqz: [0x45],
  f32Load: [0x2a, ...MEMARG],
  f32Store: [0x38, ...MEMARG],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Max: [0x97],
  f32Sqrt: [0x91],
  f64Add: [0xa0],
  i32Convert: [0xb2], // f32.convert_i32_s
  if: [0x04, 0x40],
  end: [0x0b],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  // SIMD
  load: simd(0x00, ...MEMARG),
  store: simd(0x0b, ...MEMARG),
  load64Zero: simd(0x5d, ...MEMARG),
  f32x4Splat: simd(0x13),
  f64x2Splat: simd(0x14),
  f32x4Lane: (lane: number): Code => simd(0x1f, lane),
  i32x4Lane: (lane: number): Code => simd(0x1b, lane),
  f64x2Lane: (lane: number): Code => simd(0x21, lane),
  i32x4Splat: simd(0x11),
  andNot: simd(0x4f),
  bitselect: simd(0x52),
  f32x4Eq: simd(0x41),
  f32x4Lt: simd(0x43),
  f32x4Ge: simd(0x46),
  f32x4Nearest: simd(0x6a),
  f64x2PromoteLow: simd(0x5f),
  i32x4Shl: simd(0xab),
  i32x4Add: simd(0xae),
  i32x4ShrU: simd(0xad),
  i32x4Mul: simd(0xb5),
  v128And: simd(0x4e),
  v128Or: simd(0x50),
  v128Xor: simd(0x51),
  i32x4Sub: simd(0xb1),
  f32x4Abs: simd(0xe0),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
  i32x4TruncSat: simd(0xf8),
  f32x4ConvertI32: simd(0xfa),
};

/** A function under construction: typed parameters, then locals allocated as needed. */
class Func {
  readonly locals: number[] = [];
  constructor(
    readonly name: string,
    readonly params: number[],
    readonly results: number[] = [],
  ) {}

  local(type: number): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  body: Code = [];
}

/**
 * `for (; count > 0; count -= step, ptr₁ += bytes, …) body`: `count` and the pointer locals are
 * modified. Does nothing for count ≤ 0 (counts are positive here).
 */
function loop(count: number, step: number, pointers: number[], bytes: number, body: Code): Code {
  return [
    ...I.block,
    ...I.get(count), ...I.i32Eqz, ...I.brIf(0),
    ...I.loop,
    ...body,
    ...pointers.flatMap((p) => [...I.get(p), ...I.i32(bytes), ...I.i32Add, ...I.set(p)]),
    ...I.get(count), ...I.i32(step), ...I.i32Sub, ...I.tee(count), ...I.brIf(0),
    ...I.end,
    ...I.end,
  ];
}

/** v128.load from the address in local p. */
const loadAt = (p: number): Code => [...I.get(p), ...I.load];
/** The sum of a float32x4's four lanes, as f32. */
const hsum = (v: number): Code => [
  ...I.get(v), ...I.f32x4Lane(0), ...I.get(v), ...I.f32x4Lane(1), ...I.f32Add,
  ...I.get(v), ...I.f32x4Lane(2), ...I.get(v), ...I.f32x4Lane(3), ...I.f32Add, ...I.f32Add,
];
const splat = (x: number): Code => [...I.f32(x), ...I.f32x4Splat];
/** local ← local + bytes */
const advance = (p: number, bytes: Code): Code => [...I.get(p), ...bytes, ...I.i32Add, ...I.set(p)];

function adamwFunc(): Func {
  const f = new Func('adamw', [I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32]);
  const [p, g, m, v, out, n4] = [0, 1, 2, 3, 4, 5];
  const scalars = [6, 7, 8, 9, 10, 11, 12, 13].map((param) => ({ param, local: f.local(V128) }));
  const [B1, C1, B2, C2, DECAY, K1, K2, GS] = scalars.map((s) => s.local);
  const [G, M, V] = [f.local(V128), f.local(V128), f.local(V128)];
  f.body = [
    ...scalars.flatMap((s) => [...I.get(s.param), ...I.f32x4Splat, ...I.set(s.local)]),
    ...loop(n4, 1, [p, g, m, v, out], 16, [
      // g' = gScale·g
      ...loadAt(g), ...I.get(GS), ...I.f32x4Mul, ...I.set(G),
      // m' = β1·m + c1·g'
      ...I.get(m), ...loadAt(m), ...I.get(B1), ...I.f32x4Mul, ...I.get(G), ...I.get(C1), ...I.f32x4Mul, ...I.f32x4Add, ...I.tee(M), ...I.store,
      // v' = β2·v + c2·g'²
      ...I.get(v), ...loadAt(v), ...I.get(B2), ...I.f32x4Mul, ...I.get(G), ...I.get(G), ...I.f32x4Mul, ...I.get(C2), ...I.f32x4Mul, ...I.f32x4Add, ...I.tee(V), ...I.store,
      // out = decay·p − m'/(√v'·k1 + k2)
      ...I.get(out), ...loadAt(p), ...I.get(DECAY), ...I.f32x4Mul,
      ...I.get(M), ...I.get(V), ...I.f32x4Sqrt, ...I.get(K1), ...I.f32x4Mul, ...I.get(K2), ...I.f32x4Add, ...I.f32x4Div,
      ...I.f32x4Sub, ...I.store,
    ]),
  ];
  return f;
}

function sumSquaresFunc(): Func {
  const f = new Func('sumSquares', [I32, I32], [F64]);
  const [x, n2] = [0, 1];
  const [sum, pair] = [f.local(V128), f.local(V128)];
  f.body = [
    ...I.f64Zero, ...I.f64x2Splat, ...I.set(sum),
    ...loop(n2, 1, [x], 8, [...I.get(sum), ...I.get(x), ...I.load64Zero, ...I.f64x2PromoteLow, ...I.tee(pair), ...I.get(pair), ...I.f64x2Mul, ...I.f64x2Add, ...I.set(sum)]),
    ...I.get(sum), ...I.f64x2Lane(0), ...I.get(sum), ...I.f64x2Lane(1), ...I.f64Add,
  ];
  return f;
}

function scaleFunc(): Func {
  const f = new Func('scale', [I32, I32, I32, F32]);
  const [x, out, n4, s] = [0, 1, 2, 3];
  const S = f.local(V128);
  f.body = [...I.get(s), ...I.f32x4Splat, ...I.set(S), ...loop(n4, 1, [x, out], 16, [...I.get(out), ...loadAt(x), ...I.get(S), ...I.f32x4Mul, ...I.store])];
  return f;
}

/**
 * GELU (or its derivative times dy) from the float32 table of cubic pieces about k/32, k = −256…256
 * (math.ts): per lane, the piece's four coefficients are one 16-byte load; a 4×4 transpose turns the
 * four lanes' rows into one vector per coefficient, then Horner.
 */
function geluFunc(grad: boolean): Func {
  const f = grad ? new Func('geluGrad', [I32, I32, I32, I32, I32]) : new Func('gelu', [I32, I32, I32, I32]);
  const [x, dy, out, n4, table] = grad ? [0, 1, 2, 3, 4] : [0, -1, 1, 2, 3];
  const [X, U, T, ADDR, R0, R1, R2, R3, LO01, HI01, LO23, HI23, F] = Array.from({ length: 13 }, () => f.local(V128));
  const [TABLE, RANGE, STEPS, SHIFT, TOP, MIDDLE, ONE] = Array.from({ length: 7 }, () => f.local(V128));
  const row = (lane: number, to: number) => [...I.get(ADDR), ...I.i32x4Lane(lane), ...I.load, ...I.set(to)];
  f.body = [
    ...I.get(table), ...I.i32x4Splat, ...I.set(TABLE),
    ...splat(8), ...I.set(RANGE), ...splat(32), ...I.set(STEPS), ...splat(256.5), ...I.set(SHIFT),
    ...splat(512.5), ...I.set(TOP), ...I.i32(256), ...I.i32x4Splat, ...I.set(MIDDLE), ...splat(1), ...I.set(ONE),
    ...loop(n4, 1, grad ? [x, dy, out] : [x, out], 16, [
      ...loadAt(x), ...I.set(X),
      // u = clamp(x·32 + 256.5, 0, 512.5); j = ⌊u⌋ (the nearest centre (j − 256)/32); t = x·32 − (j − 256),
      // exact in float32 (so small |x| keep their relative precision)
      ...I.get(X), ...I.get(STEPS), ...I.f32x4Mul, ...I.get(SHIFT), ...I.f32x4Add,
      ...splat(0), ...I.f32x4Max, ...I.get(TOP), ...I.f32x4Min,
      ...I.i32x4TruncSat, ...I.tee(ADDR),
      ...I.get(MIDDLE), ...I.i32x4Sub, ...I.f32x4ConvertI32, ...I.set(U),
      ...I.get(X), ...I.get(STEPS), ...I.f32x4Mul, ...I.get(U), ...I.f32x4Sub, ...I.set(T),
      ...I.get(ADDR), ...I.i32(4), ...I.i32x4Shl, ...I.get(TABLE), ...I.i32x4Add, ...I.set(ADDR),
      ...row(0, R0), ...row(1, R1), ...row(2, R2), ...row(3, R3),
      ...I.get(R0), ...I.get(R1), ...shuffle32(0, 4, 1, 5), ...I.set(LO01),
      ...I.get(R0), ...I.get(R1), ...shuffle32(2, 6, 3, 7), ...I.set(HI01),
      ...I.get(R2), ...I.get(R3), ...shuffle32(0, 4, 1, 5), ...I.set(LO23),
      ...I.get(R2), ...I.get(R3), ...shuffle32(2, 6, 3, 7), ...I.set(HI23),
      // Horner: c0 + t(c1 + t(c2 + t·c3))
      ...I.get(LO01), ...I.get(LO23), ...shuffle32(0, 1, 4, 5), // c0
      ...I.get(LO01), ...I.get(LO23), ...shuffle32(2, 3, 6, 7), // c1
      ...I.get(HI01), ...I.get(HI23), ...shuffle32(0, 1, 4, 5), // c2
      ...I.get(HI01), ...I.get(HI23), ...shuffle32(2, 3, 6, 7), // c3
      ...I.get(T), ...I.f32x4Mul, ...I.f32x4Add,
      ...I.get(T), ...I.f32x4Mul, ...I.f32x4Add,
      ...I.get(T), ...I.f32x4Mul, ...I.f32x4Add,
      ...I.set(F),
      // outside (−8, 8): x (or 1) above, x·0 below (−0, or NaN for −∞ as x·Φ(x) gives); NaN stays NaN
      ...I.get(F),
      ...(grad ? I.get(ONE) : I.get(X)), ...I.get(X), ...splat(0), ...I.f32x4Mul, ...I.get(X), ...I.get(RANGE), ...I.f32x4Ge, ...I.bitselect,
      ...I.get(X), ...I.f32x4Abs, ...I.get(RANGE), ...I.f32x4Lt, ...I.bitselect,
      ...I.get(X), ...I.get(X), ...I.get(X), ...I.f32x4Eq, ...I.bitselect, // (x = x) ? f : x
      ...(grad ? [...loadAt(dy), ...I.f32x4Mul] : []),
      ...I.set(F),
      ...I.get(out), ...I.get(F), ...I.store,
    ]),
  ];
  return f;
}

function layerNormName(v: LayerNormVariant): string {
  return `layerNorm${+v.mask}${+v.residual}${+v.outMask}`;
}

/** LayerNorm over rows of H (a multiple of 4), s = a (·m) (+ r) kept in x̂ between passes. */
function layerNormFunc(v: LayerNormVariant): Func {
  const f = new Func(layerNormName(v), [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, I32]);
  const [a, m, r, gamma, beta, y, xh, rstdP, rows, H, eps, om] = Array.from({ length: 12 }, (_, i) => i);
  const [ACC, MEAN, RSTD, S] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const [k, xhRow, g, b, mean, rstd, rowBytes] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(F32), f.local(F32), f.local(I32)];
  const restart = (p: number, from: number) => [...I.get(from), ...I.set(p)];
  f.body = [
    ...I.get(H), ...I.i32(4), ...I.i32Mul, ...I.set(rowBytes),
    ...loop(rows, 1, [], 0, [
      // pass 1: s and its sum
      ...splat(0), ...I.set(ACC), ...I.get(H), ...I.set(k), ...restart(xhRow, xh),
      ...loop(k, 4, [a, xhRow, ...(v.mask ? [m] : []), ...(v.residual ? [r] : [])], 16, [
        ...I.get(xhRow),
        ...loadAt(a), ...(v.mask ? [...loadAt(m), ...I.f32x4Mul] : []), ...(v.residual ? [...loadAt(r), ...I.f32x4Add] : []),
        ...I.tee(S), ...I.store,
        ...I.get(ACC), ...I.get(S), ...I.f32x4Add, ...I.set(ACC),
      ]),
      ...hsum(ACC), ...I.get(H), ...I.i32Convert, ...I.f32Div, ...I.tee(mean), ...I.f32x4Splat, ...I.set(MEAN),
      // pass 2: the variance (biased)
      ...splat(0), ...I.set(ACC), ...I.get(H), ...I.set(k), ...restart(xhRow, xh),
      ...loop(k, 4, [xhRow], 16, [
        ...loadAt(xhRow), ...I.get(MEAN), ...I.f32x4Sub, ...I.tee(S), ...I.get(S), ...I.f32x4Mul, ...I.get(ACC), ...I.f32x4Add, ...I.set(ACC),
      ]),
      ...I.f32(1), ...hsum(ACC), ...I.get(H), ...I.i32Convert, ...I.f32Div, ...I.get(eps), ...I.f32Add, ...I.f32Sqrt, ...I.f32Div, ...I.tee(rstd), ...I.f32x4Splat, ...I.set(RSTD),
      ...I.get(rstdP), ...I.get(rstd), ...I.f32Store, ...advance(rstdP, I.i32(4)),
      // pass 3: x̂ and y
      ...I.get(H), ...I.set(k), ...restart(xhRow, xh), ...restart(g, gamma), ...restart(b, beta),
      ...loop(k, 4, [xhRow, g, b, y, ...(v.outMask ? [om] : [])], 16, [
        ...I.get(xhRow), ...loadAt(xhRow), ...I.get(MEAN), ...I.f32x4Sub, ...I.get(RSTD), ...I.f32x4Mul, ...I.tee(S), ...I.store,
        ...I.get(y), ...I.get(S), ...loadAt(g), ...I.f32x4Mul, ...loadAt(b), ...I.f32x4Add, ...(v.outMask ? [...loadAt(om), ...I.f32x4Mul] : []), ...I.store,
      ]),
      ...advance(xh, I.get(rowBytes)),
    ]),
  ];
  void mean;
  return f;
}

function layerNormGradName(v: LayerNormGradVariant): string {
  return `layerNormGrad${+v.outMask}${+v.dx}`;
}

/** LayerNorm's backward pass over rows of H (a multiple of 4); ĝ is kept in ds between passes. */
function layerNormGradFunc(v: LayerNormGradVariant): Func {
  const f = new Func(layerNormGradName(v), [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [dy, om, xh, rstdP, gamma, dGamma, dBeta, ds, m, dx, rows, H] = Array.from({ length: 12 }, (_, i) => i);
  const [SG, SGX, DZ, G, XH, MG, MGX, RSTD] = Array.from({ length: 8 }, () => f.local(V128));
  const [k, g, dg, db, dsRow, xhRow, rowBytes, mOn] = Array.from({ length: 8 }, () => f.local(I32));
  const restart = (p: number, from: number) => [...I.get(from), ...I.set(p)];
  const invH = f.local(F32);
  f.body = [
    ...I.get(H), ...I.i32(4), ...I.i32Mul, ...I.set(rowBytes),
    ...I.f32(1), ...I.get(H), ...I.i32Convert, ...I.f32Div, ...I.set(invH),
    ...I.get(m), ...I.set(mOn),
    ...loop(rows, 1, [], 0, [
      // pass 1: ĝ = dz·γ into ds; Σĝ, Σĝx̂; dγ += dz·x̂, dβ += dz
      ...splat(0), ...I.set(SG), ...splat(0), ...I.set(SGX), ...I.get(H), ...I.set(k),
      ...restart(g, gamma), ...restart(dg, dGamma), ...restart(db, dBeta), ...restart(dsRow, ds), ...restart(xhRow, xh),
      ...loop(k, 4, [dy, g, dg, db, dsRow, xhRow, ...(v.outMask ? [om] : [])], 16, [
        ...loadAt(dy), ...(v.outMask ? [...loadAt(om), ...I.f32x4Mul] : []), ...I.set(DZ),
        ...loadAt(xhRow), ...I.set(XH),
        ...I.get(dsRow), ...I.get(DZ), ...loadAt(g), ...I.f32x4Mul, ...I.tee(G), ...I.store,
        ...I.get(SG), ...I.get(G), ...I.f32x4Add, ...I.set(SG),
        ...I.get(SGX), ...I.get(G), ...I.get(XH), ...I.f32x4Mul, ...I.f32x4Add, ...I.set(SGX),
        ...I.get(dg), ...loadAt(dg), ...I.get(DZ), ...I.get(XH), ...I.f32x4Mul, ...I.f32x4Add, ...I.store,
        ...I.get(db), ...loadAt(db), ...I.get(DZ), ...I.f32x4Add, ...I.store,
      ]),
      ...hsum(SG), ...I.get(invH), ...I.f32Mul, ...I.f32x4Splat, ...I.set(MG),
      ...hsum(SGX), ...I.get(invH), ...I.f32Mul, ...I.f32x4Splat, ...I.set(MGX),
      ...I.get(rstdP), ...I.f32Load, ...I.f32x4Splat, ...I.set(RSTD), ...advance(rstdP, I.i32(4)),
      // pass 2: ds = (ĝ − mean ĝ − x̂·mean(ĝx̂))·rstd; dx = ds·m
      ...I.get(H), ...I.set(k), ...restart(dsRow, ds), ...restart(xhRow, xh),
      ...loop(k, 4, [dsRow, xhRow, ...(v.dx ? [dx] : [])], 16, [
        ...I.get(dsRow), ...loadAt(dsRow), ...I.get(MG), ...I.f32x4Sub, ...loadAt(xhRow), ...I.get(MGX), ...I.f32x4Mul, ...I.f32x4Sub,
        ...I.get(RSTD), ...I.f32x4Mul, ...I.tee(G), ...I.store,
        ...(v.dx
          ? [
              ...I.get(mOn), ...I.if, ...I.get(G), ...loadAt(m), ...I.f32x4Mul, ...I.set(G), ...advance(m, I.i32(16)), ...I.end,
              ...I.get(dx), ...I.get(G), ...I.store,
            ]
          : []),
      ]),
      ...advance(xh, I.get(rowBytes)), ...advance(ds, I.get(rowBytes)),
    ]),
  ];
  return f;
}

/**
 * exp(z) for the float32x4 on the stack, z ≤ 0 (or −∞): z = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite with
 * ln2 in two parts), eʳ by its Taylor polynomial to the 7th order, 2ⁿ built in the exponent bits;
 * 0 below −87.3 (float32's normal range), NaN for NaN. Uses the locals given.
 */
function expCode(Z: number, N: number, R: number, P: number): Code {
  const ln2Hi = Math.round(Math.LN2 * 512) / 512; // 9 bits: n·ln2Hi is exact
  const ln2Lo = Math.LN2 - ln2Hi;
  const taylor = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040];
  const horner: Code = [...splat(taylor[7])];
  for (let i = 6; i >= 0; i--) horner.push(...I.get(R), ...I.f32x4Mul, ...splat(taylor[i]), ...I.f32x4Add);
  return [
    ...I.set(Z),
    ...I.get(Z), ...splat(Math.LOG2E), ...I.f32x4Mul, ...I.f32x4Nearest, ...I.set(N),
    ...I.get(Z), ...I.get(N), ...splat(ln2Hi), ...I.f32x4Mul, ...I.f32x4Sub, ...I.get(N), ...splat(ln2Lo), ...I.f32x4Mul, ...I.f32x4Sub, ...I.set(R),
    ...horner, ...I.set(P),
    // 2ⁿ: (n + 127) << 23 as float bits
    ...I.get(P), ...I.get(N), ...I.i32x4TruncSat, ...I.i32(127), ...I.i32x4Splat, ...I.i32x4Add, ...I.i32(23), ...I.i32x4Shl, ...I.f32x4Mul,
    // below −87.3: 0
    ...I.get(Z), ...splat(-87.3), ...I.f32x4Lt, ...I.andNot,
  ];
}

/** Softmax over rows of T (a multiple of 4) with the batch's additive key mask, dropout optional. */
function softmaxFunc(): Func {
  const f = new Func('softmax', [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [s, add, p, d, m, batches, rowsPerBatch, T] = Array.from({ length: 8 }, (_, i) => i);
  const [V, MAX, SUM, Z, N, R, P, INV] = Array.from({ length: 8 }, () => f.local(V128));
  const [row, k, addRow, pRow, rowBytes, mOn] = Array.from({ length: 6 }, () => f.local(I32));
  const [maxS, sumS] = [f.local(F32), f.local(F32)];
  const hmax = (v: number): Code => [
    ...I.get(v), ...I.f32x4Lane(0), ...I.get(v), ...I.f32x4Lane(1), ...I.f32Max,
    ...I.get(v), ...I.f32x4Lane(2), ...I.get(v), ...I.f32x4Lane(3), ...I.f32Max, ...I.f32Max,
  ];
  f.body = [
    ...I.get(T), ...I.i32(4), ...I.i32Mul, ...I.set(rowBytes),
    ...I.get(m), ...I.set(mOn),
    ...loop(batches, 1, [], 0, [
      ...I.get(rowsPerBatch), ...I.set(row),
      ...loop(row, 1, [], 0, [
        // pass 1: s + add into p; the max
        ...splat(-Infinity), ...I.set(MAX), ...I.get(T), ...I.set(k), ...I.get(add), ...I.set(addRow), ...I.get(p), ...I.set(pRow),
        ...loop(k, 4, [s, addRow, pRow], 16, [
          ...I.get(pRow), ...loadAt(s), ...loadAt(addRow), ...I.f32x4Add, ...I.tee(V), ...I.store,
          ...I.get(MAX), ...I.get(V), ...I.f32x4Max, ...I.set(MAX),
        ]),
        ...hmax(MAX), ...I.tee(maxS), ...I.f32x4Splat, ...I.set(MAX),
        // pass 2: e = exp(v − max) in p; the sum
        ...splat(0), ...I.set(SUM), ...I.get(T), ...I.set(k), ...I.get(p), ...I.set(pRow),
        ...loop(k, 4, [pRow], 16, [
          ...I.get(pRow), ...loadAt(pRow), ...I.get(MAX), ...I.f32x4Sub, ...expCode(Z, N, R, P), ...I.tee(V), ...I.store,
          ...I.get(SUM), ...I.get(V), ...I.f32x4Add, ...I.set(SUM),
        ]),
        ...I.f32(1), ...hsum(SUM), ...I.tee(sumS), ...I.f32Div, ...I.f32x4Splat, ...I.set(INV),
        // pass 3: p = e/Σ; d = p·m
        ...I.get(T), ...I.set(k),
        ...loop(k, 4, [p, d], 16, [
          ...I.get(p), ...loadAt(p), ...I.get(INV), ...I.f32x4Mul, ...I.tee(V), ...I.store,
          ...I.get(mOn), ...I.if, ...I.get(d), ...I.get(V), ...loadAt(m), ...I.f32x4Mul, ...I.store, ...advance(m, I.i32(16)), ...I.end,
        ]),
      ]),
      ...advance(add, I.get(rowBytes)),
    ]),
  ];
  void maxS;
  void sumS;
  return f;
}

/** out = t − p·Σt, t = dd·dr, over rows of T (a multiple of 4); t is kept in out between passes. */
function softmaxGradFunc(): Func {
  const f = new Func('softmaxGrad', [I32, I32, I32, I32, I32, I32]);
  const [dd, dr, p, out, rows, T] = Array.from({ length: 6 }, (_, i) => i);
  const [SUM, V] = [f.local(V128), f.local(V128)];
  const [k, outRow] = [f.local(I32), f.local(I32)];
  f.body = [
    ...loop(rows, 1, [], 0, [
      ...splat(0), ...I.set(SUM), ...I.get(T), ...I.set(k), ...I.get(out), ...I.set(outRow),
      ...loop(k, 4, [dd, dr, outRow], 16, [
        ...I.get(outRow), ...loadAt(dd), ...loadAt(dr), ...I.f32x4Mul, ...I.tee(V), ...I.store,
        ...I.get(SUM), ...I.get(V), ...I.f32x4Add, ...I.set(SUM),
      ]),
      ...hsum(SUM), ...I.f32x4Splat, ...I.set(SUM),
      ...I.get(T), ...I.set(k),
      ...loop(k, 4, [p, out], 16, [...I.get(out), ...loadAt(out), ...loadAt(p), ...I.get(SUM), ...I.f32x4Mul, ...I.f32x4Sub, ...I.store]),
    ]),
  ];
  return f;
}

/**
 * The embedding rows of each token: out[r] = words[ids[r]] + types[typeIds[r]] + positions[r mod T]
 * (grad false), or each table's row += ds[r] (grad true). H is a multiple of 4.
 */
function embeddingFunc(grad: boolean): Func {
  const f = new Func(grad ? 'embeddingGrad' : 'embeddingSum', [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  // sum: ids, typeIds, words, types, positions, out;  grad: ds, ids, typeIds, dWords, dTypes, dPositions
  const [ids, typeIds, words, types, positions, rowsP] = grad ? [1, 2, 3, 4, 5, 0] : [0, 1, 2, 3, 4, 5];
  const [N, T, H] = [6, 7, 8];
  const [r, k, w, t, p, rowBytes] = Array.from({ length: 6 }, () => f.local(I32));
  const D = f.local(V128);
  const rowOf = (table: number, index: Code) => [...I.get(table), ...index, ...I.get(rowBytes), ...I.i32Mul, ...I.i32Add];
  const addInto = (q: number) => [...I.get(q), ...loadAt(q), ...I.get(D), ...I.f32x4Add, ...I.store];
  f.body = [
    ...I.get(H), ...I.i32(4), ...I.i32Mul, ...I.set(rowBytes),
    ...I.i32(0), ...I.set(r),
    ...loop(N, 1, [ids, typeIds], 4, [
      ...rowOf(words, [...I.get(ids), ...I.i32Load]), ...I.set(w),
      ...rowOf(types, [...I.get(typeIds), ...I.i32Load]), ...I.set(t),
      ...rowOf(positions, [...I.get(r), ...I.get(T), ...I.i32RemU]), ...I.set(p),
      ...I.get(H), ...I.set(k),
      ...(grad
        ? loop(k, 4, [rowsP, w, t, p], 16, [...loadAt(rowsP), ...I.set(D), ...addInto(w), ...addInto(t), ...addInto(p)])
        : loop(k, 4, [rowsP, w, t, p], 16, [...I.get(rowsP), ...loadAt(w), ...loadAt(t), ...I.f32x4Add, ...loadAt(p), ...I.f32x4Add, ...I.store])),
      ...I.get(r), ...I.i32(1), ...I.i32Add, ...I.set(r),
    ]),
  ];
  return f;
}

/**
 * Dropout masks (dropout.ts's `fillDropoutMask`): row r's mulberry32 stream starts at seeds[r]; the
 * lanes hold four consecutive draws (states seed + k·0x6d2b79f5), each deciding two elements by its
 * low and high 16 bits.
 */
function dropoutMaskFunc(): Func {
  const f = new Func('dropoutMask', [I32, I32, I32, I32, I32, F32]);
  const [seeds, out, rows, rowSize, threshold, keep] = [0, 1, 2, 3, 4, 5];
  const [STATE, STEP, T, LO, HI, THR, KEEP, MASK16] = Array.from({ length: 8 }, () => f.local(V128));
  const k = f.local(I32);
  const C = 0x6d2b79f5;
  const i32x4Const = (values: number[]) => simd(0x0c, ...new Uint8Array(Int32Array.from(values).buffer));
  const u32 = (v: number) => [...I.i32(v | 0), ...I.i32x4Splat];
  const shrXor = (bits: number) => [...I.get(T), ...I.get(T), ...I.i32(bits), ...I.i32x4ShrU, ...I.v128Xor]; // t ^ (t >>> bits)
  const keepOf = (half: number) => [...I.get(THR), ...I.get(half), ...I.i32x4Sub, ...I.i32(31), ...I.i32x4ShrU, ...I.f32x4ConvertI32, ...I.get(KEEP), ...I.f32x4Mul];
  f.body = [
    ...u32(4 * C), ...I.set(STEP),
    ...I.get(threshold), ...I.i32(1), ...I.i32Sub, ...I.i32x4Splat, ...I.set(THR),
    ...I.get(keep), ...I.f32x4Splat, ...I.set(KEEP),
    ...u32(0xffff), ...I.set(MASK16),
    ...loop(rows, 1, [seeds], 4, [
      ...I.get(seeds), ...I.i32Load, ...I.i32x4Splat, ...i32x4Const([C, 2 * C, 3 * C, 4 * C]), ...I.i32x4Add, ...I.set(STATE),
      ...I.get(rowSize), ...I.set(k),
      ...loop(k, 8, [out], 32, [
        // t = imul(s ^ (s >>> 15), s | 1)
        ...I.get(STATE), ...I.get(STATE), ...I.i32(15), ...I.i32x4ShrU, ...I.v128Xor, ...I.get(STATE), ...u32(1), ...I.v128Or, ...I.i32x4Mul, ...I.set(T),
        // t ^= t + imul(t ^ (t >>> 7), t | 61)
        ...I.get(T), ...I.get(T), ...shrXor(7), ...I.get(T), ...u32(61), ...I.v128Or, ...I.i32x4Mul, ...I.i32x4Add, ...I.v128Xor, ...I.set(T),
        // t ^= t >>> 14
        ...shrXor(14), ...I.set(T),
        ...I.get(T), ...I.get(MASK16), ...I.v128And, ...I.set(LO),
        ...I.get(T), ...I.i32(16), ...I.i32x4ShrU, ...I.set(HI),
        ...keepOf(LO), ...I.set(LO), ...keepOf(HI), ...I.set(HI),
        ...I.get(out), ...I.get(LO), ...I.get(HI), ...shuffle32(0, 4, 1, 5), ...I.store,
        ...I.get(out), ...I.i32(16), ...I.i32Add, ...I.get(LO), ...I.get(HI), ...shuffle32(2, 6, 3, 7), ...I.store,
        ...I.get(STATE), ...I.get(STEP), ...I.i32x4Add, ...I.set(STATE),
      ]),
    ]),
  ];
  return f;
}

const FLAGS = [false, true];
const LAYER_NORM_VARIANTS: LayerNormVariant[] = FLAGS.flatMap((mask) => FLAGS.flatMap((residual) => FLAGS.map((outMask) => ({ mask, residual, outMask }))));
const LAYER_NORM_GRAD_VARIANTS: LayerNormGradVariant[] = FLAGS.flatMap((outMask) => FLAGS.map((dx) => ({ outMask, dx })));

/** The module: its memory imported as env.memory, the functions exported by name. */
export function assemble(): { bytes: Uint8Array<ArrayBuffer>; names: { layerNorm(v: LayerNormVariant): string; layerNormGrad(v: LayerNormGradVariant): string } } {
  const funcs = [
    adamwFunc(),
    sumSquaresFunc(),
    scaleFunc(),
    geluFunc(false),
    geluFunc(true),
    softmaxFunc(),
    softmaxGradFunc(),
    embeddingFunc(false),
    embeddingFunc(true),
    dropoutMaskFunc(),
    ...LAYER_NORM_VARIANTS.map(layerNormFunc),
    ...LAYER_NORM_GRAD_VARIANTS.map(layerNormGradFunc),
  ];
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]]); // memory, limits: min 0, no max
  const functions = vec(funcs.map((_, i) => uleb(i)));
  const exports = vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const codes = vec(
    funcs.map((f) => {
      const locals = vec(f.locals.map((t) => [1, t])); // one entry per local: (count 1, type)
      const body = [...locals, ...f.body, ...I.end];
      return [...uleb(body.length), ...body];
    }),
  );
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, functions),
    ...section(7, exports),
    ...section(10, codes),
  ]);
  return { bytes, names: { layerNorm: layerNormName, layerNormGrad: layerNormGradName } };
}
