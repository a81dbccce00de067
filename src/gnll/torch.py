"""PyTorch bridge: a drop-in, faster Gaussian negative log-likelihood loss.

``gnll.torch`` provides :func:`gaussian_nll_loss` and :class:`GaussianNLLLoss`,
replacements for :func:`torch.nn.functional.gaussian_nll_loss` and
:class:`torch.nn.GaussianNLLLoss` that compute the loss and its gradients in
gnll's fused OpenMP kernels. Importing this module imports torch; ``import
gnll`` alone never does. Install torch with ``pip install "gnll[torch]"``.

How a call is served
--------------------
*Fast path.* When every tensor argument is a plain CPU tensor with strided
layout and the same dtype, float32 or float64 (``var`` may also be a Python
float), the data are handed to gnll without copying (``tensor.numpy()``
shares memory) and the results come back through :func:`torch.from_numpy`.
With autograd off (``torch.no_grad()``, or no argument requiring grad) only
the loss is computed. Otherwise the call goes through a
:class:`torch.autograd.Function` that computes exactly the gradients autograd
asks for (``ctx.needs_input_grad`` becomes gnll's ``wrt=``):

* ``reduction="mean"`` or ``"sum"``: the forward pass computes the loss and
  the requested gradients together in one fused pass over the data and keeps
  the gradients for the backward pass, which only scales them by
  ``grad_output`` (usually 1, then nothing at all is done). One pass over the
  data instead of two; it holds one gradient array per differentiated
  argument between forward and backward, which is less than torch's own
  implementation keeps. This was chosen by measurement: see
  ``benchmarks/torch_bridge.py``.
* ``reduction="none"``: the upstream gradient is an array that is only known
  in the backward pass, so the forward pass computes the loss alone and the
  backward pass computes the gradients with ``grad_output`` in one gnll call.

gnll uses ``torch.get_num_threads()`` threads, so ``torch.set_num_threads``
governs it as it governs torch.

One difference from torch: torch's backward pass works on copies it made in
the forward pass, so it does not mind an argument being modified in place
between the two passes. gnll.torch keeps references instead of copies; where
its backward pass reads the arguments again (``reduction="none"``, and
double backward), such a modification makes it raise autograd's
``RuntimeError`` ("... modified by an inplace operation") rather than return
a gradient. With "mean" and "sum" the gradients were computed in the forward
pass and are returned unchanged.

*Fallback.* Everything else is computed by torch's own
:func:`torch.nn.functional.gaussian_nll_loss`, with the same semantics and
gnll's shape extensions (see below): tensors on other devices (CUDA, meta,
...), float16, bfloat16, complex and integer tensors, mixed dtypes, sparse or
nested tensors, tensor subclasses and modes with ``__torch_function__``,
tracing by ``torch.compile`` or ``torch.jit``, forward-mode AD (dual
tensors) and ``torch.func`` transforms, and a ``var`` or ``target`` that is
neither a tensor nor (for ``var``) a Python float, a tensor ``eps`` and a
NaN ``eps`` (torch's results are then NaN; gnll's NumPy API refuses it).

*Higher-order gradients.* When the backward pass itself is differentiated
(``create_graph=True``, ``torch.autograd.grad(..., create_graph=True)``,
``gradgradcheck``), the gradients are computed by differentiable torch
expressions, so double backward works and gives torch's values.

Semantics and differences from torch
------------------------------------
Values, gradients (the eps clamp is straight-through, as in torch) and the
``ValueError`` messages for a negative ``var``, a ``var`` of incorrect size and
an invalid ``reduction`` (checked in that order) are torch's. gnll accepts a
little more than torch (torch >= 2.10): a ``var`` with several size-1
dimensions where ``input`` has larger ones (e.g. var ``(4, 3, 1, 1)`` for input
``(4, 3, 2, 2)``), and a 0-d tensor ``var`` for an input of any shape; both are
treated as broadcasting. Where ``target`` does not broadcast against ``input``,
torch raises ``RuntimeError`` and gnll raises ``ValueError`` naming both
shapes. :class:`GaussianNLLLoss` checks ``reduction`` when it is constructed,
torch only when it is called.

Options beyond torch
--------------------
The keyword-only options of :func:`gnll.gaussian_nll_loss` are accepted
too: ``log_var=`` or ``std=`` instead of ``var`` (exactly one of the three),
``beta=`` (β-NLL), ``weight=`` (sample weights, constants for autograd) and
``clamp_grad="zero"`` (MLX's gradient at the clamp); the module takes
``beta`` and ``clamp_grad`` at construction and ``log_var``, ``std`` and
``weight`` when called. The defaults are torch's behaviour. With options,
the fast path computes in gnll's kernels and the fallback with a
differentiable torch expression of the same formulas; the two agree in
values and gradients. Gradients flow to ``input``, ``target`` and the
variance parameter given; a ``weight`` that requires grad is an error, and
one modified in place between the forward and the backward pass raises
autograd's ``RuntimeError`` where the backward pass reads it, as the other
arguments do. With β-NLL, the variance parameter's gradient is by design not
the derivative of the loss's value (the factor ``v**beta`` is a constant for
autograd), so ``gradcheck`` applies to ``input`` and ``target`` only.

>>> import torch
>>> from gnll.torch import GaussianNLLLoss
>>> loss_fn = GaussianNLLLoss(beta=0.5)
>>> log_var = torch.zeros(2, 3, requires_grad=True)
>>> loss = loss_fn(torch.zeros(2, 3), torch.ones(2, 3), log_var=log_var)
>>> loss
tensor(0.5000, grad_fn=<_GaussianNLLFunctionBackward>)
>>> loss.backward()
>>> log_var.grad
tensor([[0., 0., 0.],
        [0., 0., 0.]])
"""

import math

import numpy as np
import torch
import torch.nn.functional as _F
from torch.autograd import forward_ad as _forward_ad
from torch.overrides import has_torch_function_variadic as _has_torch_function

from . import gaussian_nll_loss as _np_loss
from . import gaussian_nll_loss_and_grad as _np_loss_and_grad
from ._loss import _same_shape_loss_and_grad
from ._validation import check_beta as _check_beta
from ._validation import check_eps as _check_eps
from ._validation import check_clamp_grad as _check_clamp_grad
from ._validation import check_reduction as _check_reduction
from ._validation import select_variance as _select_variance
from ._validation import broadcast_shape as _broadcast_shape
from ._validation import var_shape as _var_shape

__all__ = ["gaussian_nll_loss", "GaussianNLLLoss"]

_NAMES = ("input", "target", "var")
_NATIVE_DTYPES = (torch.float32, torch.float64)
_REDUCTIONS = ("none", "mean", "sum")

# Compute the gradients in the forward pass for "mean"/"sum" (one fused pass)
# rather than recomputing them in the backward pass. Private switch, used by
# benchmarks/torch_bridge.py to measure both strategies.
_FUSED_FORWARD = True

_functorch_wrapped = getattr(
    getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None
)
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)


def _n_threads():
    return torch.get_num_threads()


_is_compiling = torch.compiler.is_compiling
_jit_is_tracing = torch.jit.is_tracing
_STRIDED = torch.strided


def _fast_path_ok(input, target, var, reduction):
    """Whether gnll's kernels can serve this call (else torch's own does).

    This runs on every call, so it is written for speed.
    """
    if not (
        isinstance(input, torch.Tensor)
        and isinstance(target, torch.Tensor)
        and isinstance(reduction, str)  # torch raises TypeError for e.g. None
    ):
        return False
    if isinstance(var, torch.Tensor):
        tensors = (input, target, var)
    elif isinstance(var, float):  # torch raises TypeError for an int var
        tensors = (input, target)
    else:
        return False
    if (
        _has_torch_function(input, target, var)
        or _is_compiling()
        or _jit_is_tracing()
        or (_functorch_active is not None and _functorch_active())
    ):
        return False
    dtype = input.dtype
    if dtype not in _NATIVE_DTYPES:
        return False
    dual = _forward_ad._current_level >= 0
    for t in tensors:
        if (
            t.dtype != dtype
            or not t.is_cpu
            or t.layout != _STRIDED
            or t.is_nested
            or t.is_neg()
            or (_functorch_wrapped is not None and _functorch_wrapped(t))
            or (dual and _forward_ad.unpack_dual(t).tangent is not None)
        ):
            return False
    return True


# ---------------------------------------------------------------- shape rules
def _torch_accepts_var(input_shape, var_shape):
    """torch >= 2.10's rule for the shape of a tensor var."""
    if var_shape == input_shape or input_shape[:-1] == var_shape:
        return True
    if len(var_shape) != len(input_shape):
        return False
    return sum(v for i, v in zip(input_shape, var_shape) if i != v) == 1


def _gnll_extra_var(input_shape, var_shape):
    """Whether gnll accepts ``var_shape`` by broadcasting where torch does not."""
    if len(var_shape) == 0:
        return True
    if len(var_shape) != len(input_shape):
        return False
    return all(v == 1 for i, v in zip(input_shape, var_shape) if i != v)


def _var_for_broadcast(var, input):
    """View of tensor ``var`` that broadcasts against ``input`` as the loss does."""
    if var.shape != input.shape and input.shape[:-1] == var.shape:
        return var.unsqueeze(-1)
    return var


# ------------------------------------------------------------------- fallback
def _torch_loss(input, target, var, full, eps, reduction):
    """torch's own implementation, with gnll's shape extensions."""
    if isinstance(var, torch.Tensor) and isinstance(input, torch.Tensor):
        if not _torch_accepts_var(input.shape, var.shape) and _gnll_extra_var(
            input.shape, var.shape
        ):
            # torch checks negative entries before shapes, as gnll does, so
            # expanding first changes no error; the expand is differentiable.
            var = var.expand(input.shape)
    return _F.gaussian_nll_loss(
        input, target, var, full=full, eps=eps, reduction=reduction
    )


def _torch_grads(input, target, var, grad_output, eps, reduction, needs):
    """Differentiable torch expressions for the gradients (double backward)."""
    var_is_tensor = isinstance(var, torch.Tensor)
    if var_is_tensor:
        vb = _var_for_broadcast(var, input)
        # Clamp values but let the gradient through unchanged, as torch does.
        vc = vb.clone()
        with torch.no_grad():
            vc.clamp_(min=eps)
    else:
        vc = max(var, eps)
    r = input - target
    g = grad_output
    if reduction == "mean":
        shape = torch.broadcast_shapes(
            r.shape, vc.shape if var_is_tensor else ()
        )
        g = g / math.prod(shape)
    gi = g * r / vc
    out = [None, None, None]
    if needs[0]:
        out[0] = gi.sum_to_size(input.shape) if input.shape != gi.shape else gi
    if needs[1]:
        gt = -gi
        out[1] = gt.sum_to_size(target.shape) if target.shape != gt.shape else gt
    if needs[2] and var_is_tensor:
        gv = g * (0.5 * (1.0 / vc - r * r / (vc * vc)))
        if gv.shape != vb.shape:
            gv = gv.sum_to_size(vb.shape)
        out[2] = gv.reshape(var.shape)
    return out


_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _clamp_st(x, lo):
    """``max(x, lo)`` whose gradient is the identity (straight-through), as
    torch clamps ``var``: the values are clamped outside autograd."""
    x = x.clone()
    with torch.no_grad():
        x.clamp_(min=lo)
    return x


def _clamp_zero(x, lo):
    """``max(x, lo)`` whose gradient is zero where ``x <= lo`` (MLX's rule);
    NaN stays NaN."""
    return torch.where(x <= lo, lo, x)


def _torch_loss_ext(input, target, param, name, full, eps, reduction, beta,
                    weight, zero):
    """The options of gnll's NumPy API as a differentiable torch expression.

    The fallback for calls with ``log_var``, ``std``, ``beta``, ``weight`` or
    ``clamp_grad``; also what double backward differentiates. ``name`` is
    "var", "log_var" or "std"; ``zero`` selects ``clamp_grad="zero"``.
    Checks and messages are those of the NumPy API, in its order.
    """
    if isinstance(eps, torch.Tensor):
        eps = eps.item()
    eps = _check_eps(eps)
    if not isinstance(param, torch.Tensor):
        dtype = input.dtype if input.is_floating_point() else torch.get_default_dtype()
        param = torch.as_tensor(param, dtype=dtype, device=input.device)
    if name != "log_var" and bool((param < 0).any()):
        raise ValueError(f"{name} has negative entry/entries")
    x_shape, p_shape = tuple(input.shape), tuple(param.shape)
    used = () if not p_shape else _var_shape(x_shape, p_shape, name)
    shape = _broadcast_shape(x_shape, tuple(target.shape), used)
    _check_reduction(reduction)
    if weight is not None:
        try:
            ok = torch.broadcast_shapes(weight.shape, shape) == shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"weight with shape {tuple(weight.shape)} cannot be broadcast "
                f"to the loss's shape {shape}"
            )
        if weight.numel():
            if not bool(torch.isfinite(weight).all()):
                raise ValueError("weight has non-finite entry/entries")
            if bool((weight < 0).any()):
                raise ValueError("weight has negative entry/entries")
    if used != p_shape:
        param = param.reshape(used)
    clamp = _clamp_zero if zero else _clamp_st
    r = input - target
    if name == "log_var":
        s = clamp(param, math.log(eps)) if eps > 0 else param
        u = r * torch.exp(-0.5 * s)  # r**2 * exp(-s) without overflow
        loss = 0.5 * (s + u * u)
        factor = torch.exp(beta * s.detach()) if beta else None
    else:
        v = clamp(param * param if name == "std" else param, eps)
        loss = 0.5 * (torch.log(v) + r * r / v)
        factor = v.detach() ** beta if beta else None
    if full:
        loss = loss + _HALF_LOG_2PI
    if factor is not None:
        loss = loss * factor
    if weight is not None:
        loss = loss * weight
    if loss.shape != shape:  # e.g. a target broadcast to a larger output
        loss = loss.expand(shape)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if weight is None:
        return loss.mean()
    return loss.sum() / torch.broadcast_to(weight, shape).sum()


# ------------------------------------------------------------------ fast path
def _as_numpy(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t


def _as_tensor(a):
    """A tensor sharing memory with gnll's result ``a`` (None stays None)."""
    if a is None:
        return None
    if type(a) is not np.ndarray:
        a = np.asarray(a)  # a NumPy scalar
    elif not a.flags.writeable:
        a = a.copy()
    return torch.from_numpy(a)


# wrt= for each combination of ctx.needs_input_grad[:3]
_WRT = {
    flags: tuple(n for n, f in zip(_NAMES, flags) if f)
    for flags in [(a, b, c) for a in (False, True) for b in (False, True) for c in (False, True)]
}
_NO_GRADS = (None, None, None)


def _np_args(v, ext):
    """gnll's ``var`` argument and keyword options for the variance value
    ``v`` (an array or a float) and the options ``ext`` (None: plain var)."""
    if ext is None:
        return v, {}
    name, beta, weight, clamp_grad = ext
    kw = {"beta": beta, "clamp_grad": clamp_grad}
    if weight is not None:
        kw["weight"] = weight.detach().numpy()
    if name == "var":
        return v, kw
    kw[name] = v
    return None, kw


class _GaussianNLLFunction(torch.autograd.Function):
    """Loss in gnll's kernels, gradients in gnll's kernels (see module doc).

    ``opts`` is ``(full, eps, reduction, n_threads, ext)``; ``var`` is a
    tensor or a float: the variance parameter, ``var`` itself or, when
    ``ext = (name, beta, weight, clamp_grad)`` is not None, the parameter
    ``name`` ("var", "log_var" or "std") with those options (``weight`` is a
    tensor or None, a constant for autograd).
    """

    @staticmethod
    def forward(ctx, input, target, var, opts):
        full, eps, reduction, n_threads, ext = opts
        ctx.opts = opts
        if ext is not None and ext[2] is not None:
            ctx.w_version = ext[2]._version
        var_is_tensor = isinstance(var, torch.Tensor)
        if var_is_tensor:
            ctx.save_for_backward(input, target, var)
            v = var.detach().numpy()
        else:
            ctx.save_for_backward(input, target)
            ctx.var_value = v = var
        x, y = input.detach().numpy(), target.detach().numpy()
        v, kw = _np_args(v, ext)
        wrt = _WRT[ctx.needs_input_grad[:3]]
        if _FUSED_FORWARD and reduction != "none" and wrt:
            if (ext is None and var_is_tensor and type(eps) is float
                    and x.shape == y.shape == v.shape and x.size and x.ndim
                    and x.flags.c_contiguous and y.flags.c_contiguous
                    and v.flags.c_contiguous and reduction in ("mean", "sum")):
                # the usual training call: the kernel without general planning
                loss, grads = _same_shape_loss_and_grad(
                    x, y, v, full, eps, reduction, wrt, n_threads)
            else:
                loss, grads = _np_loss_and_grad(
                    x, y, v, full, eps, reduction, wrt=wrt, n_threads=n_threads, **kw
                )
            ctx.grads = [_as_tensor(g) for g in grads]
        else:
            ctx.grads = None
            loss = _np_loss(x, y, v, full, eps, reduction, n_threads=n_threads, **kw)
        return _as_tensor(loss)

    @staticmethod
    def backward(ctx, grad_output):
        fused, ctx.grads = ctx.grads, None  # drop our reference early
        if fused is not None and not torch.is_grad_enabled():
            # Gradients computed in the forward pass for grad_output == 1.
            if grad_output.item() != 1.0:
                fused = [None if g is None else g * grad_output for g in fused]
            return (*fused, None)
        full, eps, reduction, n_threads, ext = ctx.opts
        if ext is not None and ext[2] is not None and ext[2]._version != ctx.w_version:
            raise RuntimeError(
                "weight, needed for the gradient computation, has been modified "
                "by an inplace operation between the forward and backward passes"
            )
        needs = ctx.needs_input_grad[:3]
        saved = ctx.saved_tensors
        input, target = saved[0], saved[1]
        var = saved[2] if len(saved) == 3 else ctx.var_value
        if torch.is_grad_enabled():
            # The backward pass is being recorded (create_graph=True): use
            # differentiable torch expressions so that it can be differentiated.
            if ext is None:
                grads = _torch_grads(
                    input, target, var, grad_output, eps, reduction, needs
                )
                return (*grads, None)
            return (*_torch_grads_ext(input, target, var, grad_output, ctx.opts,
                                      needs), None)
        wrt = _WRT[needs]
        if not wrt:
            return (*_NO_GRADS, None)
        v, kw = _np_args(
            var.detach().numpy() if isinstance(var, torch.Tensor) else var, ext
        )
        _, grads = _np_loss_and_grad(
            input.detach().numpy(),
            target.detach().numpy(),
            v,
            full,
            eps,
            reduction,
            grad_output=grad_output.detach().numpy(),
            wrt=wrt,
            n_threads=n_threads,
            **kw,
        )
        return (*(_as_tensor(g) for g in grads), None)


def _torch_grads_ext(input, target, var, grad_output, opts, needs):
    """Differentiable gradients for the options (double backward): autograd
    of :func:`_torch_loss_ext`, recorded on the graph of the arguments."""
    full, eps, reduction, _, (name, beta, weight, clamp_grad) = opts
    wanted = [t for t, n in zip((input, target, var), needs) if n]
    if not wanted:
        return list(_NO_GRADS)
    loss = _torch_loss_ext(input, target, var, name, full, eps, reduction, beta,
                           weight, clamp_grad == "zero")
    got = iter(torch.autograd.grad(loss, wanted, grad_output, create_graph=True))
    return [next(got) if n else None for n in needs]


# ----------------------------------------------------------------- public API
def gaussian_nll_loss(
    input,
    target,
    var=None,
    full=False,
    eps=1e-6,
    reduction="mean",
    *,
    log_var=None,
    std=None,
    beta=0.0,
    weight=None,
    clamp_grad="straight_through",
):
    """Gaussian negative log-likelihood loss, computed by gnll's kernels.

    A drop-in replacement for :func:`torch.nn.functional.gaussian_nll_loss`
    with the same arguments, values, gradients and errors; CPU float32 and
    float64 tensors are served by gnll's fused kernels, everything else by
    torch's own implementation (see :mod:`gnll.torch`).

    Parameters
    ----------
    input : torch.Tensor
        Predicted means.
    target : torch.Tensor
        Observations; broadcast against ``input``.
    var : torch.Tensor or float, optional
        Predicted variances, non-negative. The same shape as ``input``; or
        ``input.shape[:-1]`` (applied along the last dimension); or the same
        number of dimensions with size 1 where they differ from ``input``;
        or a 0-d tensor or a Python float (one variance for all). Required
        unless ``log_var`` or ``std`` is given.
    full : bool, default False
        Add the constant ``0.5 * log(2 * pi)`` to each element.
    eps : float, default 1e-6
        ``var`` is clamped to at least ``eps``; the clamp is invisible to the
        gradients, as in torch (see ``clamp_grad``). For ``std`` the clamp
        applies to ``std**2``, for ``log_var`` it is ``max(log_var,
        log(eps))`` (no clamp when ``eps <= 0``).
    reduction : {"mean", "sum", "none"}, default "mean"
        How the elementwise losses are reduced.
    log_var : torch.Tensor or float, optional, keyword-only
        Predicted log-variances ``s = log(var)``, instead of ``var`` (same
        shape rules, any real value). The loss ``0.5 * (s + r**2 *
        exp(-s))`` is computed without overflow; the gradient is with
        respect to ``log_var``.
    std : torch.Tensor or float, optional, keyword-only
        Predicted standard deviations, non-negative, instead of ``var``
        (same shape rules); the gradient is with respect to ``std``.
    beta : float, default 0.0, keyword-only
        β-NLL exponent (Seitzer et al., 2022): each element's loss is
        multiplied by ``v**beta``, ``v`` the clamped variance, treated as a
        constant (not differentiated). 0.5 is the usual choice; 1 gives the
        mean the squared error's gradient.
    weight : torch.Tensor, optional, keyword-only
        Finite, non-negative sample weights, broadcastable to the loss's
        shape (cast to ``input``'s dtype). Each element's loss is multiplied
        by its weight; "mean" becomes ``sum(weight * loss) / sum(weight)``
        (``weight`` broadcast to the loss's shape; NaN if all weights are
        zero). Weights are constants for autograd: a ``weight`` that
        requires grad raises ``ValueError`` (pass ``weight.detach()``).
    clamp_grad : {"straight_through", "zero"}, default "straight_through", keyword-only
        Gradient of the variance parameter where the variance is clamped:
        "straight_through" (torch) evaluates the gradient formula at the
        clamped value; "zero" (MLX) gives zero where ``var <= eps`` (or
        ``std**2 <= eps``, or ``log_var <= log(eps)``).

    Returns
    -------
    torch.Tensor
        A 0-d tensor for "mean" and "sum"; for "none", a tensor of the
        broadcast shape of ``input``, ``target`` and ``var``.

    Raises
    ------
    ValueError
        If ``var`` has a negative entry ("var has negative entry/entries"),
        has an incorrect shape ("var is of incorrect size"), or ``reduction``
        is not valid ("<reduction> is not valid"); checked in this order.
        Also if ``target`` does not broadcast against ``input``, where torch
        raises ``RuntimeError``. The same for ``std`` and ``log_var`` (which
        may be negative) in place of ``var``; also for a ``weight`` that is
        negative, not finite, does not broadcast to the loss or requires
        grad, a ``beta`` that is not finite and an unknown ``clamp_grad``,
        with the messages of :func:`gnll.gaussian_nll_loss`.
    TypeError
        Unless exactly one of ``var``, ``log_var`` and ``std`` is given, or
        if ``beta`` is not a real number.

    Notes
    -----
    Without the keyword-only options the function is torch's. With any of
    them it computes what :func:`gnll.gaussian_nll_loss` computes with the
    same options, on the fast path in gnll's kernels, otherwise (the same
    fallback cases as without options, see :mod:`gnll.torch`) with a
    differentiable torch expression that gives the same values and
    gradients, and is also what double backward differentiates.

    See Also
    --------
    GaussianNLLLoss : The same loss as a :class:`torch.nn.Module`.
    gnll.gaussian_nll_loss : The NumPy function underneath.

    Examples
    --------
    >>> import torch
    >>> from gnll.torch import gaussian_nll_loss
    >>> mean = torch.tensor([0.0, 1.0], requires_grad=True)
    >>> var = torch.tensor([1.0, 0.25], requires_grad=True)
    >>> loss = gaussian_nll_loss(mean, torch.tensor([0.5, 1.0]), var)
    >>> round(loss.item(), 4)
    -0.2841
    >>> loss.backward()
    >>> mean.grad
    tensor([-0.2500,  0.0000])
    >>> var.grad
    tensor([0.1875, 1.0000])

    The same variances as log-variances (the gradient is with respect to
    ``log_var``) or standard deviations:

    >>> log_var = torch.log(torch.tensor([1.0, 0.25])).requires_grad_()
    >>> loss = gaussian_nll_loss(mean, torch.tensor([0.5, 1.0]), log_var=log_var)
    >>> round(loss.item(), 4)
    -0.2841
    >>> loss.backward()
    >>> log_var.grad
    tensor([0.1875, 0.2500])
    >>> std = torch.tensor([1.0, 0.5])
    >>> round(gaussian_nll_loss(mean, torch.tensor([0.5, 1.0]), std=std).item(), 4)
    -0.2841

    β-NLL, and sample weights (here the second element does not count):

    >>> target = torch.tensor([0.5, 1.0])
    >>> gaussian_nll_loss(mean.detach(), target, var.detach(), beta=0.5, reduction="none")
    tensor([ 0.1250, -0.3466])
    >>> gaussian_nll_loss(mean.detach(), target, var.detach(),
    ...                   weight=torch.tensor([1.0, 0.0]))
    tensor(0.1250)

    MLX's clamp gradient: zero where the variance is at or below ``eps``:

    >>> v = torch.tensor([0.0, 0.25], requires_grad=True)
    >>> gaussian_nll_loss(mean.detach(), target, v, eps=1e-2, clamp_grad="zero").backward()
    >>> v.grad
    tensor([0., 1.])
    """
    if not (
        var is not None
        and log_var is None
        and std is None
        and weight is None
        and type(beta) in (float, int)
        and beta == 0
        and isinstance(clamp_grad, str)
        and clamp_grad == "straight_through"
    ):
        return _loss_with_options(
            input, target, var, full, eps, reduction,
            log_var, std, beta, weight, clamp_grad,
        )
    if (not _fast_path_ok(input, target, var, reduction) or isinstance(eps, torch.Tensor)
            or eps != eps):  # a NaN eps: torch's NaN results
        return _torch_loss(input, target, var, full, eps, reduction)
    if not isinstance(var, torch.Tensor):
        var = float(var)  # a NumPy float64 must not up-cast, as in torch
    n_threads = _n_threads()
    needs_grad = torch.is_grad_enabled() and (
        input.requires_grad
        or target.requires_grad
        or (isinstance(var, torch.Tensor) and var.requires_grad)
    )
    if not needs_grad:
        loss = _np_loss(
            _as_numpy(input),
            _as_numpy(target),
            _as_numpy(var),
            full,
            eps,
            reduction,
            n_threads=n_threads,
        )
        return _as_tensor(loss)
    return _GaussianNLLFunction.apply(
        input, target, var, (full, eps, reduction, n_threads, None)
    )


def _loss_with_options(input, target, var, full, eps, reduction, log_var, std,
                       beta, weight, clamp_grad):
    """gaussian_nll_loss with any of the keyword-only options."""
    for arg, what in ((input, "input"), (target, "target")):
        if not isinstance(arg, torch.Tensor):
            raise TypeError(
                f"gaussian_nll_loss(): {what} must be a tensor, not {type(arg).__name__}"
            )
    name, param = _select_variance(var, log_var, std)
    beta = _check_beta(beta)
    clamp_grad = _check_clamp_grad(clamp_grad)
    if weight is not None:
        if not isinstance(weight, torch.Tensor):
            weight = torch.as_tensor(weight, device=input.device)
        if weight.requires_grad and torch.is_grad_enabled():
            raise ValueError(
                "weight requires grad, but gnll.torch treats sample weights as "
                "constants and does not differentiate them; pass weight.detach()"
            )
        if input.is_floating_point() and weight.dtype != input.dtype:
            weight = weight.to(input.dtype)
    if type(param) is int:
        param = float(param)
    elif isinstance(param, float):
        param = float(param)  # a NumPy float64 must not up-cast
    if not (
        _fast_path_ok(input, target, param, reduction)
        and (weight is None or _fast_path_ok(input, weight, param, reduction))
        and not isinstance(eps, torch.Tensor)
    ):
        return _torch_loss_ext(input, target, param, name, full, eps, reduction,
                               beta, weight, clamp_grad == "zero")
    ext = (name, beta, weight, clamp_grad)
    n_threads = _n_threads()
    needs_grad = torch.is_grad_enabled() and (
        input.requires_grad
        or target.requires_grad
        or (isinstance(param, torch.Tensor) and param.requires_grad)
    )
    if not needs_grad:
        v, kw = _np_args(_as_numpy(param), ext)
        loss = _np_loss(_as_numpy(input), _as_numpy(target), v, full, eps,
                        reduction, n_threads=n_threads, **kw)
        return _as_tensor(loss)
    return _GaussianNLLFunction.apply(
        input, target, param, (full, eps, reduction, n_threads, ext)
    )


class GaussianNLLLoss(torch.nn.GaussianNLLLoss):
    """Gaussian negative log-likelihood loss module backed by gnll's kernels.

    A drop-in replacement for :class:`torch.nn.GaussianNLLLoss` (and a
    subclass of it): ``loss_fn(input, target, var)`` calls
    :func:`gnll.torch.gaussian_nll_loss` with the module's settings. It has
    no parameters or buffers, so its ``state_dict`` is empty.

    Parameters
    ----------
    full : bool, default False
        Add the constant ``0.5 * log(2 * pi)`` to each element.
    eps : float, default 1e-6
        ``var`` is clamped to at least ``eps``.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the elementwise losses are reduced. Checked here, at
        construction (torch checks it only when the loss is called).
    beta : float, default 0.0
        β-NLL exponent (see :func:`gaussian_nll_loss`).
    clamp_grad : {"straight_through", "zero"}, default "straight_through"
        Gradient convention at the clamp (see :func:`gaussian_nll_loss`).

    Raises
    ------
    ValueError
        If ``reduction`` is not valid, ``beta`` is not finite or
        ``clamp_grad`` is unknown.
    TypeError
        If ``beta`` is not a real number.

    Notes
    -----
    Called as ``loss_fn(input, target, var)``, or with ``log_var=`` or
    ``std=`` instead of ``var``, and optionally ``weight=``. The repr shows
    ``beta`` and ``clamp_grad`` when they are not the defaults.

    See Also
    --------
    gaussian_nll_loss : The functional form, with all the details.

    Examples
    --------
    >>> import torch
    >>> from gnll.torch import GaussianNLLLoss
    >>> loss_fn = GaussianNLLLoss(reduction="sum")
    >>> loss_fn
    GaussianNLLLoss(full=False, eps=1e-06, reduction='sum')
    >>> input = torch.tensor([[0.5, 1.5], [2.0, 4.0]])
    >>> var = torch.tensor([[0.5], [1.5]])  # one variance per row
    >>> round(loss_fn(input, torch.zeros(2, 2), var).item(), 4)
    8.879

    A β-NLL loss with MLX's clamp gradient, on standard deviations with
    sample weights:

    >>> beta_nll = GaussianNLLLoss(beta=0.5, clamp_grad="zero")
    >>> beta_nll
    GaussianNLLLoss(full=False, eps=1e-06, reduction='mean', beta=0.5, clamp_grad='zero')
    >>> std = torch.tensor([[1.0], [2.0]])
    >>> round(beta_nll(input, torch.zeros(2, 2), std=std,
    ...                weight=torch.tensor([[1.0], [3.0]])).item(), 4)
    3.071
    """

    def __init__(
        self,
        *,
        full=False,
        eps=1e-6,
        reduction="mean",
        beta=0.0,
        clamp_grad="straight_through",
    ):
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(
                f"{reduction} is not valid; reduction must be one of "
                "'none', 'mean' or 'sum'"
            )
        super().__init__(full=full, eps=eps, reduction=reduction)
        self.beta = _check_beta(beta)
        self.clamp_grad = _check_clamp_grad(clamp_grad)

    def forward(self, input, target, var=None, *, log_var=None, std=None, weight=None):
        """Compute the loss; see :func:`gnll.torch.gaussian_nll_loss`."""
        return gaussian_nll_loss(
            input,
            target,
            var,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
            log_var=log_var,
            std=std,
            beta=getattr(self, "beta", 0.0),
            weight=weight,
            clamp_grad=getattr(self, "clamp_grad", "straight_through"),
        )

    def extra_repr(self):
        """Settings shown in the module's repr (beta and clamp_grad only when
        they are not the defaults)."""
        text = f"full={self.full}, eps={self.eps}, reduction={self.reduction!r}"
        beta = getattr(self, "beta", 0.0)
        if beta != 0.0:
            text += f", beta={beta!r}"
        clamp_grad = getattr(self, "clamp_grad", "straight_through")
        if clamp_grad != "straight_through":
            text += f", clamp_grad={clamp_grad!r}"
        return text
