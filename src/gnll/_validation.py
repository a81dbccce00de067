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


def var_shape(input_shape, shape, name="var"):
    """The shape `var` is used with: torch's rule, plus any number of size-1
    dimensions.  Raises ValueError("var is of incorrect size ...") (with
    `name` for var: the variance parameter's name, e.g. log_var)."""
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
        f"{name} is of incorrect size: {name} has shape {shape} and input has shape "
        f"{input_shape}; {name} must have the input's shape, the input's shape "
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


def check_var_sign(var, name="var"):
    """ValueError if any entry of `var` (array or number) is negative
    (`name`: "var" or "std"; a log-variance may be negative)."""
    if name == "log_var":
        return
    negative = var < 0 if type(var) in _PY_SCALARS else np.any(var < 0)
    if negative:
        raise ValueError(f"{name} has negative entry/entries")


def raise_first_error(input, target, var, reduction, name="var"):
    """Re-check every argument and raise the error torch would raise first."""
    check_var_sign(var, name)
    if not is_scalar_var(var):
        var_shape(shape_of(input), var.shape, name)
    check_reduction(reduction)


def check_eps(eps):
    if not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a real number, not {type(eps).__name__}")
    eps = float(eps)
    if eps != eps:  # a NaN clamp would silently clamp nothing
        raise ValueError("eps must not be NaN")
    return eps


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


def check_wrt(wrt, param="var"):
    """The tuple of gradient names to compute, from a name or an iterable.

    `param` is the name of the variance parameter that was passed ("var",
    "log_var" or "std"); its name is accepted as well as "var" and is mapped
    to "var" (the Grads field that holds its gradient)."""
    if wrt == GRAD_NAMES:  # the default
        return GRAD_NAMES
    if type(wrt) is tuple:  # seen before: validated already
        try:
            known = _WRT_SEEN.get((wrt, param))
        except TypeError:  # unhashable entries: reported below
            known = None
        if known is not None:
            return known
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    out = []
    for name in names:
        if name == param:
            name = "var"
        if name not in GRAD_NAMES:
            extra = f", 'var' or {param!r}" if param != "var" else " and 'var'"
            raise ValueError(
                f"wrt names unknown argument {name!r}; choose among "
                f"'input', 'target'{extra}"
            )
        out.append(name)
    out = tuple(out)
    if type(wrt) is tuple and len(_WRT_SEEN) < 64:
        _WRT_SEEN[(wrt, param)] = out
    return out


_WRT_SEEN = {}  # (wrt, param) -> the validated tuple, for tuples of names


def _memory_owner(a):
    """The ndarray that allocated `a`'s memory, or None if that is not known
    (memory from another object, or an array that does not own its data)."""
    base = a.base
    while base is not None:
        if not isinstance(base, np.ndarray):
            return None
        a, base = base, base.base
    return a if a.flags.owndata else None


# ndarray.flags.num bits: C-contiguous, aligned, writeable
_OUT_FLAGS = 0x1 | 0x100 | 0x400


def check_out(out, want, dtype, shapes, operands):
    """The (input, target, var) output buffers from `out`, checked.

    `shapes` are the gradients' shapes, `operands` the arrays that an output
    must not overlap.  Each buffer is None (allocate) or a writeable,
    C-contiguous ndarray of exactly the gradient's shape and dtype.

    Overlap: a buffer whose memory comes from an allocation no operand and
    no other buffer comes from (see _memory_owner) cannot overlap them, and
    that test is several times cheaper than np.may_share_memory, which
    decides the other cases (bounds only: a false alarm is possible for
    interleaved views of one array, never a missed overlap)."""
    if isinstance(out, np.ndarray) or not isinstance(out, (tuple, list)) or len(out) != 3:
        raise TypeError(
            "out must be a Grads or a tuple of three arrays or None "
            f"(input, target, var), got {type(out).__name__}"
        )
    buffers = tuple(out)
    if buffers[0] is None and buffers[1] is None and buffers[2] is None:
        return buffers
    given = []
    for field, buf, shape in zip(GRAD_NAMES, buffers, shapes):
        if buf is None:
            continue
        if field not in want:
            raise ValueError(
                f"out.{field} was given but the {field} gradient is not "
                f"requested in wrt"
            )
        if (not isinstance(buf, np.ndarray) or buf.dtype != dtype
                or buf.shape != tuple(shape)
                or buf.flags.num & _OUT_FLAGS != _OUT_FLAGS):
            got = (f"{type(buf).__name__}" if not isinstance(buf, np.ndarray) else
                   f"{buf.dtype.str} array of shape {buf.shape}"
                   + ("" if buf.flags.c_contiguous else ", not C-contiguous")
                   + ("" if buf.flags.writeable else ", read-only")
                   + ("" if buf.flags.aligned else ", misaligned"))
            raise ValueError(
                f"out.{field} must be a writeable, aligned, C-contiguous "
                f"{dtype.name} ndarray of shape {tuple(shape)} (native byte "
                f"order), got {got}"
            )
        given.append((field, buf, _memory_owner(buf)))
    inputs = [(a, _memory_owner(a)) for a in operands if a is not None]
    # the allocations seen so far (id), and whether some array's is unknown
    seen = set()
    unknown = False
    for _, owner in inputs:
        if owner is None:
            unknown = True
        else:
            seen.add(id(owner))
    for i, (field, buf, owner) in enumerate(given):
        if unknown or owner is None or id(owner) in seen:
            for other, _ in inputs:
                if np.may_share_memory(buf, other):
                    raise ValueError(f"out.{field} must not overlap an input array")
            for other_field, other, _ in given[:i]:
                if np.may_share_memory(buf, other):
                    raise ValueError(f"out.{other_field} and out.{field} overlap")
            unknown = unknown or owner is None
        seen.add(id(owner))
    return buffers


VARIANCE_PARAMS = ("var", "log_var", "std")
CLAMP_GRADS = ("straight_through", "zero")


def select_variance(var, log_var, std):
    """(name, value) of the one variance parameter given, or TypeError."""
    given = [(n, v) for n, v in zip(VARIANCE_PARAMS, (var, log_var, std))
             if v is not None]
    if len(given) != 1:
        got = " and ".join(n for n, _ in given) if given else "none of them"
        raise TypeError(
            "exactly one of var, log_var and std must be given "
            f"(got {got})"
        )
    return given[0]


def check_beta(beta):
    """beta as a float; TypeError if not a real number, ValueError if not
    finite."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"beta must be a real number, not {type(beta).__name__}")
    beta = float(beta)
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta}")
    return beta


def check_clamp_grad(clamp_grad):
    if not (isinstance(clamp_grad, str) and clamp_grad in CLAMP_GRADS):
        raise ValueError(
            f"clamp_grad={clamp_grad!r} is not valid: choose "
            "'straight_through' (PyTorch) or 'zero' (MLX)"
        )
    return clamp_grad


def check_weight(weight, loss_shape, values=True):
    """`weight` as an ndarray broadcastable to `loss_shape`, finite and
    non-negative, else ValueError (TypeError for non-real dtypes).  With
    ``values=False`` the entries are not checked (the kernels check them
    as they read them)."""
    w = np.asarray(as_operand(weight, "weight"))
    try:
        ok = np.broadcast_shapes(w.shape, loss_shape) == tuple(loss_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"weight with shape {w.shape} cannot be broadcast to the loss's "
            f"shape {tuple(loss_shape)}"
        )
    if not values:
        return w
    if w.size and not np.all(np.isfinite(w)):
        raise ValueError("weight has non-finite entry/entries")
    if w.size and np.any(w < 0):
        raise ValueError("weight has negative entry/entries")
    return w
