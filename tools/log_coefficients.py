"""Derive the constants of gnll's AVX-512 logs (``gnll_log8`` and
``gnll_logf16`` in ``src/gnll/_kernels.c``).

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

The float version (``gnll_logf16``) uses the same reduction with the table
on the 2^-16 grid (e has at most 8 bits there, so e ln2hi + hi is exact
below 2^7), ln2hi to 16 bits, its remainders rounded to float, and P of
degree 3; all rounded to float.

Run: ``python tools/log_coefficients.py`` (needs mpmath and numpy).
"""
import mpmath as mp
import numpy as np

mp.mp.prec = 200
R_MAX = mp.mpf("0.044")


def tail(r):
    """(log1p(r) - r + r^2/2) / r^3, from its series near 0."""
    if abs(r) < mp.mpf(2) ** -40:
        return mp.mpf(1) / 3 - r / 4 + r * r / 5
    return (mp.log1p(r) - r + r * r / 2) / r**3


def interpolant(degree):
    nodes = [R_MAX * mp.cos(mp.pi * (2 * j + 1) / (2 * (degree + 1)))
             for j in range(degree + 1)]
    a = mp.matrix([[x**i for i in range(degree + 1)] for x in nodes])
    b = mp.matrix([tail(x) for x in nodes])
    return list(mp.lu_solve(a, b))


def on_grid(value, exponent):
    """value rounded to a multiple of 2^exponent."""
    return float(mp.nint(value * mp.mpf(2) ** -exponent) * mp.mpf(2) ** exponent)


def constants(dtype, grid, ln2_grid, degree):
    """Print the table, ln2 and P for one storage type."""
    def rounded(value):
        return float(dtype(float(value)))

    def text(value):
        return value.hex() if dtype is np.float64 else _float_hex(value)

    name = np.dtype(dtype).name
    table = {}
    for k in range(11, 22):
        exact = mp.log(mp.mpf(16) / k)
        hi = on_grid(exact, grid)
        assert rounded(hi) == hi
        table[k % 16] = (hi, rounded(exact - mp.mpf(hi)))
    for part, label in ((0, "hi"), (1, "lo")):
        row = [table.get(i, (0.0, 0.0))[part] for i in range(16)]
        print(f"{name}: log(16/k) {label}, index k mod 16:")
        for i in range(0, 16, 4):
            print("    " + ", ".join(text(x) for x in row[i:i + 4]))
    ln2 = mp.log(2)
    ln2hi = on_grid(ln2, ln2_grid)
    print(f"{name}: ln2hi = {text(ln2hi)}, "
          f"ln2lo = {text(rounded(ln2 - mp.mpf(ln2hi)))}")
    coeffs = [rounded(c) for c in interpolant(degree)]
    grid_r = [R_MAX * mp.mpf(i) / 4000 for i in range(-4000, 4001) if i]
    err = max(abs(x**3 * (sum(mp.mpf(c) * x**i for i, c in enumerate(coeffs))
                          - tail(x))) / abs(x) for x in grid_r)
    bits = 53 if dtype is np.float64 else 24
    print(f"{name}: P, degree {degree}: |r^3 (P - exact)| / |r| <= "
          f"{mp.nstr(err, 3)} ({mp.nstr(err * mp.mpf(2) ** bits, 3)} ulp "
          f"of r at most)")
    for i, c in enumerate(coeffs):
        print(f"    c{i} = {text(c)}")


def main():
    constants(np.float64, -43, -41, 7)
    constants(np.float32, -16, -16, 3)


def _float_hex(c):
    """A float32 value as a short C hex literal (its 24-bit significand)."""
    if c == 0.0:
        return "0.0f"
    sign = "-" if c < 0 else ""
    mantissa, exponent = abs(c).hex()[4:].split("p")
    return f"{sign}0x1.{mantissa.rstrip('0') or '0'}p{exponent}f"


if __name__ == "__main__":
    main()
