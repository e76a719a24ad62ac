import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random, deriveSeed } from '../../../src/server/engine/random';

test('the seeded generator gives the same numbers on every run and machine', () => {
  const random = new Random(42);
  assert.deepEqual([random.next(), random.next(), random.next()].map((v) => v.toFixed(6)), ['0.601104', '0.448291', '0.852466']);
  assert.deepEqual(new Random(1).shuffle([1, 2, 3, 4, 5]), new Random(1).shuffle([1, 2, 3, 4, 5]));
  assert.notDeepEqual(new Random(1).shuffle([...Array(20).keys()]), new Random(2).shuffle([...Array(20).keys()]));
});

test('derived seeds differ by every part and repeat for the same parts', () => {
  assert.equal(deriveSeed(42, 1, 7), deriveSeed(42, 1, 7));
  const seeds = new Set([deriveSeed(42, 1, 7), deriveSeed(42, 1, 8), deriveSeed(42, 2, 7), deriveSeed(43, 1, 7)]);
  assert.equal(seeds.size, 4);
});
