/**
 * Returns erf(x) in float64 with a relative error near 1e-15: the Maclaurin series for
 * |x| < 3 and a continued fraction for erfc beyond, so the `js` oracle's GELU is exact to
 * float32 rounding after the final cast.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (ax >= 6) return Math.sign(x);

  if (ax < 3) {
    // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 120; n++) {
      term *= -x2 / n;
      const delta = term / (2 * n + 1);
      sum += delta;
      if (Math.abs(delta) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }

  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated from the tail.
  let fraction = ax;
  for (let n = 60; n >= 1; n--) fraction = ax + n / 2 / fraction;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / fraction;
  return Math.sign(x) * (1 - erfc);
}

/** Returns GELU(x) = 0.5·x·(1 + erf(x/√2)) in float64. */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}
