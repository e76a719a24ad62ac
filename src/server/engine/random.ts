/**
 * A small seeded random number generator (mulberry32), so that shuffles and initialisation repeat
 * exactly for the same seed. Hand-written: four lines, where a dependency would add nothing.
 */
export class Random {
  constructor(private state: number) {
    this.state = state >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** A seed derived from a base seed and some counters (epoch, step), for reproducible streams. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  return parts.reduce((h, part) => mix32((Math.imul(h, 31) + part + 0x9e3779b9) >>> 0), mix32(seed >>> 0));
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
