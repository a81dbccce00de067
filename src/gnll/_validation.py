"""Argument checking and shape rules, with PyTorch's semantics and messages.

Everything here is cheap and runs before any kernel: dtype choice, the
``var`` shape rule, broadcasting of ``target`` and the checks of the scalar
options.  The elementwise negative-``var`` check is done by the kernels
themselves (it costs nothing there); :func:`raise_first_error` repeats it
with NumPy only when another error must be reported, so that the order of
errors is torch's: negative var, then var's shape, then the reduction.
"""
import numbers
import operator

import numpy as np

REDUCTIONS = ("none", "mean", "sum")
GRAD_NAMES = ("input", "target", "var")

# Python scalars are "weak" in NumPy's promotion: a float never up-casts.
_PY_SCALARS = (float, int, bool)


def check_reduction(reduction):
    """Raise torch's ValueError unless `reduction` is 'none', 'mean' or 'sum'."""
    if not (isinstance(reduction, str) and reduction in REDUCTIONS):
        raise ValueError(
            f"{reduction} is not valid: reduction must be one of "
            "'none', 'mean' or 'sum'"
        )


def as_operand(value, name):
    """`value` as an ndarray (or a Python scalar, kept weak), or TypeError."""
    if type(value) in _PY_SCALARS:
        return value
    if isinstance(value, complex):
        raise TypeError(f"{name} is complex; gnll supports real inputs only")
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind in "fiub":
        if kind == "f" and array.dtype.itemsize > 8:
            raise TypeError(
                f"{name} has dtype {array.dtype}: extended precision is not "
                "supported, convert it to float64"
            )
        return array
    if kind == "c":
        raise TypeError(
            f"{name} has complex dtype {array.dtype}; gnll supports real "
            "(float, integer or bool) inputs only"
        )
    raise TypeError(
        f"{name} has unsupported dtype {array.dtype}; expected a real "
        "numeric array (float32, float64, integer or bool)"
    )


def compute_dtype(*operands):
    """float32 or float64: NumPy's promotion of the operands, then
    integers and bools -> float64 and float16 -> float32."""
    dtype = np.result_type(*operands)
    if dtype.kind != "f":
        return np.dtype(np.float64)
    if dtype.itemsize < 4:
        return np.dtype(np.float32)
    return dtype


def shape_of(operand):
    return operand.shape if isinstance(operand, np.ndarray) else ()


def is_scalar_var(var):
    """A Python number or a 0-d array: one variance for every element."""
    return not isinstance(var, np.ndarray) or var.ndim == 0


def var_shape(input_shape, shape):
    """The shape `var` is used with: torch's rule, plus any number of size-1
    dimensions.  Raises ValueError("var is of incorrect size ...")."""
    if shape == input_shape:
        return shape
    # One dimension fewer: var applies along the input's last dimension,
    # checked first as torch does (a (D,) var on a (D, D) input is per row).
    if input_shape and input_shape[:-1] == shape:
        return shape + (1,)
    if len(shape) == len(input_shape) and all(
        v == i or v == 1 for i, v in zip(input_shape, shape)
    ):
        return shape
    raise ValueError(
        f"var is of incorrect size: var has shape {shape} and input has shape "
        f"{input_shape}; var must have the input's shape, the input's shape "
        "with some dimensions equal to 1, the input's shape without its last "
        "dimension, or be a scalar"
    )


def broadcast_shape(input_shape, target_shape, var_shape_):
    try:
        shape = np.broadcast_shapes(input_shape, target_shape)
    except ValueError:
        raise ValueError(
            f"target with shape {target_shape} cannot be broadcast against "
            f"input with shape {input_shape}"
        ) from None
    return np.broadcast_shapes(shape, var_shape_)


def check_var_sign(var):
    """ValueError if any entry of `var` (array or number) is negative."""
    negative = var < 0 if type(var) in _PY_SCALARS else np.any(var < 0)
    if negative:
        raise ValueError("var has negative entry/entries")


def raise_first_error(input, target, var, reduction):
    """Re-check every argument and raise the error torch would raise first."""
    check_var_sign(var)
    if not is_scalar_var(var):
        var_shape(shape_of(input), var.shape)
    check_reduction(reduction)


def check_eps(eps):
    if not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a real number, not {type(eps).__name__}")
    return float(eps)


def check_n_threads(n_threads):
    if isinstance(n_threads, bool):
        raise TypeError("n_threads must be a positive integer or None")
    try:
        n = operator.index(n_threads)
    except TypeError:
        raise TypeError(
            f"n_threads must be a positive integer or None, not {n_threads!r}"
        ) from None
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n}")
    return n


def check_wrt(wrt):
    """The tuple of gradient names to compute, from a name or an iterable."""
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in names:
        if name not in GRAD_NAMES:
            raise ValueError(
                f"wrt names unknown argument {name!r}; choose among "
                "'input', 'target' and 'var'"
            )
    return names
