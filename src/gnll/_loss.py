"""The Gaussian negative log-likelihood loss and its gradients.

Public functions :func:`gaussian_nll_loss` and :func:`gaussian_nll_loss_and_grad`
and the callable :class:`GaussianNLLLoss`.  This module validates, chooses the
dtype, plans how the operands map onto the compiled kernels (without copying
contiguous operands or materialising a broadcast ``var``), allocates the
outputs and reduces; the per-element work is done in ``gnll._core``.
"""
import math
import os
from collections import namedtuple

import numpy as np

from . import _core
from ._buffers import take
from ._validation import (
    REDUCTIONS,
    as_operand,
    broadcast_shape,
    check_beta,
    check_clamp_grad,
    check_eps,
    check_n_threads,
    check_out,
    check_reduction,
    check_var_sign,
    check_weight,
    check_wrt,
    compute_dtype,
    is_scalar_var,
    raise_first_error,
    select_variance,
    shape_of,
    var_shape,
)

__all__ = ["gaussian_nll_loss", "gaussian_nll_loss_and_grad", "Grads", "GaussianNLLLoss"]

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

Grads = namedtuple("Grads", ["input", "target", "var"])
Grads.__doc__ = """Gradients of the loss, one field per argument.

Each field is an ndarray with the shape of the argument as it was passed (a
broadcast argument's gradient is summed over the broadcast dimensions; a
Python number's gradient is a 0-d array), or None when that gradient was not
requested through ``wrt``.
"""
Grads.input.__doc__ = "Gradient with respect to ``input`` (the predicted mean)."
Grads.target.__doc__ = "Gradient with respect to ``target``."
Grads.var.__doc__ = (
    "Gradient with respect to the variance parameter that was passed: "
    "``var``, or ``log_var`` or ``std`` when one of those was given instead."
)


def _usable_cpus():
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


USABLE_CPUS = _usable_cpus()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core._after_fork_in_child)



def default_n_threads():
    """OpenMP's default team size (OMP_NUM_THREADS, threadpoolctl) capped at
    the CPUs this process may use; 1 in a forked child of a process that
    ran gnll's threads (GNU OpenMP cannot start threads after fork)."""
    if _core.serial_only():
        return 1
    return max(1, min(_core.max_threads(), USABLE_CPUS))


def _sum_to_shape(grad, shape):
    """Sum `grad` over the dimensions along which `shape` was broadcast."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    # np.asarray: a sum over every axis is a NumPy scalar; gradients are
    # always ndarrays (0-d for a 0-d argument).
    return np.asarray(grad.sum(axis=axes, dtype=np.float64), dtype=grad.dtype).reshape(shape)


def _operand(value, shape, dtype):
    """`value` as a C-contiguous flat array of `dtype` holding `shape`
    (a copy only when the layout, byte order or dtype requires one)."""
    if isinstance(value, np.ndarray) and value.shape != shape:
        value = np.broadcast_to(value, shape)
    elif not isinstance(value, np.ndarray):
        value = np.full(shape, value, dtype=dtype)
    return np.ascontiguousarray(value, dtype=dtype).reshape(-1)


_NATIVE_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _plan(input, target, var, reduction, name="var"):
    """Validate the operands and decide how they map onto the kernels.

    Returns ``(dtype, shape, mode, cols, xf, yf, vf, x_shape, y_shape,
    v_used)``: the compute dtype, the broadcast shape, the var layout mode,
    the row length for ``mode == "rows"``, the flat C-contiguous operands, and
    the shapes the gradients must be summed back to.
    """
    # Fast path: same-shape native float arrays of one dtype (the usual case
    # in training loops), where nothing needs converting or broadcasting.
    if (type(input) is np.ndarray and type(target) is np.ndarray
            and type(var) is np.ndarray and input.dtype in _NATIVE_FLOATS
            and input.dtype == target.dtype == var.dtype
            and input.shape == target.shape == var.shape
            and input.ndim and reduction in REDUCTIONS
            and type(reduction) is str):
        shape = input.shape
        return (input.dtype, shape, "full", 1, _flat(input), _flat(target),
                _flat(var), shape, shape, shape)

    x = as_operand(input, "input")
    y = as_operand(target, "target")
    v = as_operand(var, name)
    if type(reduction) is not str or reduction not in REDUCTIONS:
        raise_first_error(x, y, v, reduction, name)
    dtype = compute_dtype(x, y, v)

    # ---- shapes: torch's var rule, NumPy broadcasting for target --------
    x_shape, y_shape = shape_of(x), shape_of(y)
    if is_scalar_var(v):
        check_var_sign(v, name)
        v_used = ()
    else:
        try:
            v_used = var_shape(x_shape, v.shape, name)
        except ValueError:
            check_var_sign(v, name)  # torch reports a negative var first
            raise
    try:
        shape = broadcast_shape(x_shape, y_shape, v_used)
    except ValueError:
        check_var_sign(v, name)
        raise

    # ---- how var maps onto the kernels -------------------------------------
    # "full": var has the output's shape; "rows": var is constant along the
    # trailing dimensions (scalar, (N, 1), one fewer dim, ...), so the kernel
    # reads one var per row of `cols` elements and never materialises it;
    # "broadcast": anything else (e.g. (1, D) for (N, D)): var is copied and
    # its gradient reduced a tile at a time (see _tiled), never at full size.
    if v_used == shape:
        mode, cols = "full", 1
    else:
        k = len(v_used)
        while k and v_used[k - 1] == 1:
            k -= 1
        if k == 0 or (len(shape) == len(v_used) and v_used[:k] == shape[:k]):
            mode, cols = "rows", math.prod(shape[k:])
        else:
            mode, cols = "broadcast", 1

    xf = _operand(x, shape, dtype)
    yf = _operand(y, shape, dtype)
    if isinstance(v, np.ndarray) and v.shape != v_used:
        # "one fewer dimension": a trailing 1 is appended before broadcasting
        # (e.g. a (2,) var for a (2, 1) input, whose used shape is the output's)
        v = v.reshape(v_used)
    if mode == "rows":
        vf = np.ascontiguousarray(v, dtype=dtype).reshape(-1)
    elif mode == "full":
        vf = _operand(v, shape, dtype)
    else:
        # not materialised: the loss's shape as a read-only view, copied a
        # tile at a time by _tiled (see there)
        vf = np.broadcast_to(np.asarray(v, dtype=dtype), shape)
    return dtype, shape, mode, cols, xf, yf, vf, x_shape, y_shape, v_used


def _flat(array):
    if array.flags.c_contiguous:
        return array.reshape(-1)
    return np.ascontiguousarray(array).reshape(-1)


def _upstream(grad_output, reduction, shape, n, dtype):
    """(gscale, gout): the upstream gradient as a scale and/or an array."""
    if grad_output is None:
        gscale, gout = 1.0, None
    elif np.ndim(grad_output) == 0:
        gscale, gout = float(grad_output), None
    elif reduction != "none":
        raise ValueError(
            f"grad_output must be a scalar for reduction={reduction!r}, "
            f"got shape {np.shape(grad_output)}"
        )
    else:
        try:
            gout = np.broadcast_to(grad_output, shape)
        except ValueError:
            raise ValueError(
                f"grad_output with shape {np.shape(grad_output)} cannot be "
                f"broadcast to the loss's shape {shape}"
            ) from None
        gscale, gout = 1.0, np.ascontiguousarray(gout, dtype=dtype).reshape(-1)
    if reduction == "mean" and n:
        gscale /= n
    return gscale, gout


_PARAM_CODES = {"var": 0, "log_var": 1, "std": 2}


def _options(var, log_var, std, beta, weight, clamp_grad):
    """None for the plain var path (the default: its kernels and speed are
    those of the core), else ``(name, value, code, beta, weight, zero)`` for
    the extended kernels."""
    if (log_var is None and std is None and weight is None
            and clamp_grad == "straight_through"
            and (beta == 0.0 and type(beta) in (float, int))):
        if var is None:
            select_variance(var, log_var, std)
        return None
    name, value = select_variance(var, log_var, std)
    beta = check_beta(beta)
    zero = check_clamp_grad(clamp_grad) == "zero"
    return name, value, _PARAM_CODES[name], beta, weight, zero


def _evaluate(input, target, var, full, eps, reduction, n_threads, wrt=None,
              grad_output=None, opts=None, out=None):
    """Shared implementation: returns (loss, Grads), or (loss, None) when
    `wrt` is None (the loss alone).  `opts` (from :func:`_options`) selects
    the extended kernels; `var` is then ignored.  `out` (checked here) holds
    preallocated gradient buffers."""
    name = "var"
    if opts is not None:
        name, var, param, beta, weight, zero = opts
    (dtype, shape, mode, cols, xf, yf, vf,
     x_shape, y_shape, v_used) = _plan(input, target, var, reduction, name)
    if type(eps) is not float or eps != eps:
        eps = check_eps(eps)
    n_threads = default_n_threads() if n_threads is None else check_n_threads(n_threads)
    n = xf.shape[0]

    want = () if wrt is None else check_wrt(wrt, name)
    extra = {}
    denom = n  # what "mean" divides by
    weight_total = None  # the kernel's sum of the weights, for the loss alone
    if opts is not None:
        log_eps = math.log(eps) if eps > 0 else -math.inf
        extra = dict(param=param, beta=beta, zero_grad=int(zero), log_eps=log_eps)
        if weight is not None:
            # shape now; values (finite, >= 0) by the kernel as it reads them
            w = check_weight(weight, shape, values=False)
            extra["w"] = _operand(w, shape, dtype)
            if reduction == "mean" and not want and mode == "full":
                # the loss alone: the kernel sums the weights as it reads them
                weight_total = np.empty(1)
            elif reduction == "mean":
                # the gradients' scale: the total of the broadcast weights
                # first, in parallel and in a fixed order (NaN or inf here:
                # the kernel reports the weight)
                denom = _core.total(extra["w"], n_threads)

    if want:
        gscale, gout = _upstream(grad_output, reduction, shape, denom, dtype)
        if reduction == "mean" and n and not denom:
            gscale = math.nan  # all-zero weights: the mean and its gradient are NaN
    else:
        gscale, gout = 1.0, None
    loss_out = take(n, dtype) if reduction == "none" else None
    out_x = out_y = out_v = None
    if out is not None:
        # the arrays the kernels read (views of the arguments, or copies)
        operands = (xf, yf, vf, gout, extra.get("w"))
        out_x, out_y, out_v = check_out(out, want, dtype,
                                        (x_shape, y_shape, np.shape(var)), operands)
    # The kernels write straight into an out buffer that has the loss's shape;
    # a broadcast argument's gradient is reduced first, then copied in.
    gx = gy = gv = None
    into_x = "input" in want and out_x is not None and x_shape == shape
    into_y = "target" in want and out_y is not None and y_shape == shape
    into_v = ("var" in want and out_v is not None and mode == "full"
              and np.shape(var) == shape)
    if "input" in want:
        gx = out_x.reshape(-1) if into_x else take(n, dtype)
    if "target" in want:
        gy = out_y.reshape(-1) if into_y else take(n, dtype)
    if "var" in want and mode != "broadcast":
        gv = (out_v.reshape(-1) if into_v
              else take(vf.shape[0], np.float64 if mode == "rows" else dtype))

    c = HALF_LOG_2PI if full else 0.0
    f32 = dtype == np.float32
    if mode == "rows":
        kernel = _PER_ROW_F32 if f32 else _PER_ROW_F64
        if extra:
            total, negative = kernel(xf, yf, vf, cols, eps, c, loss_out, gx, gy, gv,
                                     gout, gscale, n_threads, **extra)
        else:
            total, negative = kernel(xf, yf, vf, cols, eps, c, loss_out, gx, gy, gv,
                                     gout, gscale, n_threads)
    elif mode == "broadcast":
        kernel = _ELEMENTWISE_F32 if f32 else _ELEMENTWISE_F64
        total, negative, gv_sum = _tiled(kernel, xf, yf, vf, v_used, eps, c,
                                         loss_out, gx, gy, "var" in want, gout,
                                         gscale, n_threads, extra)
    else:
        kernel = _ELEMENTWISE_F32 if f32 else _ELEMENTWISE_F64
        if extra:
            total, negative = kernel(xf, yf, vf, eps, c, loss_out, gx, gy, gv,
                                     gout, gscale, n_threads, **extra,
                                     weight_total=weight_total)
            if weight_total is not None:
                denom = weight_total[0]  # the same sum as _core.total's
        else:
            total, negative = kernel(xf, yf, vf, eps, c, loss_out, gx, gy, gv,
                                     gout, gscale, n_threads)
    if negative or n == 0:
        check_var_sign(var if type(var) in (float, int, bool) else np.asarray(var),
                       name)
        if opts is not None and weight is not None:
            check_weight(weight, shape)

    # ---- reduce the loss ------------------------------------------------
    if reduction == "none":
        loss = loss_out.reshape(shape)
    elif reduction == "sum":
        loss = _scalar(dtype, total)
    else:
        loss = _scalar(dtype, total / denom if n and denom else math.nan)
    if wrt is None:
        return loss, None

    # ---- gradients, in the shapes of the arguments as passed -------------
    grad_input = _sum_to_shape(gx.reshape(shape), x_shape) if gx is not None else None
    grad_target = _sum_to_shape(gy.reshape(shape), y_shape) if gy is not None else None
    grad_var = None
    if mode == "broadcast" and "var" in want:
        grad_var = gv_sum.astype(dtype).reshape(np.shape(var))
    elif gv is not None:
        if mode == "rows":
            grad_var = gv.astype(dtype, copy=False)
        else:
            grad_var = _sum_to_shape(gv.reshape(shape), v_used)
        grad_var = grad_var.reshape(np.shape(var))
    if out is not None:
        # (a buffer the kernel wrote into is returned as it is)
        grad_input = out_x if into_x else _into(out_x, grad_input)
        grad_target = out_y if into_y else _into(out_y, grad_target)
        grad_var = out_v if into_v else _into(out_v, grad_var)
    return loss, Grads(grad_input, grad_target, grad_var)


# Elements per tile of a broadcast var: at least this many, and at least a
# sixteenth of the input, so that a call makes at most about 16 kernel calls
# (each wakes the thread team) while its temporaries stay a fraction of the
# input.
_TILE = 1 << 16
_TILES = 16


def _tiled(kernel, xf, yf, vb, v_used, eps, c, loss_out, gx, gy, want_var,
           gout, gscale, n_threads, extra):
    """The elementwise kernel over a var broadcast along leading or middle
    dimensions (e.g. a (1, D) var for an (N, D) input), without an array of
    the input's size for var or for its gradient: the input is cut into tiles
    of whole slices along its first axis of length other than 1 (see
    ``_TILE``), var is copied a tile at a time (once, when it is the same
    for every tile), and the var gradient of each tile is summed to var's
    shape at once, in float64.

    `vb` is var broadcast to the loss's shape.  The tiles depend on the shape
    alone, so the result does not depend on the number of threads.  Returns
    ``(total, negative, gv_sum)``: the loss total, whether some var is
    negative, and the float64 var gradient in the shape `v_used` (padded with
    leading 1s to the loss's ndim), or None."""
    shape = vb.shape
    axis = next((i for i, s in enumerate(shape) if s != 1), 0)
    lead = math.prod(shape[: axis + 1])  # the slices to cut into tiles
    inner = math.prod(shape[axis + 1:])
    vb = vb.reshape((lead,) + shape[axis + 1:])  # a view: leading 1s dropped
    vu = (1,) * (len(shape) - len(v_used)) + tuple(v_used)
    vu = (vu[axis],) + vu[axis + 1:]
    n = lead * inner
    per = max(1, max(_TILE, -(-n // _TILES)) // max(inner, 1))
    same = vu[0] == 1  # var does not change along the tiled axis
    sum_axes = tuple(i for i, s in enumerate(vu) if s == 1 and vb.shape[i] != 1)
    gv_sum = np.zeros(vu, np.float64) if want_var else None
    w = extra.get("w")
    total, negative = 0.0, False
    v_same = np.ascontiguousarray(vb[:per]).reshape(-1) if same and lead else None
    for a in range(0, lead, per):
        b = min(lead, a + per)
        lo, hi = a * inner, b * inner
        if same:
            v_tile = v_same[: hi - lo]
        else:
            v_tile = np.ascontiguousarray(vb[a:b]).reshape(-1)
        gv = take(hi - lo, v_tile.dtype) if want_var else None
        kw = dict(extra, w=w[lo:hi]) if w is not None else extra
        t, neg = kernel(xf[lo:hi], yf[lo:hi], v_tile, eps, c,
                        None if loss_out is None else loss_out[lo:hi],
                        None if gx is None else gx[lo:hi],
                        None if gy is None else gy[lo:hi], gv,
                        None if gout is None else gout[lo:hi], gscale,
                        n_threads, **kw)
        total += t
        negative = negative or neg
        if gv is not None:
            g = gv.reshape((b - a,) + vb.shape[1:]).sum(axis=sum_axes, dtype=np.float64,
                                                       keepdims=True)
            if same:
                gv_sum += g
            else:
                gv_sum[a:b] = g
        v_tile = gv = None  # freed before the next tile is copied
    return total, negative, gv_sum


def _same_shape_loss_and_grad(x, y, v, full, eps, reduction, wrt, n_threads):
    """What :func:`_evaluate` computes for the plain var kernel when `x`, `y`
    and `v` are non-empty C-contiguous float arrays of one shape and dtype,
    `eps` a float and `reduction` "mean" or "sum", without its general
    planning: the PyTorch bridge's per-call path.  `wrt` holds checked names.
    Returns ``(loss, (g_input, g_target, g_var))``, gradients in x's shape
    (None where not asked for)."""
    n, dtype, shape = x.size, x.dtype, x.shape
    gx = take(n, dtype) if "input" in wrt else None
    gy = take(n, dtype) if "target" in wrt else None
    gv = take(n, dtype) if "var" in wrt else None
    kernel = _ELEMENTWISE_F32 if dtype == np.float32 else _ELEMENTWISE_F64
    mean = reduction == "mean"
    total, negative = kernel(x.reshape(-1), y.reshape(-1), v.reshape(-1), eps,
                             HALF_LOG_2PI if full else 0.0, None, gx, gy, gv,
                             None, 1.0 / n if mean else 1.0, n_threads)
    if negative:
        check_var_sign(v)
    loss = _scalar(dtype, total / n if mean else total)
    return loss, (None if gx is None else gx.reshape(shape),
                  None if gy is None else gy.reshape(shape),
                  None if gv is None else gv.reshape(shape))


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _scalar(dtype, value):
    """The float `value` as a NumPy scalar of `dtype`: past float32's range
    it rounds to inf, as torch's float32 result does, without NumPy's
    overflow warning."""
    if dtype == np.float32 and abs(value) > _FLOAT32_MAX:
        with np.errstate(over="ignore"):
            return dtype.type(value)
    return dtype.type(value)


def _into(buffer, grad):
    """`grad` (an array of gnll's own, never a view of `buffer`) copied into
    `buffer`, if given."""
    if buffer is None or grad is None:
        return grad
    np.copyto(buffer, grad)
    return buffer


# The kernels' float64 and float32 specialisations, looked up once: calling
# them directly skips Cython's per-call fused-type dispatch.
_ELEMENTWISE_F64 = _core.elementwise["double"]
_ELEMENTWISE_F32 = _core.elementwise["float"]
_PER_ROW_F64 = _core.per_row["double"]
_PER_ROW_F32 = _core.per_row["float"]


def gaussian_nll_loss(input, target, var=None, full=False, eps=1e-6, reduction="mean", *,
                      log_var=None, std=None, beta=0.0, weight=None,
                      clamp_grad="straight_through", n_threads=None):
    r"""Gaussian negative log-likelihood loss.

    The loss of targets :math:`y` under Gaussians with means :math:`\mu`
    (``input``) and variances :math:`\sigma^2` (``var``), with PyTorch's
    semantics (``torch.nn.functional.gaussian_nll_loss``).  Optionally, the
    variance is given as a log-variance or a standard deviation, and the loss
    is β-weighted (β-NLL) or sample-weighted.

    Parameters
    ----------
    input : array_like
        Predicted means :math:`\mu`.
    target : array_like
        Observed values :math:`y`; broadcast against `input` with NumPy's rules.
    var : array_like or float, optional
        Predicted variances :math:`\sigma^2 \ge 0`.  Either the shape of
        `input`; that shape with any dimensions equal to 1 (homoscedastic
        along them); that shape without its last dimension (one variance per
        row: a ``(N,)`` var for a ``(N, D)`` input); or a scalar (a number or
        0-d array).  Required unless `log_var` or `std` is given.
    full : bool, optional
        Add the constant :math:`\tfrac12\log 2\pi` to every element, giving the
        exact negative log-density.  Default False.
    eps : float, optional
        Variances are clamped to ``max(var, eps)`` for stability.  Default 1e-6.
    reduction : {'mean', 'sum', 'none'}, optional
        Average or sum over all elements, or return the elementwise losses.
    log_var : array_like or float, optional, keyword-only
        Predicted log-variances :math:`s = \log\sigma^2`, instead of `var`
        (same shape rules).  Any real value is allowed.
    std : array_like or float, optional, keyword-only
        Predicted standard deviations :math:`\sigma \ge 0`, instead of `var`
        (same shape rules; a negative entry raises ValueError).
    beta : float, optional, keyword-only
        β-NLL exponent (Seitzer et al., 2022): each element's loss is
        multiplied by :math:`\lfloor v\rfloor^\beta`, the clamped variance to
        the power β, treated as a constant (stop-gradient).  Default 0.0, the
        plain NLL; 0.5 is the usual choice; 1 gives the mean the gradient of
        the squared error.
    weight : array_like, optional, keyword-only
        Finite, non-negative sample weights :math:`w`, broadcastable to the
        loss's shape (cast to the compute dtype); each element's loss
        :math:`\ell_i` (β-weighted if `beta` is given) is multiplied by its
        weight, ``'none'`` returns :math:`w_i\ell_i`, and ``'mean'`` becomes
        :math:`\sum_i w_i\ell_i / \sum_i w_i`.  A broadcast weight is
        materialised once at the loss's size.  Default: all ones.
    clamp_grad : {'straight_through', 'zero'}, optional, keyword-only
        Gradient of the variance parameter where the variance is clamped:
        ``'straight_through'`` (default, PyTorch) evaluates the formula at the
        clamped value; ``'zero'`` (MLX) gives zero where the variance is at or
        below `eps`.
    n_threads : int, optional
        Number of OpenMP threads; default: OpenMP's default
        (``OMP_NUM_THREADS``, threadpoolctl) capped at the usable CPUs.
        Results are identical for every thread count.  In a process forked
        from one that ran gnll's threads, one thread is used (GNU OpenMP
        cannot start threads after a fork).

    Returns
    -------
    loss : numpy scalar or ndarray
        A float32 or float64 NumPy scalar for ``'mean'`` and ``'sum'``; for
        ``'none'`` an ndarray with the broadcast shape of the arguments.
        float32 and float64 inputs keep their precision (mixed inputs follow
        NumPy's promotion; a Python float never up-casts); integers and bools
        compute in float64, float16 in float32.

    Raises
    ------
    ValueError
        If `var` has a negative entry ("var has negative entry/entries"),
        `var` has an unsupported shape ("var is of incorrect size"), `target`
        does not broadcast against `input`, or `reduction` is invalid ("<reduction>
        is not valid"); when several apply, in that order.  The same for
        `std` (or `log_var`, which may be negative) in place of `var`.  Also
        for a `weight` that is negative, non-finite or not broadcastable to
        the loss, a non-finite `beta`, an unknown `clamp_grad` or a NaN
        `eps` ("eps must not be NaN").
    TypeError
        For complex, object, string or extended-precision inputs, or unless
        exactly one of `var`, `log_var` and `std` is given.

    See Also
    --------
    gaussian_nll_loss_and_grad : the loss together with its gradients.
    GaussianNLLLoss : the same as a reusable callable object.
    gaussian_nll_curvature : second derivatives and Fisher information.

    Notes
    -----
    With :math:`v_i = \max(\sigma^2_i, \epsilon)` and
    :math:`r_i = \mu_i - y_i`, the elementwise loss is

    .. math::

        \ell_i = \frac12\left(\log v_i + \frac{r_i^2}{v_i}\right)
                 \;\left[+\ \frac12\log 2\pi \text{ if full}\right],

    the negative log-density of :math:`y_i` under
    :math:`\mathcal N(\mu_i, v_i)` (up to the constant unless ``full``).
    ``'mean'`` divides the sum by the number of elements of the broadcast
    shape; the mean of no elements is NaN.  A NaN or infinite argument
    propagates to the loss.
    **Variance parameterisations.**  Exactly one of `var`, `log_var` and
    `std` is given (else TypeError); the clamped variance :math:`v` is

    * `var`: :math:`v = \max(\sigma^2, \epsilon)`;
    * `std`: :math:`v = \max(\sigma^2, \epsilon)` with :math:`\sigma^2` the
      square of `std`;
    * `log_var`: :math:`v = e^{s_c}` with :math:`s_c = \max(s, \log\epsilon)`
      (no clamp when ``eps <= 0``).  The loss
      :math:`\tfrac12(s_c + r^2 e^{-s_c})` is evaluated as
      :math:`\tfrac12(s_c + u^2)` with :math:`u = r e^{-s_c/2}` formed
      without intermediate overflow, so any finite :math:`s` gives a finite
      loss unless the true value overflows.

    **β-NLL and weights.**  With :math:`\ell_i` the per-element loss above
    (including the ``full`` constant), the loss is
    :math:`w_i\, v_i^\beta\, \ell_i`; the factor :math:`v_i^\beta` is not
    differentiated and :math:`w_i` scales every gradient.  β-NLL is not a
    likelihood: report the plain NLL (``beta=0``) for model comparison.
    All-zero weights give a NaN ``'mean'`` (like an empty mean, without a
    warning).

    Sums are accumulated in float64 in fixed-size chunks combined in a fixed
    order, so they do not depend on the thread count.

    Examples
    --------
    >>> import numpy as np
    >>> import gnll
    >>> mu = np.array([0.0, 1.0])
    >>> y = np.array([0.5, 1.0])
    >>> var = np.array([1.0, 0.25])
    >>> gnll.gaussian_nll_loss(mu, y, var)
    np.float64(-0.28407359...)
    >>> gnll.gaussian_nll_loss(mu, y, var, reduction="none")
    array([ 0.125     , -0.69314718])

    One variance per row, and a single shared variance:

    >>> x = np.zeros((2, 3))
    >>> gnll.gaussian_nll_loss(x, np.ones((2, 3)), np.array([1.0, 2.0]), reduction="sum")
    np.float64(3.2897207...)
    >>> gnll.gaussian_nll_loss(x, np.ones((2, 3)), 1.0)
    np.float64(0.5)

    The same variances as log-variances or standard deviations:

    >>> gnll.gaussian_nll_loss(mu, y, log_var=np.log(var))
    np.float64(-0.28407359...)
    >>> gnll.gaussian_nll_loss(mu, y, std=np.sqrt(var))
    np.float64(-0.28407359...)

    β-NLL and sample weights (here the second element does not count):

    >>> gnll.gaussian_nll_loss(mu, y, var, beta=0.5, reduction="none")
    array([ 0.125     , -0.34657359])
    >>> gnll.gaussian_nll_loss(mu, y, var, weight=np.array([1.0, 0.0]))
    np.float64(0.125)
    """
    opts = None
    if (log_var is not None or std is not None or weight is not None or beta != 0.0
            or clamp_grad != "straight_through" or var is None):
        opts = _options(var, log_var, std, beta, weight, clamp_grad)
    return _evaluate(input, target, var, full, eps, reduction, n_threads, opts=opts)[0]


def gaussian_nll_loss_and_grad(input, target, var=None, full=False, eps=1e-6,
                               reduction="mean", *, log_var=None, std=None, beta=0.0,
                               weight=None, clamp_grad="straight_through",
                               grad_output=None, wrt=("input", "target", "var"),
                               n_threads=None, out=None):
    r"""Gaussian negative log-likelihood loss and its gradients, in one pass.

    Parameters
    ----------
    input, target, var, full, eps, reduction
        As for :func:`gaussian_nll_loss`.
    log_var, std, beta, weight, clamp_grad
        As for :func:`gaussian_nll_loss`.
    grad_output : float or array_like, optional
        The upstream gradient :math:`\partial L_{\text{total}} / \partial L`: a
        scalar for ``'mean'`` and ``'sum'``; for ``'none'`` a scalar or an
        array broadcastable to the loss's shape.  Default 1.
    wrt : str or iterable of str, optional
        Which gradients to compute, among ``'input'``, ``'target'`` and
        ``'var'`` (the variance parameter that was passed, which may also be
        named ``'log_var'`` or ``'std'`` when that one was given).  Gradients
        not named are not computed and are None in the result.  Default: all
        three.
    n_threads : int, optional
        As for :func:`gaussian_nll_loss`.
    out : Grads or tuple of (ndarray or None), optional
        Preallocated arrays ``(input, target, var)`` to write the gradients
        into, as NumPy's ``out=`` does; None entries are allocated.  Each
        array must have the gradient's shape (that of the argument as
        passed) and the compute dtype, be C-contiguous and writeable, and
        not overlap the inputs.  Reusing buffers across calls, as in a
        training loop, saves the operating system's zeroing of fresh
        pages, a large part of a big call's time.  The returned gradients
        are these same arrays.  If the call raises after computing (a
        negative variance or weight), their contents are unspecified.

    Returns
    -------
    loss : numpy scalar or ndarray
        As returned by :func:`gaussian_nll_loss`.
    grads : Grads
        Named tuple ``(input, target, var)`` of gradients.  Each has the shape
        of its argument as passed, summed over the dimensions along which it
        was broadcast (a ``(N, 1)`` var gets a ``(N, 1)`` gradient, a Python
        float var a 0-d one), and the compute dtype.  The field ``var`` holds
        the gradient with respect to the variance parameter that was passed:
        ``var``, ``log_var`` or ``std``.

    Raises
    ------
    ValueError
        As :func:`gaussian_nll_loss`; also for an unknown name in `wrt`, a
        `grad_output` of the wrong shape, or an `out` array that does not
        fit (shape, dtype, layout, overlap, or a gradient not in `wrt`).
    TypeError
        As :func:`gaussian_nll_loss`; also if `out` is not a 3-tuple.

    See Also
    --------
    gaussian_nll_loss : the loss alone.
    gaussian_nll_curvature : second derivatives and Fisher information.

    Notes
    -----
    With :math:`v = \max(\sigma^2, \epsilon)`, :math:`r = \mu - y` and
    :math:`g` the upstream gradient (divided by the number of elements for
    ``'mean'``), the gradients are

    .. math::

        \frac{\partial L}{\partial \mu} = g\,\frac{r}{v}, \qquad
        \frac{\partial L}{\partial y} = -g\,\frac{r}{v}, \qquad
        \frac{\partial L}{\partial \sigma^2} =
            \frac{g}{2}\left(\frac1v - \frac{r^2}{v^2}\right).

    As in PyTorch, the clamp is straight-through: where
    :math:`\sigma^2 < \epsilon` the variance gradient is still the formula
    above evaluated at :math:`v = \epsilon`, not zero.

    For the other parameterisations the chain rule gives, with the same
    straight-through clamp,
    :math:`\partial L/\partial s = \tfrac g2(1 - r^2/v)` for
    :math:`s = \log\sigma^2` and
    :math:`\partial L/\partial\sigma = g\,\sigma(1/v - r^2/v^2)` for the
    standard deviation.  With ``clamp_grad='zero'`` the gradient of the
    variance parameter is zero wherever it is clamped: ``var <= eps``,
    ``std**2 <= eps`` or ``log_var <= log(eps)`` (MLX's rule; lucid zeroes
    it only where ``var < eps``, so the two differ when ``var == eps``
    exactly).  The mean gradients are the same in both modes.

    With β-NLL every gradient is multiplied by the constant
    :math:`v^\beta` (so for β = 1 the mean gradient is :math:`g\,r`, the
    squared error's), and with sample weights by :math:`w`; for ``'mean'``,
    :math:`g` is divided by :math:`\sum w` instead of the number of
    elements.

    Examples
    --------
    >>> import numpy as np
    >>> import gnll
    >>> mu = np.array([0.0, 1.0])
    >>> y = np.array([0.5, 1.0])
    >>> var = np.array([1.0, 0.25])
    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(mu, y, var)
    >>> grads.input
    array([-0.25,  0.  ])
    >>> grads.var
    array([0.1875, 1.    ])

    Only the variance gradient, for a variance shared by each row:

    >>> x = np.array([[0.0, 2.0], [1.0, 1.0]])
    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(
    ...     x, np.ones((2, 2)), np.array([[1.0], [4.0]]), reduction="sum", wrt="var")
    >>> grads.var
    array([[0.  ],
           [0.25]])
    >>> grads.input is None
    True

    The gradient with respect to a log-variance (in the field ``var``):

    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(mu, y, log_var=np.log(var),
    ...                                               wrt="log_var")
    >>> grads.var
    array([0.1875, 0.25  ])

    β = 1 gives the mean the squared error's gradient, ``r / N``:

    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(mu, y, var, beta=1.0)
    >>> grads.input
    array([-0.25,  0.  ])

    MLX's clamp gradient: zero for a variance at or below eps:

    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(
    ...     mu, y, np.array([0.0, 0.25]), eps=1e-2, clamp_grad="zero", wrt="var")
    >>> grads.var
    array([0., 1.])

    Writing into buffers that are reused from call to call:

    >>> g_mu, g_var = np.empty(2), np.empty(2)
    >>> loss, grads = gnll.gaussian_nll_loss_and_grad(
    ...     mu, y, var, wrt=("input", "var"), out=(g_mu, None, g_var))
    >>> grads.var is g_var
    True
    >>> g_var
    array([0.1875, 1.    ])
    """
    opts = None
    if (log_var is not None or std is not None or weight is not None or beta != 0.0
            or clamp_grad != "straight_through" or var is None):
        opts = _options(var, log_var, std, beta, weight, clamp_grad)
    return _evaluate(input, target, var, full, eps, reduction, n_threads, wrt, grad_output,
                     opts=opts, out=out)


class GaussianNLLLoss:
    r"""The Gaussian negative log-likelihood loss as a reusable callable.

    Holds the options; calling it computes :func:`gaussian_nll_loss`, and
    :meth:`loss_and_grad` computes :func:`gaussian_nll_loss_and_grad`.  Like
    ``torch.nn.GaussianNLLLoss``, the options are keyword-only; unlike it,
    `reduction` is validated at construction.

    Parameters
    ----------
    full : bool, optional
        Include the constant :math:`\tfrac12\log 2\pi`.  Default False.
    eps : float, optional
        Clamp for the variance.  Default 1e-6.
    reduction : {'mean', 'sum', 'none'}, optional
        Default 'mean'.
    beta : float, optional
        β-NLL exponent (see :func:`gaussian_nll_loss`).  Default 0.0.
    clamp_grad : {'straight_through', 'zero'}, optional
        Gradient convention at the clamp (see :func:`gaussian_nll_loss`).
        Default 'straight_through'.

    Raises
    ------
    ValueError
        If `reduction` is not 'none', 'mean' or 'sum', `beta` is not finite
        or `clamp_grad` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import gnll
    >>> loss_fn = gnll.GaussianNLLLoss(reduction="sum")
    >>> loss_fn
    GaussianNLLLoss(full=False, eps=1e-06, reduction='sum')
    >>> loss_fn(np.array([0.0, 1.0]), np.array([0.5, 1.0]), np.array([1.0, 0.25]))
    np.float64(-0.56814718...)
    >>> loss, grads = loss_fn.loss_and_grad(np.zeros(2), np.ones(2), 1.0, wrt=["var"])
    >>> grads.var
    array(0.)

    A β-NLL loss on log-variances:

    >>> beta_nll = gnll.GaussianNLLLoss(beta=0.5)
    >>> beta_nll
    GaussianNLLLoss(full=False, eps=1e-06, reduction='mean', beta=0.5)
    >>> beta_nll(np.zeros(2), np.ones(2), log_var=np.zeros(2))
    np.float64(0.5)
    """

    def __init__(self, *, full=False, eps=1e-6, reduction="mean", beta=0.0,
                 clamp_grad="straight_through"):
        check_reduction(reduction)
        self.full = bool(full)
        self.eps = check_eps(eps)
        self.reduction = reduction
        self.beta = check_beta(beta)
        self.clamp_grad = check_clamp_grad(clamp_grad)

    def __call__(self, input, target, var=None, *, log_var=None, std=None, weight=None,
                 n_threads=None):
        """The loss; see :func:`gaussian_nll_loss`."""
        return gaussian_nll_loss(input, target, var, self.full, self.eps,
                                 self.reduction, log_var=log_var, std=std,
                                 beta=self.beta, weight=weight,
                                 clamp_grad=self.clamp_grad, n_threads=n_threads)

    def loss_and_grad(self, input, target, var=None, *, log_var=None, std=None,
                      weight=None, grad_output=None, wrt=("input", "target", "var"),
                      n_threads=None, out=None):
        """The loss and its gradients; see :func:`gaussian_nll_loss_and_grad`."""
        return gaussian_nll_loss_and_grad(
            input, target, var, self.full, self.eps, self.reduction,
            log_var=log_var, std=std, beta=self.beta, weight=weight,
            clamp_grad=self.clamp_grad, grad_output=grad_output, wrt=wrt,
            n_threads=n_threads, out=out)

    def __repr__(self):
        extra = ""
        if self.beta != 0.0:
            extra += f", beta={self.beta!r}"
        if self.clamp_grad != "straight_through":
            extra += f", clamp_grad={self.clamp_grad!r}"
        return (f"{type(self).__name__}(full={self.full}, eps={self.eps!r}, "
                f"reduction={self.reduction!r}{extra})")
