"""Issue 5 options against the float64 reference of reference_family.py:
log_var / std parameterisations, beta-NLL, sample weights and the clamp
gradient mode, across shapes (var modes "full", "rows", "broadcast"),
dtypes, reductions, ``full`` and ``grad_output``."""

import math
import warnings

import numpy as np
import pytest

import gnll
from reference_family import family_loss_and_grads

NAMES = ["var", "log_var", "std"]

# (input shape, target shape, parameter shape): the kernels' three var layouts
SHAPES = {
    "full": ((4, 5), (4, 5), (4, 5)),
    "full-target-bcast": ((4, 5), (5,), (4, 5)),
    "rows-keepdim": ((4, 5), (4, 5), (4, 1)),
    "rows-fewer-dims": ((3, 4, 5), (3, 4, 5), (3, 4)),
    "rows-scalar-0d": ((6, 7), (6, 7), ()),
    "broadcast": ((4, 5), (4, 5), (1, 5)),
    "broadcast-3d": ((3, 4, 5), (4, 5), (1, 4, 1)),
}


def make_param(rng, name, shape, clamp_some=False):
    if name == "var":
        p = rng.uniform(0.2, 3.0, shape)
        low = 0.0
    elif name == "std":
        p = rng.uniform(0.4, 1.7, shape)
        low = 0.0
    else:
        p = rng.normal(0.0, 1.0, shape)
        low = -30.0
    if clamp_some and p.size > 1:
        flat = p.reshape(-1)
        flat[:: 3] = low  # below the clamp
    return p


def tol_for(dtype):
    return 1e-11 if dtype == np.float64 else 3e-5


def check_close(actual, expected, dtype, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    tol = tol_for(dtype)
    scale = np.sum(np.abs(expected)) + 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.parametrize("layout", sorted(SHAPES))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("clamp_grad", ["straight_through", "zero"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_against_reference(rng, layout, name, beta, weighted, clamp_grad, dtype):
    xs, ts, ps = SHAPES[layout]
    x = rng.normal(size=xs).astype(dtype)
    t = rng.normal(size=ts).astype(dtype)
    p = make_param(rng, name, ps, clamp_some=True).astype(dtype)
    if ps == ():
        p = np.asarray(p, dtype=dtype)
    shape = np.broadcast_shapes(xs, ts)
    w = rng.uniform(0.0, 2.0, shape[-1:]).astype(dtype) if weighted else None
    eps = 1e-2
    for reduction in ("none", "mean", "sum"):
        for full in (False, True):
            kw = dict(full=full, eps=eps, reduction=reduction, beta=beta, weight=w,
                      clamp_grad=clamp_grad)
            go = None
            if reduction == "none":
                go = rng.uniform(-1, 1, shape).astype(dtype)
            loss, grads = gnll.gaussian_nll_loss_and_grad(
                x, t, **{name: p}, **kw, grad_output=go)
            ref_loss, ref_grads = family_loss_and_grads(
                x, t, p, name, grad_output=go, **kw)
            what = f"{name} {layout} beta={beta} w={weighted} {reduction} full={full}"
            assert np.asarray(loss).dtype == dtype
            check_close(loss, ref_loss, dtype, "loss " + what)
            for field, ref in zip(("input", "target", "var"), ref_grads):
                got = getattr(grads, field)
                assert got.dtype == dtype, field
                check_close(got, ref, dtype, f"d/d{field} " + what)
            # the loss alone agrees with the fused call (to rounding: the
            # plain kernel divides by v without gradients, multiplies by 1/v with)
            alone = gnll.gaussian_nll_loss(x, t, **{name: p}, **kw)
            check_close(alone, loss, dtype, "loss alone " + what)


@pytest.mark.parametrize("name", NAMES)
def test_python_float_parameter(name):
    x = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    t = np.zeros((2, 3))
    p = {"var": 2.0, "std": 1.5, "log_var": -0.5}[name]
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, beta=0.5,
                                                  reduction="sum")
    ref_loss, ref_grads = family_loss_and_grads(x, t, p, name, reduction="sum", beta=0.5)
    assert grads.var.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-13)
    np.testing.assert_allclose(grads.var, ref_grads[2], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_same_variance_three_ways(rng, name):
    """var, std and log_var describing one variance give one loss and mean
    gradient; the parameter gradients are related by the chain rule."""
    x = rng.normal(size=(50, 3))
    t = rng.normal(size=(50, 3))
    var = rng.uniform(0.1, 4.0, (50, 3))
    p = {"var": var, "std": np.sqrt(var), "log_var": np.log(var)}[name]
    l0, g0 = gnll.gaussian_nll_loss_and_grad(x, t, var)
    l1, g1 = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p})
    np.testing.assert_allclose(l1, l0, rtol=1e-13)
    np.testing.assert_allclose(g1.input, g0.input, rtol=1e-12)
    chain = {"var": 1.0, "std": 2.0 * np.sqrt(var), "log_var": var}[name]
    np.testing.assert_allclose(g1.var, g0.var * chain, rtol=1e-10, atol=1e-15)


def test_default_path_matches_extended_path(rng):
    """beta=0 with weights of one (the extended kernels) reproduces the plain
    var kernel to rounding."""
    x = rng.normal(size=(300, 7))
    t = rng.normal(size=(300, 7))
    v = rng.uniform(0.1, 2.0, (300, 7))
    for vv in (v, v[:, :1], v[:, 0]):
        for reduction in ("none", "mean", "sum"):
            a = gnll.gaussian_nll_loss_and_grad(x, t, vv, reduction=reduction)
            b = gnll.gaussian_nll_loss_and_grad(x, t, vv, reduction=reduction,
                                                weight=np.ones(7))
            np.testing.assert_allclose(b[0], a[0], rtol=1e-14, atol=1e-14)
            for ga, gb in zip(a[1], b[1]):
                np.testing.assert_allclose(gb, ga, rtol=1e-14, atol=1e-15)


def test_beta_one_gives_mse_gradient_for_the_mean(rng):
    x = rng.normal(size=(20, 3))
    t = rng.normal(size=(20, 3))
    for name, p in (("var", rng.uniform(0.1, 5, (20, 3))),
                    ("log_var", rng.normal(size=(20, 3))),
                    ("std", rng.uniform(0.3, 3, (20, 3)))):
        _, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, beta=1.0,
                                               reduction="sum")
        np.testing.assert_allclose(g.input, x - t, rtol=1e-12)
        np.testing.assert_allclose(g.target, t - x, rtol=1e-12)


def test_beta_nll_paper_formula(rng):
    """Seitzer et al.: L = stopgrad(var)**beta * 0.5 * ((y - mu)**2 / var + log var),
    written independently here."""
    mu = rng.normal(size=100)
    y = rng.normal(size=100)
    var = rng.uniform(0.05, 3.0, 100)
    for beta in (0.25, 0.5, 0.75, 1.0):
        ref = np.mean(var**beta * 0.5 * ((y - mu) ** 2 / var + np.log(var)))
        got = gnll.gaussian_nll_loss(mu, y, var, beta=beta)
        np.testing.assert_allclose(got, ref, rtol=1e-13)
        _, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, beta=beta, reduction="sum")
        np.testing.assert_allclose(g.input, var ** (beta - 1) * (mu - y), rtol=1e-12)
        np.testing.assert_allclose(g.var, var ** (beta - 2) * (var - (y - mu) ** 2) / 2,
                                   rtol=1e-11)


def test_weighted_mean_definition(rng):
    x = rng.normal(size=(8, 4))
    t = rng.normal(size=(8, 4))
    v = rng.uniform(0.5, 2.0, (8, 4))
    w = rng.uniform(0.0, 3.0, (8, 1))
    per = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    W = np.broadcast_to(w, (8, 4))
    expected = np.sum(W * per) / np.sum(W)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, weight=w), expected,
                               rtol=1e-13)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, weight=w, reduction="none"),
                               W * per, rtol=1e-14)
    # integer weights behave like repeated samples
    wi = np.array([0, 1, 2, 3, 0, 1, 2, 3])[:, None]
    rep = np.repeat(np.arange(8), wi[:, 0])
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, weight=wi),
                               gnll.gaussian_nll_loss(x[rep], t[rep], v[rep]), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 257, 8191, 8192, 8193, 70001])
def test_weight_total_taken_in_the_kernel_pass(n, dtype):
    """The loss alone with weights and 'mean' sums the weights in the
    kernel's pass: that sum equals the separate total's (the one the
    gradients' scale uses) bit for bit, for any thread count, so the mean is
    sum(w l) / sum(w) with the same denominator either way."""
    core = pytest.importorskip("gnll._core")
    rng = np.random.default_rng(n)
    x, t = rng.normal(size=(2, n)).astype(dtype)
    v = rng.uniform(0.5, 2.0, n).astype(dtype)
    w = rng.uniform(0.0, 3.0, n).astype(dtype)
    kernel = core.elementwise["double" if dtype == np.float64 else "float"]
    for n_threads in (1, 2):
        for opts in ({}, {"param": 1}, {"beta": 0.5}):
            wt = np.empty(1)
            kernel(x, t, v, 0.0, 0.0, w=w, weight_total=wt, n_threads=n_threads, **opts)
            assert wt[0] == core.total(w, n_threads)
        total = gnll.gaussian_nll_loss(x, t, v, weight=w, reduction="sum", n_threads=n_threads)
        mean = gnll.gaussian_nll_loss(x, t, v, weight=w, n_threads=n_threads)
        assert mean == dtype(float(total) / core.total(w, n_threads)) or (
            dtype == np.float32 and mean == pytest.approx(float(total) / w.sum(dtype=float),
                                                          rel=1e-7))


def test_all_zero_weights_mean_is_nan_without_warning(rng):
    x = rng.normal(size=(3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, g = gnll.gaussian_nll_loss_and_grad(x, 0.0, 1.0, weight=np.zeros(4))
        assert math.isnan(loss)
        assert np.all(np.isnan(g.input))
        assert gnll.gaussian_nll_loss(x, 0.0, 1.0, weight=np.zeros(4), reduction="sum") == 0.0
        empty = gnll.gaussian_nll_loss(np.zeros((0, 4)), 0.0, 1.0, weight=np.ones(4))
        assert math.isnan(empty)


@pytest.mark.parametrize("name", NAMES)
def test_zero_clamp_grad_mode(name):
    """MLX: no gradient to the variance parameter where the variance is at or
    below eps; mean gradients as in the straight-through mode."""
    eps = 0.25
    x = np.array([1.0, 1.0, 1.0, 1.0])
    t = np.zeros(4)
    if name == "var":
        p = np.array([0.0, 0.1, 0.25, 0.5])
    elif name == "std":
        p = np.array([0.0, 0.3, 0.5, 0.8])
    else:
        p = np.array([-5.0, -2.0, math.log(0.25), 0.3])
    _, st = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=eps, reduction="sum")
    _, z = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=eps, reduction="sum",
                                           clamp_grad="zero")
    np.testing.assert_array_equal(z.input, st.input)
    np.testing.assert_array_equal(z.target, st.target)
    np.testing.assert_array_equal(z.var[:3], 0.0)  # at or below the clamp (tie included)
    assert z.var[3] == st.var[3] != 0.0
    if name != "std":  # std's chain factor 2*sigma is 0 at sigma = 0 anyway
        assert np.all(st.var[:2] != 0.0)
    # rows layout: one parameter per row, below / above the clamp
    x2 = np.ones((2, 3))
    p2 = p[[0, 3]][:, None]
    _, z2 = gnll.gaussian_nll_loss_and_grad(x2, 0.0, **{name: p2}, eps=eps,
                                            reduction="sum", clamp_grad="zero")
    assert z2.var[0, 0] == 0.0
    np.testing.assert_allclose(z2.var[1, 0], 3 * st.var[3], rtol=1e-14)


def test_lucid_tie_documented_difference():
    """At var == eps exactly MLX ('zero') gives 0; the straight-through value
    (what lucid gives there, as var >= eps passes its gradient) is the formula."""
    _, z = gnll.gaussian_nll_loss_and_grad(np.array([1.0]), np.array([0.0]),
                                           np.array([0.5]), eps=0.5, clamp_grad="zero")
    _, s = gnll.gaussian_nll_loss_and_grad(np.array([1.0]), np.array([0.0]),
                                           np.array([0.5]), eps=0.5)
    assert z.var[0] == 0.0
    assert s.var[0] == pytest.approx(0.5 * (1 / 0.5 - 1 / 0.25))


def test_mlx_golden_case_with_zero_mode():
    """MLX's test case (reference-semantics notes §3) in the MLX mode."""
    inputs = np.array([[0.1, 0.2], [0.3, 0.4]])
    targets = np.array([[0.2, 0.1], [0.1, 0.2]])
    vars_ = np.array([[0.1, 0.2], [0.3, 0.4]])
    expected = np.array([[-1.101293, -0.779719], [-0.535320, -0.408145]])
    loss = gnll.gaussian_nll_loss(inputs, targets, vars_, reduction="none",
                                  clamp_grad="zero")
    np.testing.assert_allclose(loss, expected, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_one_fewer_dim_parameter_when_last_dim_is_one(name):
    """A (2,) parameter for a (2, 1) input: torch appends a trailing 1, so the
    parameter has the loss's shape (regression: this used to fail to broadcast)."""
    x = np.array([[0.0], [1.0]])
    t = np.array([[1.0], [1.0]])
    p = {"var": np.array([1.0, 2.0]), "std": np.array([1.0, 2.0]),
         "log_var": np.array([0.0, 1.0])}[name]
    for kw in ({}, {"beta": 0.5}):
        if name != "var" and not kw:
            kw = {"weight": 1.0}
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, reduction="none", **kw)
        ref_loss, ref_g = family_loss_and_grads(x, t, p, name, reduction="none", **kw)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-14)
        assert g.var.shape == (2,)
        np.testing.assert_allclose(g.var, ref_g[2], rtol=1e-13)
    if name == "var":
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, p, reduction="none")
        np.testing.assert_allclose(loss, family_loss_and_grads(x, t, p, reduction="none")[0],
                                   rtol=1e-14)
