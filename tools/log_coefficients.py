"""Derive the constants of gnll's AVX-512 log (``gnll_log8`` in
``src/gnll/_kernels.c``).

The kernel writes x = 2^e m with m in [0.75, 1.5) (vgetmantpd, vgetexppd),
rounds an approximate 1/m (vrcp14pd, relative error below 2^-14) to a
multiple of 1/16, invc = k/16 with k in 11..21, and evaluates

    log x = e ln2 + log(1/invc) + log1p(r),    r = m invc - 1 (exact),

where |r| <= 0.5/(k - 0.5) (the largest, k = 12 with m < 1.5 cut at
1.3913: 0.04348) plus the reciprocal's slack, so |r| < 0.044.

This script prints:

* log(1/invc) = log(16/k) for the 11 values of k, split into a part on the
  2^-43 grid (so that e ln2hi + hi is exact for every exponent e) and the
  rest in double, in the order of the permute's index k mod 16;
* ln2hi (ln 2 to 41 bits, so that e ln2hi is exact for |e| <= 2^11) and
  ln2lo;
* the coefficients of P with log1p(r) = r - r^2/2 + r^3 P(r), the degree-7
  polynomial that interpolates (log1p(r) - r + r^2/2) / r^3 at the Chebyshev
  nodes of [-0.044, 0.044], solved for in 200-bit arithmetic, and the error
  of r^3 P relative to |r| after rounding the coefficients to double.

Run: ``python tools/log_coefficients.py`` (needs mpmath).
"""
import mpmath as mp

mp.mp.prec = 200
R_MAX = mp.mpf("0.044")
DEGREE = 7


def tail(r):
    """(log1p(r) - r + r^2/2) / r^3, from its series near 0."""
    if abs(r) < mp.mpf(2) ** -40:
        return mp.mpf(1) / 3 - r / 4 + r * r / 5
    return (mp.log1p(r) - r + r * r / 2) / r**3


def interpolant():
    nodes = [R_MAX * mp.cos(mp.pi * (2 * j + 1) / (2 * (DEGREE + 1)))
             for j in range(DEGREE + 1)]
    a = mp.matrix([[x**i for i in range(DEGREE + 1)] for x in nodes])
    b = mp.matrix([tail(x) for x in nodes])
    return list(mp.lu_solve(a, b))


def on_grid(value, exponent):
    """value rounded to a multiple of 2^exponent."""
    return float(mp.nint(value * mp.mpf(2) ** -exponent) * mp.mpf(2) ** exponent)


def main():
    table = {}
    for k in range(11, 22):
        exact = mp.log(mp.mpf(16) / k)
        hi = on_grid(exact, -43)
        table[k % 16] = (hi, float(exact - mp.mpf(hi)))
    for part, name in ((0, "hi"), (1, "lo")):
        row = [table.get(i, (0.0, 0.0))[part] for i in range(16)]
        print(f"log(16/k) {name}, index k mod 16:")
        for i in range(0, 16, 4):
            print("    " + ", ".join(x.hex() for x in row[i:i + 4]))
    ln2 = mp.log(2)
    ln2hi = on_grid(ln2, -41)
    print(f"ln2hi = {ln2hi.hex()}, ln2lo = {float(ln2 - mp.mpf(ln2hi)).hex()}")
    coeffs = [float(c) for c in interpolant()]
    grid = [R_MAX * mp.mpf(i) / 4000 for i in range(-4000, 4001) if i]
    err = max(abs(x**3 * (sum(mp.mpf(c) * x**i for i, c in enumerate(coeffs))
                          - tail(x))) / abs(x) for x in grid)
    print(f"P, degree {DEGREE}: |r^3 (P - exact)| / |r| <= {mp.nstr(err, 3)} "
          f"({mp.nstr(err * mp.mpf(2) ** 53, 3)} ulp of r at most)")
    for i, c in enumerate(coeffs):
        print(f"    c{i} = {c.hex()}")


if __name__ == "__main__":
    main()
