// Summaries of a soak's memory samples, shared by soak-train.mjs and soak-predict.mjs.

/** The rise of the least-squares line of `y` over `x` through `points`, from the first point's x to the last's. */
export function fittedRise(points, x, y) {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[x], 0) / n;
  const my = points.reduce((a, p) => a + p[y], 0) / n;
  const sxx = points.reduce((a, p) => a + (p[x] - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p[x] - mx) * (p[y] - my), 0);
  return sxx === 0 ? 0 : (sxy / sxx) * (points.at(-1)[x] - points[0][x]);
}

/** One decimal. */
export function round(x) {
  return Math.round(x * 10) / 10;
}
