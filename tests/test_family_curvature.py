"""gnll.gaussian_nll_curvature: second derivatives against finite differences
of the analytic gradients, against the float64 reference and (where torch is
installed) against torch's double backward; the Fisher information against
expectations by Gauss-Hermite quadrature."""

import math

import numpy as np
import pytest

import gnll
from reference import aligned_var_shape, sum_to_shape
from reference_family import central_difference, family_curvature

NAMES = ["var", "log_var", "std"]
EPS = 1e-3


def _param(rng, name, shape, below=False):
    p = {"var": rng.uniform(0.3, 2.0, shape), "std": rng.uniform(0.5, 1.5, shape),
         "log_var": rng.uniform(-1.0, 1.0, shape)}[name]
    if below:
        low = {"var": 0.3 * EPS, "std": 0.3 * math.sqrt(EPS), "log_var": math.log(EPS) - 2}[name]
        p = np.where(np.arange(p.size).reshape(shape) % 2 == 0, low, p)
    return p


def _fd_of_gradient(f, a0, h):
    """Elementwise central difference of an array-valued f, perturbing every
    entry of a0 at once (the elements are independent)."""
    return central_difference(f, a0, h)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("clamp_grad", ["straight_through", "zero"])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_hessian_matches_finite_differences_of_the_gradient(rng, name, clamp_grad, beta):
    x = rng.normal(size=(5, 4))
    t = rng.normal(size=(5, 4))
    p = _param(rng, name, (5, 4), below=(clamp_grad == "zero"))
    w = rng.uniform(0.5, 2.0, (5, 4))
    kw = dict(eps=EPS, reduction="sum", clamp_grad=clamp_grad, weight=w)
    # beta-NLL: the weight v**beta is frozen, so differentiate with it fixed
    frozen = w * family_curvature(x, t, p, name, eps=EPS, beta=beta)[0] * \
        (1.0 / family_curvature(x, t, p, name, eps=EPS)[0])

    def grads(xx=x, pp=p):
        kw2 = dict(kw, weight=frozen)
        return gnll.gaussian_nll_loss_and_grad(xx, t, **{name: pp}, **kw2)[1]

    h = 1e-4
    d_mm = _fd_of_gradient(lambda a: grads(xx=a).input, x, h)
    d_mp = _fd_of_gradient(lambda a: grads(pp=a).input, p, h)
    d_pp = _fd_of_gradient(lambda a: grads(pp=a).var, p, h)
    c = gnll.gaussian_nll_curvature(x, t, **{name: p}, eps=EPS, clamp_grad=clamp_grad,
                                    beta=beta, weight=w)
    for got, fd in ((c.input, d_mm), (c.input_var, d_mp), (c.var, d_pp)):
        np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-8 * (np.max(np.abs(fd)) + 1))


LAYOUTS = {
    "full": ((3, 4), (3, 4), (3, 4)),
    "rows": ((3, 4), (3, 4), (3, 1)),
    "fewer-dims": ((2, 3, 4), (2, 3, 4), (2, 3)),
    "scalar": ((3, 4), (4,), ()),
    "broadcast": ((2, 3, 4), (2, 3, 4), (1, 3, 1)),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["hessian", "fisher"])
@pytest.mark.parametrize("clamp_grad", ["straight_through", "zero"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_against_reference_all_reductions(rng, layout, name, kind, clamp_grad, dtype):
    xs, ts, ps = LAYOUTS[layout]
    x = rng.normal(size=xs).astype(dtype)
    t = rng.normal(size=ts).astype(dtype)
    p = np.asarray(_param(rng, name, ps, below=True), dtype=dtype)
    shape = np.broadcast_shapes(xs, ts)
    w = rng.uniform(0.0, 2.0, shape[-1:]).astype(dtype)
    kw = dict(eps=EPS, kind=kind, clamp_grad=clamp_grad, beta=0.5, weight=w)
    ref = family_curvature(x, t, p, name, **kw)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    W = np.broadcast_to(w.astype(np.float64), shape)
    a_shape = aligned_var_shape(xs, ps)
    for reduction in ("none", "sum", "mean"):
        c = gnll.gaussian_nll_curvature(x, t, **{name: p}, reduction=reduction, **kw)
        scale = {"none": 1.0, "sum": 1.0, "mean": 1.0 / W.sum()}[reduction]
        exp_mm, exp_pp, exp_mp = (r * scale for r in ref)
        if reduction != "none":
            exp_mm = sum_to_shape(exp_mm, xs, xs)
            exp_pp = sum_to_shape(exp_pp, ps, a_shape)
        for got, exp in ((c.input, exp_mm), (c.var, exp_pp), (c.input_var, exp_mp)):
            assert got.dtype == dtype
            assert got.shape == np.shape(exp)
            np.testing.assert_allclose(got, exp, rtol=tol, atol=tol * (np.max(np.abs(exp)) + 1))


@pytest.mark.parametrize("name", NAMES)
def test_fisher_is_the_expected_hessian_and_score_outer_product(name):
    """E over y ~ N(mu, v) by 20-point Gauss-Hermite quadrature (exact for
    these low-degree polynomials in y)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(20)
    weights = weights / weights.sum()
    mu = 0.3
    p = {"var": 1.7, "std": 1.3, "log_var": -0.4}[name]
    v = {"var": 1.7, "std": 1.3**2, "log_var": math.exp(-0.4)}[name]
    ys = mu + math.sqrt(v) * nodes
    h = gnll.gaussian_nll_curvature(np.full(20, mu), ys, **{name: p}, reduction="none")
    f = gnll.gaussian_nll_curvature(np.full(20, mu), ys, **{name: p}, kind="fisher",
                                    reduction="none")
    for fld in ("input", "var", "input_var"):
        expected = float(np.sum(weights * getattr(h, fld)))
        assert float(getattr(f, fld)[0]) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    _, g = gnll.gaussian_nll_loss_and_grad(np.full(20, mu), ys, **{name: np.full(20, p)},
                                           reduction="none")
    assert float(f.input[0]) == pytest.approx(np.sum(weights * g.input**2), rel=1e-12)
    assert float(f.var[0]) == pytest.approx(np.sum(weights * g.var**2), rel=1e-12)
    closed = {"var": 1 / (2 * v * v), "std": 2 / p**2, "log_var": 0.5}[name]
    assert float(f.var[0]) == pytest.approx(closed, rel=1e-14)
    assert float(f.input[0]) == pytest.approx(1 / v, rel=1e-14)


def test_hessian_is_indefinite_for_var():
    rng = np.random.default_rng(0)
    x, t, v = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 3, 50)
    c = gnll.gaussian_nll_curvature(x, t, v)
    det = c.input * c.var - c.input_var**2
    np.testing.assert_allclose(det, -0.5 / v**3, rtol=1e-12)


def test_kind_and_reduction_errors():
    with pytest.raises(ValueError, match="kind"):
        gnll.gaussian_nll_curvature(0.0, 1.0, 1.0, kind="gauss-newton")
    with pytest.raises(ValueError, match="abc is not valid"):
        gnll.gaussian_nll_curvature(0.0, 1.0, 1.0, reduction="abc")
    with pytest.raises(ValueError, match="var has negative"):
        gnll.gaussian_nll_curvature(np.zeros(2), np.ones(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="std has negative"):
        gnll.gaussian_nll_curvature(np.zeros(2), np.ones(2), std=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gnll.gaussian_nll_curvature(np.zeros((2, 3)), 1.0, np.ones((2, 2)))


core = pytest.importorskip("gnll._core")


@pytest.mark.parametrize("path", [p for p, ok in core.simd_paths() if ok])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_simd_path_and_thread_count(rng, path, name, dtype):
    before = core.get_simd_path()
    n = max(3 * core.CHUNK, 2 * core.PARALLEL_THRESHOLD) + 11  # multi-threaded
    x = rng.normal(size=n).astype(dtype)
    t = rng.normal(size=n).astype(dtype)
    p = np.asarray(_param(rng, name, (n,), below=True), dtype=dtype)
    w = rng.uniform(0, 2, n).astype(dtype)
    try:
        core.set_simd_path(path)
        kw = dict(eps=EPS, beta=0.3, weight=w, clamp_grad="zero")
        c1 = gnll.gaussian_nll_curvature(x, t, **{name: p}, **kw)
        ref = family_curvature(x, t, p, name, **kw)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        for got, exp in zip(c1, ref):
            np.testing.assert_allclose(got, exp, rtol=tol, atol=tol * np.max(np.abs(exp)))
        threadpoolctl = pytest.importorskip("threadpoolctl")
        with threadpoolctl.threadpool_limits(1, user_api="openmp"):
            c2 = gnll.gaussian_nll_curvature(x, t, **{name: p}, **kw)
        for a, b in zip(c1, c2):
            assert a.tobytes() == b.tobytes()
    finally:
        core.set_simd_path(before)


torch = pytest.importorskip("torch")


def _torch_hessian(name, x, t, p, eps):
    """Per-element second derivatives by torch's double backward, with the
    straight-through clamp written as torch's gaussian_nll_loss writes it."""
    X = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    P = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    T = torch.tensor(t, dtype=torch.float64)
    if name == "log_var":
        s = P.clone()
        with torch.no_grad():
            s.clamp_(min=math.log(eps))
        loss = (0.5 * (s + (X - T) ** 2 * torch.exp(-s))).sum()
    else:
        var = P * P if name == "std" else P
        loss = torch.nn.functional.gaussian_nll_loss(X, T, var, eps=eps, reduction="sum")
    gx, gp = torch.autograd.grad(loss, (X, P), create_graph=True)
    h_mm = torch.autograd.grad(gx.sum(), X, retain_graph=True)[0]
    h_mp = torch.autograd.grad(gx.sum(), P, retain_graph=True)[0]
    h_pp = torch.autograd.grad(gp.sum(), P)[0]
    return h_mm.numpy(), h_pp.numpy(), h_mp.numpy()


@pytest.mark.parametrize("name", NAMES)
def test_straight_through_hessian_matches_torch_double_backward(rng, name):
    x = rng.normal(size=12)
    t = rng.normal(size=12)
    p = _param(rng, name, (12,), below=True)  # half of them clamped
    ref = _torch_hessian(name, x, t, p, EPS)
    c = gnll.gaussian_nll_curvature(x, t, **{name: p}, eps=EPS)
    for got, exp in zip((c.input, c.var, c.input_var), ref):
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12 * np.max(np.abs(exp)))
