"""Analytic gradients of the issue-5 options against 4th-order central finite
differences of gnll's own loss, in float64.

For beta-NLL the weight stopgrad(v)**beta is frozen at the evaluation point
(passed as a sample weight to the plain loss), which is what "not
differentiated" means.  In the "zero" clamp-gradient mode the loss really is
flat in the parameter below the clamp, so the finite differences are checked
there too; in the straight-through mode the parameters stay away from it.
"""

import math

import numpy as np
import pytest

import gnll
from reference import _prepare
from reference_family import numerical_gradient

LAYOUTS = {
    "full": ((3, 4), (3, 4), (3, 4)),
    "target-bcast": ((3, 4), (4,), (3, 4)),
    "rows": ((3, 4), (3, 4), (3, 1)),
    "rows-fewer-dims": ((2, 3, 4), (2, 3, 4), (2, 3)),
    "scalar": ((3, 4), (3, 4), ()),
    "broadcast": ((2, 3, 4), (3, 4), (1, 3, 1)),
}
EPS = 1e-3


def _param(rng, name, shape, below_clamp):
    if name == "var":
        p = rng.uniform(0.3, 2.0, shape)
        low = rng.uniform(0.1, 0.5, shape) * EPS
    elif name == "std":
        p = rng.uniform(0.5, 1.5, shape)
        low = rng.uniform(0.1, 0.5, shape) * math.sqrt(EPS)
    else:
        p = rng.uniform(-1.0, 1.0, shape)
        low = math.log(EPS) - rng.uniform(1.0, 3.0, shape)
    if below_clamp:
        mask = (np.arange(p.size) % 2 == 0).reshape(shape)
        p = np.where(mask, low, p)
    return np.asarray(p, dtype=np.float64)


def _frozen_variance(x, t, p, name):
    _, _, _, _, _, P, shape = _prepare(x, t, p)
    if name == "log_var":
        return np.exp(np.maximum(P, math.log(EPS)))
    return np.maximum(P * P if name == "std" else P, EPS)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", ["var", "log_var", "std"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("clamp_grad", ["straight_through", "zero"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradients_match_finite_differences(rng, layout, name, beta, weighted, clamp_grad,
                                            reduction):
    xs, ts, ps = LAYOUTS[layout]
    x = rng.normal(size=xs)
    t = rng.normal(size=ts)
    p = _param(rng, name, ps, below_clamp=(clamp_grad == "zero"))
    shape = np.broadcast_shapes(xs, ts)
    w = rng.uniform(0.2, 2.0, shape) if weighted else np.ones(shape)

    _, g = gnll.gaussian_nll_loss_and_grad(
        x, t, **{name: p}, eps=EPS, reduction=reduction, beta=beta,
        weight=w if weighted else None, clamp_grad=clamp_grad)

    # stopgrad(v)**beta, frozen, times the sample weights
    frozen = w * _frozen_variance(x, t, p, name) ** beta
    # "mean" divides by sum(w) (the frozen beta factor is not a sample weight)
    denom = w.sum() if reduction == "mean" else 1.0

    def loss(xx=x, tt=t, pp=p):
        return gnll.gaussian_nll_loss(xx, tt, **{name: pp}, eps=EPS, reduction="sum",
                                      weight=frozen) / denom

    fd = {
        "input": numerical_gradient(lambda a: loss(xx=a), x),
        "target": numerical_gradient(lambda a: loss(tt=a), t),
        "var": numerical_gradient(lambda a: loss(pp=a if a.shape else float(a)), p),
    }
    for field in ("input", "target", "var"):
        got = getattr(g, field)
        assert got.shape == fd[field].shape, field
        scale = np.max(np.abs(fd[field])) + 1e-3
        np.testing.assert_allclose(got, fd[field], rtol=1e-6, atol=1e-7 * scale,
                                   err_msg=f"d/d{field}")


@pytest.mark.parametrize("name", ["var", "log_var", "std"])
def test_grad_output_none_reduction(rng, name):
    """reduction='none' with an array grad_output: the vector-Jacobian product
    equals the gradient of sum(grad_output * loss)."""
    x = rng.normal(size=(4, 3))
    t = rng.normal(size=(4, 3))
    p = _param(rng, name, (4, 1), False)
    go = rng.normal(size=(4, 3))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, reduction="none",
                                           grad_output=go, beta=0.5)
    frozen = go * _frozen_variance(x, t, p, name) ** 0.5

    def loss(a):
        return np.sum(frozen * gnll.gaussian_nll_loss(x, t, **{name: a}, eps=EPS,
                                                      reduction="none"))

    np.testing.assert_allclose(g.var, numerical_gradient(loss, p), rtol=1e-6, atol=1e-9)


def test_straight_through_below_clamp_is_the_formula_at_eps():
    """Straight-through (default): below the clamp, d/dtheta is the formula at
    the clamped value times the chain factor of the parameter."""
    eps = 0.1
    x, t = np.array([1.0]), np.array([0.0])
    gv = 0.5 * (1 / eps - 1 / eps**2)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, np.array([0.01]), eps=eps)
    assert g.var[0] == pytest.approx(gv)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, log_var=np.array([-5.0]), eps=eps)
    assert g.var[0] == pytest.approx(gv * eps)  # dv/ds = v at the clamp
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, std=np.array([0.2]), eps=eps)
    assert g.var[0] == pytest.approx(gv * 2 * 0.2)  # dv/dsigma = 2 sigma
