/**
 * Gauss–Legendre quadrature on [0, 1]: the n nodes and weights that integrate polynomials up to
 * degree 2n−1 exactly. Integrated Gradients' path integral is smooth in α, so this converges in far
 * fewer steps than the Riemann sums of the paper (Captum uses it too). Written by hand: the usual
 * Newton iteration on the Legendre polynomial P_n, from the Chebyshev guesses.
 */
export interface Quadrature {
  nodes: number[];
  weights: number[];
}

export function gaussLegendre(n: number): Quadrature {
  if (!Number.isInteger(n) || n < 1) throw new Error(`gaussLegendre: ${n} is not a number of nodes`);
  const nodes: number[] = [];
  const weights: number[] = [];
  for (let i = 1; i <= n; i++) {
    let x = Math.cos((Math.PI * (i - 0.25)) / (n + 0.5));
    let derivative = 1;
    for (let iteration = 0; iteration < 100; iteration++) {
      const [p, dp] = legendre(n, x);
      derivative = dp;
      const dx = p / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    derivative = legendre(n, x)[1];
    // from [−1, 1] to [0, 1]
    nodes.push((1 - x) / 2);
    weights.push(1 / ((1 - x * x) * derivative * derivative));
  }
  return { nodes, weights };
}

/** P_n(x) and P_n'(x) by the three-term recurrence. */
function legendre(n: number, x: number): [number, number] {
  let previous = 1;
  let current = x;
  for (let k = 2; k <= n; k++) [previous, current] = [current, ((2 * k - 1) * x * current - (k - 1) * previous) / k];
  const derivative = n === 1 ? 1 : (n * (x * current - previous)) / (x * x - 1);
  return [n === 1 ? x : current, derivative];
}
