"""Derive the coefficients of gnll's table-free exp (``gnll_exp_poly`` and
``gnll_expf_poly`` in ``src/gnll/_kernels.c``).

exp(f) on [-ln2/2, ln2/2] is replaced by the polynomial that interpolates it
at the Chebyshev nodes of the interval (close to the minimax polynomial),
solved for in 200-bit arithmetic and rounded to the storage type.  The
script prints the C literals and the interpolant's relative error on a
dense grid, before and after rounding the coefficients.  The C code takes
the leading coefficients as exact constants (1, 1, and 1/2 in float); the
script checks that they round to those.

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


def _float_hex(c):
    """A float32 value as a short C hex literal (its 24-bit significand)."""
    mantissa, exponent = c.hex()[4:].split("p")
    return f"0x1.{mantissa.rstrip('0') or '0'}p{exponent}"


if __name__ == "__main__":
    main()
