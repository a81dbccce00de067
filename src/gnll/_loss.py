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
from ._validation import (
    REDUCTIONS,
    as_operand,
    broadcast_shape,
    check_eps,
    check_n_threads,
    check_reduction,
    check_var_sign,
    check_wrt,
    compute_dtype,
    is_scalar_var,
    raise_first_error,
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
Grads.var.__doc__ = "Gradient with respect to ``var`` (the predicted variance)."


def _usable_cpus():
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


USABLE_CPUS = _usable_cpus()


def default_n_threads():
    """OpenMP's default team size (OMP_NUM_THREADS, threadpoolctl) capped at
    the CPUs this process may use."""
    return max(1, min(_core.max_threads(), USABLE_CPUS))


def _sum_to_shape(grad, shape):
    """Sum `grad` over the dimensions along which `shape` was broadcast."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, dtype=np.float64).astype(grad.dtype).reshape(shape)


def _operand(value, shape, dtype):
    """`value` as a C-contiguous flat array of `dtype` holding `shape`
    (a copy only when the layout, byte order or dtype requires one)."""
    if isinstance(value, np.ndarray) and value.shape != shape:
        value = np.broadcast_to(value, shape)
    elif not isinstance(value, np.ndarray):
        value = np.full(shape, value, dtype=dtype)
    return np.ascontiguousarray(value, dtype=dtype).reshape(-1)


_NATIVE_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _plan(input, target, var, reduction):
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
    v = as_operand(var, "var")
    if type(reduction) is not str or reduction not in REDUCTIONS:
        raise_first_error(x, y, v, reduction)
    dtype = compute_dtype(x, y, v)

    # ---- shapes: torch's var rule, NumPy broadcasting for target --------
    x_shape, y_shape = shape_of(x), shape_of(y)
    if is_scalar_var(v):
        check_var_sign(v)
        v_used = ()
    else:
        try:
            v_used = var_shape(x_shape, v.shape)
        except ValueError:
            check_var_sign(v)  # torch reports a negative var first
            raise
    try:
        shape = broadcast_shape(x_shape, y_shape, v_used)
    except ValueError:
        check_var_sign(v)
        raise

    # ---- how var maps onto the kernels -------------------------------------
    # "full": var has the output's shape; "rows": var is constant along the
    # trailing dimensions (scalar, (N, 1), one fewer dim, ...), so the kernel
    # reads one var per row of `cols` elements and never materialises it;
    # "broadcast": anything else, materialised, its gradient reduced after.
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
    if mode == "rows":
        vf = np.ascontiguousarray(v, dtype=dtype).reshape(-1)
    else:
        vf = _operand(v, shape, dtype)
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


def _evaluate(input, target, var, full, eps, reduction, n_threads, wrt=None,
              grad_output=None):
    """Shared implementation: returns (loss, Grads), or (loss, None) when
    `wrt` is None (the loss alone)."""
    (dtype, shape, mode, cols, xf, yf, vf,
     x_shape, y_shape, v_used) = _plan(input, target, var, reduction)
    if type(eps) is not float:
        eps = check_eps(eps)
    n_threads = default_n_threads() if n_threads is None else check_n_threads(n_threads)
    n = xf.shape[0]

    want = () if wrt is None else check_wrt(wrt)
    gscale, gout = _upstream(grad_output, reduction, shape, n, dtype) if want else (1.0, None)
    loss_out = np.empty(n, dtype) if reduction == "none" else None
    gx = np.empty(n, dtype) if "input" in want else None
    gy = np.empty(n, dtype) if "target" in want else None
    gv = None
    if "var" in want:
        gv = np.empty(vf.shape[0], np.float64 if mode == "rows" else dtype)

    c = HALF_LOG_2PI if full else 0.0
    f32 = dtype == np.float32
    if mode == "rows":
        kernel = _PER_ROW_F32 if f32 else _PER_ROW_F64
        total, negative = kernel(xf, yf, vf, cols, eps, c, loss_out, gx, gy, gv,
                                 gout, gscale, n_threads)
    else:
        kernel = _ELEMENTWISE_F32 if f32 else _ELEMENTWISE_F64
        total, negative = kernel(xf, yf, vf, eps, c, loss_out, gx, gy, gv,
                                 gout, gscale, n_threads)
    if negative or n == 0:
        check_var_sign(var if type(var) in (float, int, bool) else np.asarray(var))

    # ---- reduce the loss ------------------------------------------------
    if reduction == "none":
        loss = loss_out.reshape(shape)
    elif reduction == "sum":
        loss = dtype.type(total)
    else:
        loss = dtype.type(total / n if n else math.nan)
    if wrt is None:
        return loss, None

    # ---- gradients, in the shapes of the arguments as passed -------------
    grad_input = _sum_to_shape(gx.reshape(shape), x_shape) if gx is not None else None
    grad_target = _sum_to_shape(gy.reshape(shape), y_shape) if gy is not None else None
    grad_var = None
    if gv is not None:
        if mode == "rows":
            grad_var = gv.astype(dtype, copy=False)
        else:
            grad_var = _sum_to_shape(gv.reshape(shape), v_used)
        grad_var = grad_var.reshape(np.shape(var))
    return loss, Grads(grad_input, grad_target, grad_var)


# The kernels' float64 and float32 specialisations, looked up once: calling
# them directly skips Cython's per-call fused-type dispatch.
_ELEMENTWISE_F64 = _core.elementwise["double"]
_ELEMENTWISE_F32 = _core.elementwise["float"]
_PER_ROW_F64 = _core.per_row["double"]
_PER_ROW_F32 = _core.per_row["float"]


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean", *,
                      n_threads=None):
    r"""Gaussian negative log-likelihood loss.

    The loss of targets :math:`y` under Gaussians with means :math:`\mu`
    (``input``) and variances :math:`\sigma^2` (``var``), with PyTorch's
    semantics (``torch.nn.functional.gaussian_nll_loss``).

    Parameters
    ----------
    input : array_like
        Predicted means :math:`\mu`.
    target : array_like
        Observed values :math:`y`; broadcast against `input` with NumPy's rules.
    var : array_like or float
        Predicted variances :math:`\sigma^2 \ge 0`.  Either the shape of
        `input`; that shape with any dimensions equal to 1 (homoscedastic
        along them); that shape without its last dimension (one variance per
        row: a ``(N,)`` var for a ``(N, D)`` input); or a scalar (a number or
        0-d array).
    full : bool, optional
        Add the constant :math:`\tfrac12\log 2\pi` to every element, giving the
        exact negative log-density.  Default False.
    eps : float, optional
        Variances are clamped to ``max(var, eps)`` for stability.  Default 1e-6.
    reduction : {'mean', 'sum', 'none'}, optional
        Average or sum over all elements, or return the elementwise losses.
    n_threads : int, optional
        Number of OpenMP threads; default: OpenMP's default
        (``OMP_NUM_THREADS``, threadpoolctl) capped at the usable CPUs.
        Results are identical for every thread count.

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
        is not valid"); when several apply, in that order.
    TypeError
        For complex, object, string or extended-precision inputs.

    See Also
    --------
    gaussian_nll_loss_and_grad : the loss together with its gradients.
    GaussianNLLLoss : the same as a reusable callable object.

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
    """
    return _evaluate(input, target, var, full, eps, reduction, n_threads)[0]


def gaussian_nll_loss_and_grad(input, target, var, full=False, eps=1e-6,
                               reduction="mean", *, grad_output=None,
                               wrt=("input", "target", "var"), n_threads=None):
    r"""Gaussian negative log-likelihood loss and its gradients, in one pass.

    Parameters
    ----------
    input, target, var, full, eps, reduction
        As for :func:`gaussian_nll_loss`.
    grad_output : float or array_like, optional
        The upstream gradient :math:`\partial L_{\text{total}} / \partial L`: a
        scalar for ``'mean'`` and ``'sum'``; for ``'none'`` a scalar or an
        array broadcastable to the loss's shape.  Default 1.
    wrt : str or iterable of str, optional
        Which gradients to compute, among ``'input'``, ``'target'`` and
        ``'var'``.  Gradients not named are not computed and are None in the
        result.  Default: all three.
    n_threads : int, optional
        As for :func:`gaussian_nll_loss`.

    Returns
    -------
    loss : numpy scalar or ndarray
        As returned by :func:`gaussian_nll_loss`.
    grads : Grads
        Named tuple ``(input, target, var)`` of gradients.  Each has the shape
        of its argument as passed, summed over the dimensions along which it
        was broadcast (a ``(N, 1)`` var gets a ``(N, 1)`` gradient, a Python
        float var a 0-d one), and the compute dtype.

    Raises
    ------
    ValueError
        As :func:`gaussian_nll_loss`; also for an unknown name in `wrt` or a
        `grad_output` of the wrong shape.
    TypeError
        As :func:`gaussian_nll_loss`.

    See Also
    --------
    gaussian_nll_loss : the loss alone.

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
    """
    return _evaluate(input, target, var, full, eps, reduction, n_threads, wrt, grad_output)


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

    Raises
    ------
    ValueError
        If `reduction` is not 'none', 'mean' or 'sum'.

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
    """

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        check_reduction(reduction)
        self.full = bool(full)
        self.eps = check_eps(eps)
        self.reduction = reduction

    def __call__(self, input, target, var, *, n_threads=None):
        """The loss; see :func:`gaussian_nll_loss`."""
        return gaussian_nll_loss(input, target, var, self.full, self.eps,
                                 self.reduction, n_threads=n_threads)

    def loss_and_grad(self, input, target, var, *, grad_output=None,
                      wrt=("input", "target", "var"), n_threads=None):
        """The loss and its gradients; see :func:`gaussian_nll_loss_and_grad`."""
        return gaussian_nll_loss_and_grad(
            input, target, var, self.full, self.eps, self.reduction,
            grad_output=grad_output, wrt=wrt, n_threads=n_threads)

    def __repr__(self):
        return (f"{type(self).__name__}(full={self.full}, eps={self.eps!r}, "
                f"reduction={self.reduction!r})")
