"""Second derivatives and Fisher information of the Gaussian NLL.

:func:`gaussian_nll_curvature` gives the per-element curvature of the loss
with respect to the mean and the variance parameter (``var``, ``log_var`` or
``std``): the diagonal second derivatives, the mixed one, or their
expectation under the model (the Fisher information), computed by the
compiled kernels (float64 arithmetic, one multi-threaded pass writing the
three per-element arrays).  It shares the argument checks and shape rules of
:func:`gnll.gaussian_nll_loss`.
"""
import math
from collections import namedtuple

import numpy as np

from . import _core
from ._buffers import take
from ._loss import _PARAM_CODES, _operand, _plan, default_n_threads
from ._validation import (
    check_beta,
    check_clamp_grad,
    check_eps,
    check_reduction,
    check_weight,
    select_variance,
)

__all__ = ["gaussian_nll_curvature", "Curvature"]

KINDS = ("hessian", "fisher")

_CURV_F64 = _core.curvature["double"]
_CURV_F32 = _core.curvature["float"]

Curvature = namedtuple("Curvature", ["input", "var", "input_var"])
Curvature.__doc__ = """Curvature of the loss: second derivatives, one field per pair.

``input`` is :math:`\\partial^2 L/\\partial\\mu^2`, ``var`` is
:math:`\\partial^2 L/\\partial\\theta^2` for the variance parameter
:math:`\\theta` that was passed (``var``, ``log_var`` or ``std``), and
``input_var`` is the mixed :math:`\\partial^2 L/\\partial\\mu\\,\\partial\\theta`
(zero for the Fisher information).  See :func:`gaussian_nll_curvature` for
their shapes.

Examples
--------
>>> import numpy as np
>>> import gnll
>>> c = gnll.gaussian_nll_curvature(np.zeros(2), np.ones(2), np.array([1.0, 2.0]))
>>> c._fields
('input', 'var', 'input_var')
>>> c.input
array([1. , 0.5])
"""
Curvature.input.__doc__ = "Second derivative with respect to ``input`` (the mean)."
Curvature.var.__doc__ = (
    "Second derivative with respect to the variance parameter that was passed "
    "(``var``, ``log_var`` or ``std``)."
)
Curvature.input_var.__doc__ = (
    "Mixed second derivative with respect to ``input`` and the variance "
    "parameter, per element of the loss."
)


def _sum_to(a, shape):
    """Sum `a` over the dimensions `shape` was broadcast along, in float64."""
    if a.shape == tuple(shape):
        return a
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1)
    return np.asarray(a.sum(axis=axes, dtype=np.float64), dtype=a.dtype).reshape(shape)


def gaussian_nll_curvature(input, target, var=None, *, log_var=None, std=None,
                           eps=1e-6, kind="hessian", reduction="none", beta=0.0,
                           weight=None, clamp_grad="straight_through"):
    r"""Second derivatives or Fisher information of the Gaussian NLL.

    For Newton and quasi-Newton steps, natural-gradient methods and Laplace
    approximations: the curvature of the loss of
    :func:`gaussian_nll_loss` with respect to the mean :math:`\mu`
    (``input``) and the variance parameter :math:`\theta` (whichever of
    `var`, `log_var` and `std` is given), elementwise.

    Parameters
    ----------
    input, target : array_like
        As for :func:`gaussian_nll_loss`.
    var, log_var, std : array_like or float, optional
        The variance parameter; exactly one is given, with the shape rules
        and meaning of :func:`gaussian_nll_loss`.
    eps : float, optional
        The variance clamp, as for :func:`gaussian_nll_loss`.  Default 1e-6.
    kind : {'hessian', 'fisher'}, optional
        ``'hessian'`` (default): the second derivatives at the given target.
        ``'fisher'``: their expectation over :math:`y \sim \mathcal N(\mu,
        v)`, the Fisher information, which is positive and has no mixed term.
    reduction : {'none', 'sum', 'mean'}, optional
        ``'none'`` (default): per-element values, in the broadcast shape of
        the loss.  ``'sum'`` and ``'mean'``: the diagonal of the Hessian (or
        Fisher matrix) of the summed or averaged loss with respect to
        ``input`` and the variance parameter, each in the shape of its
        argument as passed (summed over the dimensions it was broadcast
        along); the mixed term keeps the loss's shape.  ``'mean'`` divides
        by the number of elements (by the sum of the weights when `weight`
        is given).
    beta, weight, clamp_grad
        As for :func:`gaussian_nll_loss`: every term is multiplied by the
        constant :math:`w\,v^\beta`, and with ``clamp_grad='zero'`` the terms
        involving the variance parameter are zero where it is clamped.

    Returns
    -------
    Curvature
        Named tuple ``(input, var, input_var)`` of ndarrays in the compute
        dtype (see :func:`gaussian_nll_loss`): :math:`\partial^2
        L/\partial\mu^2`, :math:`\partial^2 L/\partial\theta^2` and
        :math:`\partial^2 L/\partial\mu\,\partial\theta`.  The field ``var``
        refers to the parameter passed.  For the target,
        :math:`\partial^2 L/\partial y^2 = \partial^2 L/\partial\mu^2` and
        :math:`\partial^2 L/\partial y\,\partial\theta = -\partial^2
        L/\partial\mu\,\partial\theta`.

    Raises
    ------
    ValueError
        As :func:`gaussian_nll_loss`, and for an unknown `kind`.
    TypeError
        As :func:`gaussian_nll_loss`.

    See Also
    --------
    gaussian_nll_loss_and_grad : the loss and its gradients.

    Notes
    -----
    With :math:`r = \mu - y` and :math:`v` the clamped variance, the
    per-element second derivatives are

    ==========================  ======================  ===========================  ==========================
    parameter :math:`\theta`    :math:`\ell_{\mu\mu}`   :math:`\ell_{\theta\theta}`  :math:`\ell_{\mu\theta}`
    ==========================  ======================  ===========================  ==========================
    ``var`` (:math:`v`)         :math:`1/v`             :math:`r^2/v^3 - 1/(2v^2)`   :math:`-r/v^2`
    ``log_var`` (:math:`s`)     :math:`1/v`             :math:`r^2/(2v)`             :math:`-r/v`
    ``std`` (:math:`\sigma`)    :math:`1/v`             :math:`3r^2/v^2 - 1/v` [*]_  :math:`-2r/v^{3/2}`
    ==========================  ======================  ===========================  ==========================

    and the Fisher information is :math:`1/v` for the mean and
    :math:`1/(2v^2)`, :math:`1/2` and :math:`2/\sigma^2` for ``var``,
    ``log_var`` and ``std``, with no mixed term.  The clamp is straight
    through, as for the gradients: the formulas are evaluated at the clamped
    value as if the clamp were the identity (for ``std`` they are computed by
    the chain rule through :math:`v = \sigma^2`, so they hold exactly as
    shown where :math:`\sigma^2 \ge \epsilon`; below it they use
    :math:`\sigma` and :math:`v = \epsilon`).

    .. [*] Both ``std`` entries hold where :math:`\sigma^2 \ge \epsilon`; in general
       :math:`4\sigma^2\ell_{vv} + 2\ell_v` and :math:`-2\sigma r/v^2`.

    The loss is not jointly convex in :math:`(\mu, \sigma^2)`: the
    determinant :math:`\ell_{\mu\mu}\ell_{vv} - \ell_{\mu v}^2 =
    -1/(2v^3)` of the per-element Hessian is negative, so a Newton step
    should use the Fisher information (always positive) or a safeguard.

    The three arrays are computed in one multi-threaded pass of the compiled
    kernels, in float64 arithmetic rounded once to the compute dtype.  A
    broadcast variance parameter or weight is materialised at the loss's
    size first; the ``'sum'``/``'mean'`` reductions to the arguments' shapes
    are then done by NumPy in float64.

    Examples
    --------
    >>> import numpy as np
    >>> import gnll
    >>> mu = np.array([0.0, 1.0])
    >>> y = np.array([0.5, 1.0])
    >>> var = np.array([1.0, 0.25])
    >>> h = gnll.gaussian_nll_curvature(mu, y, var)
    >>> h.input
    array([1., 4.])
    >>> h.var
    array([-0.25, -8.  ])
    >>> h.input_var
    array([ 0.5, -0. ])

    The Fisher information for a log-variance is 1/2 whatever the variance:

    >>> gnll.gaussian_nll_curvature(mu, y, log_var=np.log(var), kind="fisher").var
    array([0.5, 0.5])

    For the mean loss, per argument as passed (one variance per row here):

    >>> f = gnll.gaussian_nll_curvature(np.zeros((2, 3)), np.ones((2, 3)),
    ...                                 np.array([1.0, 2.0]), kind="fisher",
    ...                                 reduction="mean")
    >>> f.var
    array([0.25  , 0.0625])
    """
    if not (isinstance(kind, str) and kind in KINDS):
        raise ValueError(f"kind={kind!r} is not valid: choose 'hessian' or 'fisher'")
    check_reduction(reduction)
    name, value = select_variance(var, log_var, std)
    beta = check_beta(beta)
    zero = check_clamp_grad(clamp_grad) == "zero"
    eps = check_eps(eps)
    (dtype, shape, mode, cols, xf, yf, vf,
     x_shape, y_shape, v_used) = _plan(input, target, value, reduction, name)
    n = xf.shape[0]
    # the parameter at the loss's size (a temporary when it is broadcast)
    if mode == "broadcast":
        pf = _operand(vf, shape, dtype)
    elif mode == "rows":
        pf = np.repeat(vf, cols)
    else:
        pf = vf
    if name != "log_var" and pf.size and np.any(pf < 0):
        raise ValueError(f"{name} has negative entry/entries")
    w = wf = None
    denom = float(n)
    if weight is not None:
        w = check_weight(weight, shape)
        wf = _operand(w, shape, dtype)
        denom = float(np.sum(w, dtype=np.float64)) * (n // w.size) if w.size else 0.0
    scale = 1.0
    if reduction == "mean":
        scale = 1.0 / denom if denom else math.nan
    h_mm = take(n, dtype)
    h_pp = take(n, dtype)
    h_mp = take(n, dtype)
    log_eps = math.log(eps) if eps > 0 else -math.inf
    kernel = _CURV_F32 if dtype == np.float32 else _CURV_F64
    kernel(xf, yf, pf, h_mm, h_pp, h_mp, eps, log_eps, _PARAM_CODES[name], beta,
           int(zero), int(kind == "fisher"), scale, wf, default_n_threads())
    h_mm = h_mm.reshape(shape)
    h_pp = h_pp.reshape(shape)
    h_mp = h_mp.reshape(shape)
    if reduction != "none":
        h_mm = _sum_to(h_mm, x_shape)
        h_pp = _sum_to(h_pp, v_used).reshape(np.shape(value))
    return Curvature(h_mm, h_pp, h_mp)
