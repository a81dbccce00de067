"""Slow, obviously-correct twins of gnll's fast functions.

Everything here is written directly from the formulas of the Gaussian
negative log-likelihood, with no attempt at speed, and shares no code with
the library.  Values are computed in float64 (or ``np.longdouble`` where a
caller asks for it) on fully broadcast arrays.

The rules implemented (PyTorch's, plus gnll's documented extras):

* ``v = max(var, eps)`` with NaN propagating, ``r = input - target``;
* ``loss = 0.5 * (log(v) + r**2 / v)``, plus ``0.5 * log(2*pi)`` if ``full``;
* ``d/dinput = r / v``, ``d/dtarget = -r / v``,
  ``d/dvar = 0.5 * (1/v - r**2 / v**2)`` (straight through the clamp),
  divided by the number of elements for ``"mean"`` and multiplied by
  ``grad_output``; the gradient of a broadcast argument is summed back to the
  shape of that argument as it was passed.
* var's shape: same as input; or ``input.shape[:-1]`` (a trailing 1 is
  appended); or the same number of dimensions with size 1 wherever it differs
  from input; a Python float or a 0-d array is a scalar.
"""

import math

import numpy as np

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# 0.5*log(2*pi) to 40 digits (mpmath), so that longdouble references get it right too.
_HALF_LOG_2PI_STR = "0.9189385332046727417803297364056176398614"
REDUCTIONS = ("none", "mean", "sum")


class ShapeError(ValueError):
    """Raised by the reference for shapes the contract rejects."""


def _to_array(x):
    """Convert an argument to an ndarray, remembering whether it was a scalar."""
    return np.asarray(x)


def is_python_scalar(x):
    """True for Python (not NumPy-array) numbers: they never up-cast arrays."""
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def compute_dtype(*args):
    """The dtype gnll computes in, by the contract's rules, written plainly.

    float32 stays float32, float64 stays float64, ints and bools become
    float64, float16 becomes float32; mixed floats take the wider one; a
    Python scalar never up-casts an array.  Only the combinations that the
    tests use are covered (float16/32/64, ints, bools, Python scalars).
    """
    kinds = []
    for a in args:
        if is_python_scalar(a):
            continue
        dt = np.asarray(a).dtype
        if dt.kind in "fiu":
            dt = dt.newbyteorder("=")
        if dt == np.float64:
            kinds.append(64)
        elif dt == np.float32 or dt == np.float16:
            kinds.append(32)
        elif dt.kind in "biu":
            kinds.append(64)
        else:
            raise TypeError(f"reference does not handle dtype {dt}")
    if not kinds:
        return np.dtype(np.float64)
    return np.dtype(np.float64) if max(kinds) == 64 else np.dtype(np.float32)


def aligned_var_shape(input_shape, var_shape):
    """Return var's shape with the "one fewer dimension" rule applied.

    Raises ShapeError for anything the contract rejects.  A 0-d var is a
    scalar and broadcasts against any input.
    """
    input_shape = tuple(input_shape)
    var_shape = tuple(var_shape)
    if var_shape == ():
        return ()
    if var_shape == input_shape:
        return var_shape
    if len(input_shape) >= 1 and var_shape == input_shape[:-1]:
        return var_shape + (1,)
    if len(var_shape) == len(input_shape):
        ok = True
        for vi, ii in zip(var_shape, input_shape):
            if vi != ii and vi != 1:
                ok = False
        if ok:
            return var_shape
    raise ShapeError(f"var is of incorrect size: var {var_shape}, input {input_shape}")


def broadcast_shape(input_shape, target_shape, var_shape):
    """The shape of the unreduced loss."""
    aligned = aligned_var_shape(input_shape, var_shape)
    # NumPy right-aligned broadcasting, written out by hand.
    shapes = [tuple(input_shape), tuple(target_shape), aligned]
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(ndim):
        size = 1
        for s in shapes:
            padded = (1,) * (ndim - len(s)) + s
            d = padded[k]
            if d == 1:
                continue
            if size == 1:
                size = d
            elif size != d:
                raise ShapeError(f"shapes {shapes} do not broadcast")
        out.append(size)
    return tuple(out)


def _prepare(input, target, var, dtype=np.float64):
    x = np.array(_to_array(input), dtype=dtype)
    t = np.array(_to_array(target), dtype=dtype)
    v = np.array(_to_array(var), dtype=dtype)
    shape = broadcast_shape(x.shape, t.shape, v.shape)
    v_al = v.reshape(aligned_var_shape(x.shape, v.shape))
    X = np.broadcast_to(x, shape)
    T = np.broadcast_to(t, shape)
    V = np.broadcast_to(v_al, shape)
    return x, t, v, X, T, V, shape


def _clamp(V, eps):
    # max(v, eps) with NaN propagating (np.maximum propagates NaN).
    return np.maximum(V, np.asarray(eps, dtype=V.dtype))


def elementwise_loss(input, target, var, full=False, eps=1e-6, dtype=np.float64):
    """Unreduced loss on the broadcast shape, computed in ``dtype``."""
    _, _, _, X, T, V, _ = _prepare(input, target, var, dtype)
    v = _clamp(V, eps)
    r = X - T
    with np.errstate(all="ignore"):
        loss = 0.5 * (np.log(v) + r * r / v)
    if full:
        loss = loss + dtype(_HALF_LOG_2PI_STR)
    return loss


def reference_loss(input, target, var, full=False, eps=1e-6, reduction="mean",
                   dtype=np.float64):
    """The Gaussian NLL loss, straight from the formula.

    Returns a float64 ndarray for ``"none"`` and a Python-float-like
    ``np.float64`` for ``"mean"``/``"sum"`` (sum computed exactly with
    ``math.fsum`` of the float64 terms, so the only error is in the terms).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not valid")
    loss = elementwise_loss(input, target, var, full, eps, dtype)
    if reduction == "none":
        return loss
    flat = np.asarray(loss, dtype=np.float64).ravel().tolist()
    if any(math.isnan(a) for a in flat):
        total = math.nan
    elif any(math.isinf(a) for a in flat):
        total = sum(flat)  # inf, or nan for inf - inf
    else:
        total = math.fsum(flat)
    if reduction == "sum":
        return np.float64(total)
    n = loss.size
    return np.float64(total / n) if n else np.float64(math.nan)


def sum_to_shape(g, passed_shape, aligned_shape):
    """Sum a broadcast gradient back to an argument's shape as passed."""
    g = np.asarray(g)
    aligned_shape = tuple(aligned_shape)
    lead = g.ndim - len(aligned_shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(k for k, d in enumerate(aligned_shape) if d == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(tuple(passed_shape))


def reference_grads(input, target, var, full=False, eps=1e-6, reduction="mean",
                    grad_output=None, dtype=np.float64):
    """Gradients ``(d/dinput, d/dtarget, d/dvar)`` straight from the formula.

    Each has the shape of its argument as passed (a Python float or 0-d
    array gives a 0-d gradient).  ``full`` does not change the gradients.
    """
    x, t, v, X, T, V, shape = _prepare(input, target, var, dtype)
    vc = _clamp(V, eps)
    r = X - T
    with np.errstate(all="ignore"):
        gx = r / vc
        gt = -r / vc
        gv = 0.5 * (1.0 / vc - r * r / (vc * vc))
    n = int(np.prod(shape, dtype=np.int64))
    if reduction == "mean":
        scale = np.asarray(1.0 if grad_output is None else grad_output, dtype=dtype)
        with np.errstate(all="ignore"):
            scale = scale / dtype(n) if n else scale * dtype(math.nan)
    elif reduction == "sum":
        scale = np.asarray(1.0 if grad_output is None else grad_output, dtype=dtype)
    elif reduction == "none":
        scale = np.broadcast_to(
            np.asarray(1.0 if grad_output is None else grad_output, dtype=dtype), shape)
    else:
        raise ValueError(f"{reduction} is not valid")
    with np.errstate(all="ignore"):
        gx, gt, gv = gx * scale, gt * scale, gv * scale
    v_al = aligned_var_shape(x.shape, v.shape)
    return (sum_to_shape(gx, x.shape, x.shape),
            sum_to_shape(gt, t.shape, t.shape),
            sum_to_shape(gv, v.shape, v_al))


def loss_magnitude(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """A bound on the size of the terms that make up the loss.

    Used for error bounds: rounding errors are relative to the size of the
    parts being added (``|log v|`` and ``r**2/v``), not to their sum, which
    may cancel.  Same shape conventions as :func:`reference_loss`.
    """
    _, _, _, X, T, V, _ = _prepare(input, target, var)
    v = _clamp(V, eps)
    r = X - T
    with np.errstate(all="ignore"):
        mag = 0.5 * (np.abs(np.log(v)) + r * r / v) + (HALF_LOG_2PI if full else 0.0)
    if reduction == "none":
        return mag
    if reduction == "sum":
        return float(mag.sum())
    return float(mag.sum() / mag.size) if mag.size else math.nan


def grad_magnitudes(input, target, var, eps=1e-6, reduction="mean", grad_output=None):
    """Bounds on the size of the parts of each gradient (see loss_magnitude)."""
    x, t, v, X, T, V, shape = _prepare(input, target, var)
    vc = _clamp(V, eps)
    r = X - T
    with np.errstate(all="ignore"):
        gx = np.abs(r / vc)
        gv = 0.5 * (1.0 / vc + r * r / (vc * vc))
    n = int(np.prod(shape, dtype=np.int64))
    g = 1.0 if grad_output is None else grad_output
    if reduction == "none":
        scale = np.abs(np.broadcast_to(np.asarray(g, dtype=np.float64), shape))
    else:
        scale = abs(float(g)) / (n if reduction == "mean" and n else 1)
    v_al = aligned_var_shape(x.shape, v.shape)
    return (sum_to_shape(gx * scale, x.shape, x.shape),
            sum_to_shape(gx * scale, t.shape, t.shape),
            sum_to_shape(gv * scale, v.shape, v_al))


def numerical_derivative(f, x, h):
    """Fourth-order central difference of the scalar function ``f`` at ``x``."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


def numerical_gradient(f, arr, h=1e-4):
    """Gradient of ``f(arr)`` (a scalar) w.r.t. every entry of ``arr`` (float64).

    Each entry is perturbed in a fresh copy, so ``f`` never sees an aliased
    array.  Returns an array of ``arr``'s shape.
    """
    arr = np.array(arr, dtype=np.float64)
    grad = np.empty_like(arr)
    for idx in np.ndindex(arr.shape):
        def fi(val, idx=idx):
            a = arr.copy()
            a[idx] = val
            return float(f(a))
        step = h * max(1.0, abs(arr[idx]))
        grad[idx] = numerical_derivative(fi, arr[idx], step)
    return grad


# ---------------------------------------------------------------------------
# Assertion helpers shared by the tests (they only compare; no library code).
# ---------------------------------------------------------------------------

def _eps_of(dtype):
    return float(np.finfo(dtype).eps)


def loss_tolerance(input, target, var, full, eps, reduction, dtype, k=4.0):
    """Absolute error allowed for gnll's loss computed in ``dtype``.

    Each element may be off by ``k`` units of ``dtype``'s epsilon relative to
    the size of its parts; a float64 reduction may add a summation error of
    order ``sqrt(N)`` epsilons of the summed magnitudes (float32 sums
    accumulate in float64, so they add nothing visible).
    """
    mag = loss_magnitude(input, target, var, full, eps, reduction)
    e = _eps_of(dtype)
    if reduction == "none":
        return k * e * mag
    n = int(np.prod(broadcast_shape(np.shape(input), np.shape(target), np.shape(var))))
    extra = 2.0 * math.sqrt(max(n, 1)) if np.dtype(dtype) == np.float64 else 1.0
    return (k + extra) * e * mag


def assert_loss_matches(actual, input, target, var, full=False, eps=1e-6, reduction="mean",
                        dtype=None, k=4.0):
    """Compare a gnll loss to the reference within a principled tolerance."""
    if dtype is None:
        dtype = compute_dtype(input, target, var)
    expected = reference_loss(input, target, var, full, eps, reduction)
    tol = loss_tolerance(input, target, var, full, eps, reduction, dtype, k)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == np.shape(expected), (actual.shape, np.shape(expected))
    exp = np.asarray(expected)
    both_nan = np.isnan(actual) & np.isnan(exp)
    same_inf = np.isinf(exp) & (actual == exp)
    with np.errstate(invalid="ignore"):
        ok = both_nan | same_inf | (np.abs(actual - exp) <= tol)
    if not np.all(ok):
        bad = np.argwhere(~np.asarray(ok))[:5]
        raise AssertionError(
            f"loss mismatch ({reduction}, {np.dtype(dtype)}): max err "
            f"{np.nanmax(np.abs(actual - exp))!r}, tol {np.max(tol)!r}; first bad "
            f"indices {bad.tolist()}; actual {actual.ravel()[:5]}, expected {exp.ravel()[:5]}")


def assert_grads_match(grads, input, target, var, eps=1e-6, reduction="mean",
                       grad_output=None, dtype=None, k=4.0, wrt=("input", "target", "var")):
    """Compare gnll's Grads to the reference (None for fields not in wrt)."""
    if dtype is None:
        dtype = compute_dtype(input, target, var)
    expected = reference_grads(input, target, var, False, eps, reduction, grad_output)
    mags = grad_magnitudes(input, target, var, eps, reduction, grad_output)
    e = _eps_of(dtype)
    for name, got, exp, mag, arg in zip(("input", "target", "var"), grads, expected, mags,
                                        (input, target, var)):
        if name not in wrt:
            assert got is None, f"grad {name} should be None when not in wrt"
            continue
        assert got is not None, f"grad {name} missing"
        # (whether a 0-d gradient is an ndarray or a NumPy scalar is checked
        # separately, in test_gradients.py::test_zero_d_gradients_are_arrays)
        assert isinstance(got, (np.ndarray, np.generic)), f"grad {name} is {type(got)}"
        assert got.shape == np.shape(arg), f"grad {name} shape {got.shape} != {np.shape(arg)}"
        assert got.dtype == dtype, f"grad {name} dtype {got.dtype} != {np.dtype(dtype)}"
        # Summation over broadcast dims: allow sqrt(#summed) extra epsilons.
        n_total = int(np.prod(broadcast_shape(np.shape(input), np.shape(target),
                                              np.shape(var))))
        n_summed = max(1, n_total // max(1, int(np.prod(np.shape(arg), dtype=np.int64))))
        tol = (k + 2.0 * math.sqrt(n_summed)) * e * mag
        g = np.asarray(got, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok = (np.isnan(g) & np.isnan(exp)) | (g == exp) | (np.abs(g - exp) <= tol)
        if not np.all(ok):
            raise AssertionError(
                f"grad {name} mismatch ({reduction}, {np.dtype(dtype)}): max err "
                f"{np.nanmax(np.abs(g - exp))!r}, max tol {np.max(tol)!r}; "
                f"got {g.ravel()[:5]}, expected {np.asarray(exp).ravel()[:5]}")


LAYOUTS = ("C", "F", "strided", "negstride", "byteswap", "readonly", "unaligned")


def with_layout(a, layout):
    """An array equal to ``a`` (same values and dtype) in the given memory layout."""
    a = np.asarray(a)
    if a.ndim == 0 and layout in ("C", "F", "strided", "negstride"):
        # no strides to play with (and np.ascontiguousarray would make it 1-d)
        return a.copy()
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * d + 1 for d in a.shape), dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "negstride":
        rev = tuple(slice(None, None, -1) for _ in a.shape)
        return a[rev].copy()[rev]
    if layout == "byteswap":
        if a.dtype.itemsize == 1:
            return a.copy()
        return a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder in "=<|" else "<"))
    if layout == "unaligned":
        # data starting one byte past an aligned address (NumPy's flags.aligned False)
        if a.dtype.itemsize == 1:
            return a.copy()
        buf = bytearray(a.nbytes + 1)
        u = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
        u[...] = a
        return u
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    raise ValueError(layout)
