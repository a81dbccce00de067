"""Derive the coefficients of gnll's exps (``gnll_exp_poly``,
``gnll_expf_poly`` and the AVX-512 path's ``gnll_exp8`` in
``src/gnll/_kernels.c``).

exp(f) on [-ln2/2, ln2/2] is replaced by the polynomial that interpolates it
at the Chebyshev nodes of the interval (close to the minimax polynomial),
solved for in 200-bit arithmetic and rounded to the storage type.  The
script prints the C literals and the interpolant's relative error on a
dense grid, before and after rounding the coefficients.  The C code takes
the leading coefficients as exact constants (1, 1, and 1/2 in float); the
script checks that they round to those.

``gnll_exp8`` reduces by ln2/16 instead (|f| <= ln2/32) and writes
e^f = 1 + f + f^2 Q(f), Q the degree-5 interpolant of (e^f - 1 - f) / f^2 on
[-ln2/32, ln2/32] (a hair wider, for the rounding of k); the script also
prints 2^(j/16) for j = 0..15 as a double plus the rest, and ln2/16 in a
29-bit part (so that k times it is exact for |k| < 2^15) plus the rest.

Run: ``python tools/exp_coefficients.py`` (needs mpmath and numpy).
"""
import mpmath as mp
import numpy as np

mp.mp.prec = 200
HALF_LN2 = mp.log(2) / 2


def interpolant(degree):
    """Monomial coefficients c[0..degree] of the Chebyshev interpolant."""
    nodes = [HALF_LN2 * mp.cos(mp.pi * (2 * j + 1) / (2 * (degree + 1)))
             for j in range(degree + 1)]
    a = mp.matrix([[x**i for i in range(degree + 1)] for x in nodes])
    b = mp.matrix([mp.exp(x) for x in nodes])
    return list(mp.lu_solve(a, b))


def q_of(f):
    """(e^f - 1 - f) / f^2, from its series near 0."""
    if abs(f) < mp.mpf(2) ** -40:
        return mp.mpf(1) / 2 + f / 6 + f * f / 24
    return (mp.exp(f) - 1 - f) / f**2


def table_exp_constants():
    """The AVX-512 exp's Q, table and ln2/16 split."""
    half_width = mp.log(2) / 32 * mp.mpf("1.0001")
    degree = 5
    nodes = [half_width * mp.cos(mp.pi * (2 * j + 1) / (2 * (degree + 1)))
             for j in range(degree + 1)]
    a = mp.matrix([[x**i for i in range(degree + 1)] for x in nodes])
    q = [float(c) for c in mp.lu_solve(a, mp.matrix([q_of(x) for x in nodes]))]
    grid = [half_width * mp.mpf(i) / 2000 for i in range(-2000, 2001) if i]
    err = max(abs(x * x * (sum(mp.mpf(c) * x**i for i, c in enumerate(q))
                           - q_of(x))) / mp.exp(x) for x in grid)
    print(f"gnll_exp8: Q, degree {degree}: relative error of e^f "
          f"{mp.nstr(err, 3)}")
    for i, c in enumerate(q):
        print(f"    q{i} = {c.hex()}")
    print("gnll_exp8: 2^(j/16) = hi + lo, j = 0..15:")
    for j in range(16):
        exact = mp.mpf(2) ** (mp.mpf(j) / 16)
        hi = float(exact)
        print(f"    {hi.hex()}  {float(exact - mp.mpf(hi)).hex()}")
    ln2_16 = mp.log(2) / 16
    hi = float(mp.nint(ln2_16 * mp.mpf(2) ** 33) / mp.mpf(2) ** 33)
    print(f"gnll_exp8: 16/ln2 = {float(1 / ln2_16).hex()}, ln2/16 = "
          f"{hi.hex()} + {float(ln2_16 - mp.mpf(hi)).hex()}")


def max_rel_error(coeffs):
    grid = [HALF_LN2 * mp.mpf(i) / 2000 for i in range(-2000, 2001)]
    return max(abs(sum(c * x**i for i, c in enumerate(coeffs)) / mp.exp(x) - 1)
               for x in grid)


def main():
    for dtype, degree, suffix in ((np.float64, 11, ""), (np.float32, 6, "f")):
        exact = interpolant(degree)
        rounded = [float(dtype(float(c))) for c in exact]
        # the C code writes exp(f) = 1 + f + f^2 P(f) (and, in float,
        # P(0) = 1/2): the leading coefficients must round to these
        assert rounded[:2] == [1.0, 1.0], rounded[:2]
        assert dtype is np.float64 or rounded[2] == 0.5, rounded[2]
        print(f"{np.dtype(dtype).name}, degree {degree}: relative error "
              f"{mp.nstr(max_rel_error(exact), 3)} exact, "
              f"{mp.nstr(max_rel_error([mp.mpf(c) for c in rounded]), 3)} rounded")
        for i, c in enumerate(rounded):
            text = c.hex() if dtype is np.float64 else _float_hex(c)
            print(f"    c{i} = {text}{suffix}")
    table_exp_constants()


def _float_hex(c):
    """A float32 value as a short C hex literal (its 24-bit significand)."""
    mantissa, exponent = c.hex()[4:].split("p")
    return f"0x1.{mantissa.rstrip('0') or '0'}p{exponent}"


if __name__ == "__main__":
    main()
