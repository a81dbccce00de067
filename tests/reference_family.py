"""Slow float64 twins of gnll's extended options (issue 5), written from the
formulas and sharing no code with the library.

* variance parameterisations: ``var`` (v = max(var, eps)), ``std``
  (v = max(std**2, eps)) and ``log_var`` (s_c = max(s, log eps), v = exp(s_c));
* beta-NLL (Seitzer et al. 2022): ``L_beta = stopgrad(v)**beta * l``, the
  paper's formula, with l the plain per-element loss (``full`` constant
  included);
* sample weights: ``w * L``, and "mean" = ``sum(w * L) / sum(w)``;
* the clamp gradient: straight-through (torch: the formula evaluated at the
  clamped value) or zero where the parameter is at or below the clamp (MLX);
* second derivatives and the Fisher information.

Shapes use the contract's rules through ``reference.py``.
"""

import math

import numpy as np

from reference import HALF_LOG_2PI, _prepare, aligned_var_shape, sum_to_shape


def _clamped(P, name, eps):
    """(v, log v, dv/dtheta, clamped mask) for the parameter array P."""
    if name == "log_var":
        log_eps = math.log(eps) if eps > 0 else -math.inf
        s = np.maximum(P, log_eps)
        return np.exp(s), s, np.exp(s), P <= log_eps
    vv = P * P if name == "std" else P
    v = np.maximum(vv, eps)
    dv = 2.0 * P if name == "std" else np.ones_like(P)
    return v, np.log(v), dv, vv <= eps


def family_loss_and_grads(input, target, param, name="var", full=False, eps=1e-6,
                          reduction="mean", beta=0.0, weight=None,
                          clamp_grad="straight_through", grad_output=None):
    """(loss, (d/dinput, d/dtarget, d/dparam)) in float64, in the shapes of
    the arguments as passed."""
    x, t, p, X, T, P, shape = _prepare(input, target, param)
    v, logv, dv, clamped = _clamped(P, name, eps)
    r = X - T
    loss = 0.5 * (logv + r**2 / v)
    if full:
        loss = loss + HALF_LOG_2PI
    bw = v**beta  # stop-gradient weight of beta-NLL
    W = np.ones(shape) if weight is None else np.broadcast_to(
        np.asarray(weight, dtype=np.float64), shape)
    loss = W * bw * loss
    n = loss.size
    denom = W.sum()
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.sum() / denom if n and denom else math.nan

    g = np.ones(shape) if grad_output is None else np.broadcast_to(
        np.asarray(grad_output, dtype=np.float64), shape)
    if reduction == "mean":
        g = g / denom if denom else g * math.nan
    g = g * W * bw
    d_mu = g * r / v
    d_param = g * 0.5 * (1.0 / v - r**2 / v**2) * dv
    if clamp_grad == "zero":
        d_param = np.where(clamped, 0.0, d_param)
    a_shape = aligned_var_shape(x.shape, p.shape)
    return out, (sum_to_shape(d_mu, x.shape, x.shape),
                 sum_to_shape(-d_mu, t.shape, t.shape),
                 sum_to_shape(d_param, p.shape, a_shape))


def family_curvature(input, target, param, name="var", eps=1e-6, kind="hessian",
                     beta=0.0, weight=None, clamp_grad="straight_through"):
    """Per-element (d2/dmu2, d2/dparam2, d2/dmu dparam), reduction "none",
    by the chain rule through v written out term by term."""
    x, t, p, X, T, P, shape = _prepare(input, target, param)
    v, logv, dv, clamped = _clamped(P, name, eps)
    r = X - T
    # derivatives of l(mu, v) with respect to v
    l_v = 0.5 * (1.0 / v - r**2 / v**2)
    l_vv = r**2 / v**3 - 0.5 / v**2
    l_mv = -r / v**2
    # second derivative of v(theta) (straight-through clamp)
    if name == "var":
        d2v = np.zeros(shape)
    elif name == "std":
        d2v = np.full(shape, 2.0)
    else:
        d2v = v
    if kind == "hessian":
        h_mm = 1.0 / v
        h_pp = l_vv * dv**2 + l_v * d2v
        h_mp = l_mv * dv
    else:
        h_mm = 1.0 / v
        h_pp = 0.5 / v**2 * dv**2
        h_mp = np.zeros(shape)
    if clamp_grad == "zero":
        h_pp = np.where(clamped, 0.0, h_pp)
        h_mp = np.where(clamped, 0.0, h_mp)
    W = np.ones(shape) if weight is None else np.broadcast_to(
        np.asarray(weight, dtype=np.float64), shape)
    k = W * v**beta
    return h_mm * k, h_pp * k, h_mp * k


def central_difference(f, x0, h):
    """4th-order central difference of a scalar function f at x0."""
    # differences first: a locally constant f gives exactly 0
    return (8 * (f(x0 + h) - f(x0 - h)) - (f(x0 + 2 * h) - f(x0 - 2 * h))) / (12 * h)


def numerical_gradient(f, arr, rel_step=1e-3):
    """d f / d arr elementwise (arr a float64 array or Python float), with
    4th-order central differences and a step relative to each entry."""
    arr = np.array(arr, dtype=np.float64)
    grad = np.empty_like(arr)
    flat = arr.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        h = rel_step * max(abs(flat[i]), 1e-2)

        def fi(val, i=i):
            a = flat.copy()
            a[i] = val
            return float(f(a.reshape(arr.shape)))

        gflat[i] = central_difference(fi, flat[i], h)
    return grad
