"""var and std at the ends of double's range, against mpmath.

With ``eps`` below 2^-1020 (e.g. ``eps=0``) a variance can be so small that
1/v overflows while the loss and its gradients are finite; a std's square
over- or underflows for |std| beyond about 1e154 or below 1e-154 (any eps);
and with beta-NLL, r/v or v^beta can leave double's range where the weighted
values do not.  Every kernel (plain, family, per-row, loss only, curvature)
must give the exact values rounded, or infinity exactly where the exact
value overflows.
"""
import math

import numpy as np
import pytest

import gnll

mpmath = pytest.importorskip("mpmath")
core = pytest.importorskip("gnll._core")


@pytest.fixture(autouse=True, params=[name for name, ok in core.simd_paths() if ok])
def simd_path(request):
    """Every test here on every SIMD path the CPU supports."""
    before = core.get_simd_path()
    core.set_simd_path(request.param)
    yield request.param
    core.set_simd_path(before)


DBL_MAX = mpmath.mpf("1.7976931348623157e308")

VARS = [4e-320, 1e-309, 2.0**-1022, 1e-300, 1e300, 1.7e308]
STDS = [1e-170, 1e-160, 1e-155, 1e155, 1e200, 1e300]
RESIDUALS = [0.0, 1e-300, 1e-20, 1.0, 1e20, 1e150, 1e300]


def _exact(r, p, name, beta):
    """Loss, d/dinput, d/dtheta, h_mm, h_pp, h_mp, Fisher h_pp (mpmath)."""
    with mpmath.workdps(60):
        r, p, beta = mpmath.mpf(r), mpmath.mpf(p), mpmath.mpf(beta)
        v = p * p if name == "std" else p
        w = v**beta
        g_v = (1 / v - r * r / v**2) / 2
        h_vv = r * r / v**3 - 1 / (2 * v**2)
        if name == "std":
            d_theta = 2 * p * g_v
            h_pp = 4 * p * p * h_vv + 2 * g_v
            h_mp = -2 * p * r / v**2
            fisher_pp = 2 * p * p / v**2
        else:
            d_theta = g_v
            h_pp = h_vv
            h_mp = -r / v**2
            fisher_pp = 1 / (2 * v**2)
        values = ((mpmath.log(v) + r * r / v) / 2, r / v, d_theta, 1 / v, h_pp, h_mp,
                  fisher_pp)
        # d/dtheta and h_pp are differences: where their terms cancel, they
        # are held to the scale of the larger term (as in docs/performance)
        dv = abs(2 * p) if name == "std" else 1
        scales = (None, None, w * dv * max(1 / v, r * r / v**2) / 2, None,
                  w * (dv * dv * max(r * r / v**3, 1 / (2 * v**2)) + abs(2 * g_v)),
                  None, None)
        return [(w * e, s) for e, s in zip(values, scales)]


def _close(got, exact, rel):
    """got is the exact value rounded to double (within rel, or rel times
    the scale of its terms), or infinite where the exact value overflows;
    subnormal exact values within 1e-300."""
    exact, scale = exact
    if abs(exact) > DBL_MAX:
        return got == (math.inf if exact > 0 else -math.inf)
    atol = 1e-300 if scale is None else max(1e-300, rel * float(scale))
    return got == pytest.approx(float(exact), rel=rel, abs=atol)


def _cases(name):
    return [(p, r) for p in (VARS if name == "var" else STDS) for r in RESIDUALS]


def _rel(beta):
    # a general beta's v^beta is exp(beta log v), beta log v rounded to double
    return 1e-13 if beta in (0.0, 0.5, 1.0) else 2e-12


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 0.3, 2.0, -0.5])
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("kernel", ["elementwise", "family", "rows"])
def test_loss_and_grads_far(name, beta, kernel):
    """Loss and gradients, eps=0, elementwise (the plain kernel for var
    without options), through the family kernels (clamp_grad='zero', which
    changes nothing here), and one parameter per row."""
    ps, rs = zip(*_cases(name))
    x = np.array(rs)
    t = np.zeros_like(x)
    opts = {"clamp_grad": "zero"} if kernel == "family" else {}
    rel = _rel(beta)
    bad = []
    if kernel == "rows":
        # one row per parameter, the residual and its negative in the row
        for p, r in zip(ps, rs):
            xr = np.array([[r, -r]])
            loss, g = gnll.gaussian_nll_loss_and_grad(
                xr, np.zeros_like(xr), **{name: np.array([[p]])}, eps=0.0, beta=beta,
                reduction="none")
            e = _exact(r, p, name, beta)
            for k, sign in enumerate((1.0, -1.0)):
                if not (_close(loss[0, k], e[0], rel)
                        and _close(g.input[0, k], (sign * e[1][0], None), rel)):
                    bad.append((p, r, loss[0, k], g.input[0, k]))
            if not _close(g.var[0, 0], (2 * e[2][0], 2 * e[2][1]), rel):
                bad.append((p, r, "d/dtheta", g.var[0, 0], e[2]))
            sum_loss = gnll.gaussian_nll_loss(xr, np.zeros_like(xr), **{name: np.array([[p]])},
                                              eps=0.0, beta=beta, reduction="sum")
            if not _close(sum_loss, (2 * e[0][0], None), rel):
                bad.append((p, r, "sum", sum_loss, float(2 * e[0][0])))
        assert not bad, bad
        return
    p = np.array(ps)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=0.0, beta=beta,
                                              reduction="none", **opts)
    only = gnll.gaussian_nll_loss(x, t, **{name: p}, eps=0.0, beta=beta, reduction="none",
                                  **opts)
    # an upstream gradient array takes the kernels' other output route
    up = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=0.0, beta=beta,
                                         reduction="none", grad_output=np.ones_like(x),
                                         **opts)[1]
    for k, (pk, r) in enumerate(zip(ps, rs)):
        e = _exact(r, pk, name, beta)
        for what, got, want in (("loss", loss[k], e[0]), ("loss only", only[k], e[0]),
                                ("d/dinput", g.input[k], e[1]),
                                ("d/dinput upstream", up.input[k], e[1]),
                                ("d/dtheta", g.var[k], e[2]),
                                ("d/dtheta upstream", up.var[k], e[2])):
            if not _close(got, want, rel):
                bad.append((pk, r, what, got, float(want[0])))
    assert not bad, bad


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 0.3])
@pytest.mark.parametrize("name", ["var", "std"])
def test_curvature_far(name, beta):
    """The curvature needs 1/v^2: variances beyond 2^+-500 and large r/v are
    evaluated without spurious overflow too."""
    cases = _cases(name) + ([(1e-200, 1e-200), (1e200, 1e300), (1e-160, 1.0)] if name == "var"
                            else [(1e-100, 1e-200), (1e100, 1e300)])
    ps, rs = zip(*cases)
    x, p = np.array(rs), np.array(ps)
    t = np.zeros_like(x)
    h = gnll.gaussian_nll_curvature(x, t, **{name: p}, eps=0.0, beta=beta)
    fi = gnll.gaussian_nll_curvature(x, t, **{name: p}, eps=0.0, beta=beta, kind="fisher")
    rel = _rel(beta)
    bad = []
    for k, (pk, r) in enumerate(cases):
        e = _exact(r, pk, name, beta)
        for what, got, want in (("h_mm", h.input[k], e[3]), ("h_pp", h.var[k], e[4]),
                                ("h_mp", h.input_var[k], e[5]),
                                ("fisher h_mm", fi.input[k], e[3]),
                                ("fisher h_pp", fi.var[k], e[6])):
            if not _close(got, want, rel):
                bad.append((pk, r, what, got, float(want[0])))
        assert fi.input_var[k] == 0.0
    assert not bad, bad


def test_clamp_at_a_tiny_eps():
    """eps = 1e-320 clamps a tinier std's square (and var) at eps: the clamped
    variance is eps, the gradient to the parameter is straight-through (std:
    2 std times d/dv at eps), or zero with clamp_grad='zero'."""
    eps = 1e-320
    x = np.array([1e-170, 1e-170])
    t = np.zeros(2)
    for name, p in (("var", np.array([1e-322, 0.0])), ("std", np.array([1e-170, 0.0]))):
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=eps,
                                                  reduction="none")
        _, gz = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, eps=eps,
                                                reduction="none", clamp_grad="zero")
        for k in range(2):
            e = _exact(x[k], eps, "var", 0.0)
            assert _close(loss[k], e[0], 1e-13)
            assert _close(g.input[k], e[1], 1e-13)
            dv = 2 * mpmath.mpf(p[k]) if name == "std" else 1
            assert _close(g.var[k], (dv * e[2][0], dv * e[2][1]), 1e-13), (name, k, g.var[k])
            assert gz.var[k] == 0.0


def test_far_elements_do_not_depend_on_their_neighbours():
    """A far element among ordinary ones, in a block of the kernels, gives
    the values it gives alone, and its neighbours the values they give
    without it."""
    rng = np.random.default_rng(5)
    n = 1000
    x = rng.normal(size=n)
    t = rng.normal(size=n)
    v = rng.uniform(0.5, 2.0, size=n)
    v2 = v.copy()
    v2[[3, 500, 999]] = [1e-310, 1.5e308, 4e-320]  # all beyond 2^+-1020
    x[[3, 500, 999]] = t[[3, 500, 999]] + 1e-160  # finite losses there
    for opts in ({}, {"beta": 0.3}, {"clamp_grad": "zero"}):
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, eps=0.0, reduction="none", **opts)
        loss2, g2 = gnll.gaussian_nll_loss_and_grad(x, t, v2, eps=0.0, reduction="none",
                                                    **opts)
        keep = np.ones(n, bool)
        keep[[3, 500, 999]] = False
        np.testing.assert_array_equal(loss2[keep], loss[keep])
        np.testing.assert_array_equal(g2.var[keep], g.var[keep])
        for k in (3, 500, 999):
            alone, ga = gnll.gaussian_nll_loss_and_grad(x[k:k + 1], t[k:k + 1],
                                                        v2[k:k + 1], eps=0.0,
                                                        reduction="none", **opts)
            assert loss2[k] == alone[0] and g2.var[k] == ga.var[0]
            assert np.isfinite(loss2[k])


# Inside 2^+-1020 too: with std (2 std shrinks d/dv back), beta < 0 (v^beta < 1
# for v > 1) and a row factor 2 std v^beta out of range, r/v or r^2/v can
# overflow where the values do not.
@pytest.mark.parametrize("name, p, r, beta, eps", [
    ("std", 1e-100, 1e-20, 0.0, 0.0),
    ("std", 1e-200, 1e200, 0.0, 1e-6),   # clamped at eps
    ("var", 1e200, 1e300, -0.5, 1e-6),
    ("std", 1e10, 1e170, -0.5, 1e-6),
    ("std", 1e110, 0.0, 1.0, 1e-6),
    ("std", 1e-120, 1.0, 1.0, 0.0),
])
@pytest.mark.parametrize("rows", [False, True])
def test_in_range_overflow_of_intermediates(name, p, r, beta, eps, rows):
    x = np.array([[r, -r]]) if rows else np.array([r, -r])
    pp = np.array([[p]]) if rows else np.array([p, p])
    loss, g = gnll.gaussian_nll_loss_and_grad(x, np.zeros_like(x), **{name: pp}, eps=eps,
                                              beta=beta, reduction="none")
    if eps and name == "std" and p * p < eps:
        e = _exact(r, eps, "var", beta)
        d = 2 * mpmath.mpf(p)
        e[2] = (d * e[2][0], d * e[2][1])
    else:
        e = _exact(r, p, name, beta)
    rel = _rel(beta)
    loss, gin = loss.reshape(-1), g.input.reshape(-1)
    for k, sign in enumerate((1.0, -1.0)):
        assert _close(loss[k], e[0], rel), (loss[k], e[0])
        assert _close(gin[k], (sign * e[1][0], None), rel), (gin[k], e[1])
    want = (2 * e[2][0], 2 * e[2][1]) if rows else e[2]
    got = g.var.reshape(-1)[0]
    assert _close(got, want, rel), (got, want)


def test_curvature_mixed_term_does_not_underflow_with_beta():
    """h_mp = -v^beta r / v^2: r/v^2 underflows where the weighted value
    does not."""
    for p, r, beta in ((1e100, 1e-200, 2.0), (2.0**500, 1e-100, 1.0)):
        h = gnll.gaussian_nll_curvature(np.array([r]), np.zeros(1), var=np.array([p]),
                                        beta=beta)
        assert _close(h.input_var[0], _exact(r, p, "var", beta)[5], _rel(beta))


def test_loss_alone_does_not_depend_on_a_far_neighbour():
    """The loss alone (beta=2): an element whose r/v underflows is left to
    the vector form whether or not a far element shares its block."""
    x = np.array([1e-320, 0.0, 0.0])
    v = np.array([1e10, 1.0, 1.7e308])
    alone = gnll.gaussian_nll_loss(x[:2], np.zeros(2), v[:2], beta=2.0, reduction="none")
    beside = gnll.gaussian_nll_loss(x, np.zeros(3), v, beta=2.0, reduction="none")
    assert alone[0] == beside[0]


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("full", [False, True])
def test_beta_half_loss_alone_at_the_overflow_edge(name, full):
    """beta=0.5, the loss alone: on the AVX-512 path sqrt(v) (log v/2 + c)
    + r (r y/2) with y = 1/sqrt(v) from Newton's method, and no test of
    r/v.  Where r^2/(2 sqrt(v)) is within a relative 1e-3 of the largest
    double, the loss is within 1e-13 of the exact value, or infinite where
    that overflows (r^2/(2 sqrt(v)) down to 1e-13 above it: within a few
    ulp of the threshold, an answer good to a few ulp may fall either
    side); and so for v up to the ends of 2^-1020..2^1020 and just beyond,
    and for r of every size."""
    vs = [2.0**-1020 * 1.5, 2.0**-1021, 1e-300, 1e-30, 0.25, 1.0, 4.0, 1e30, 1e300,
          2.0**1019 * 1.9, 2.0**1021]
    xs, ps, exact = [], [], []
    with mpmath.workdps(60):
        mc = mpmath.log(2 * mpmath.pi) / 2 if full else 0
        for v in vs:
            p = math.sqrt(v) if name == "std" else v
            mv = mpmath.mpf(p) ** 2 if name == "std" else mpmath.mpf(p)
            edge = [mpmath.sqrt(2 * DBL_MAX * mpmath.sqrt(mv) * (1 + mpmath.mpf(rel)))
                    for rel in ("-1e-3", "-1e-13", "1e-13", "1e-3")]
            for r in [float(min(e, DBL_MAX)) for e in edge] + RESIDUALS + [3e-200, 7e-100, 0.3]:
                mr = mpmath.mpf(r)
                xs.append(r)
                ps.append(p)
                exact.append((mpmath.sqrt(mv) * (mpmath.log(mv) / 2 + mc)
                              + mr * mr / (2 * mpmath.sqrt(mv)),
                              mpmath.sqrt(mv) * (abs(mpmath.log(mv) / 2) + abs(mc))
                              + mr * mr / (2 * mpmath.sqrt(mv))))
    x = np.array(xs)
    loss = gnll.gaussian_nll_loss(x, np.zeros_like(x), **{name: np.array(ps)}, eps=0.0,
                                  beta=0.5, full=full, reduction="none")
    bad = [(p, r, got, float(e[0])) for p, r, got, e in zip(ps, xs, loss, exact)
           if not _close(got, e, 1e-13)]
    assert not bad, bad
    assert np.isinf(loss).any() and np.isfinite(loss).any()


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("beta", [0.5, 0.3])
def test_infinite_parameter_keeps_the_plain_value(name, beta):
    """An infinite var or std is no far value: the loss is the plain forms'
    value (inf, or NaN for an infinite residual), the loss alone as with
    gradients, on every path."""
    x = np.array([1.0, 0.0, 1e300, -1e-300, np.inf])
    p = np.full(5, np.inf)
    only = gnll.gaussian_nll_loss(x, np.zeros(5), **{name: p}, beta=beta, reduction="none")
    loss, _ = gnll.gaussian_nll_loss_and_grad(x, np.zeros(5), **{name: p}, beta=beta,
                                              reduction="none")
    np.testing.assert_array_equal(only[:4], np.inf)
    np.testing.assert_array_equal(only, loss)


@pytest.mark.parametrize("name", ["var", "std"])
def test_beta_half_loss_alone_does_not_depend_on_a_far_neighbour(name):
    """An element with |r/v| above 2^511 is not a far element for beta=0.5's
    loss alone: it has the same value whether or not a far element (v below
    2^-1020) shares its block."""
    rng = np.random.default_rng(5)
    v = 10.0 ** rng.uniform(-300, -5, 200)
    x = np.sqrt(v) * 10.0 ** rng.uniform(0, 300, 200)
    x[:3] = [3.411247520612383e147, 1e200, 1e-300]
    v[:3] = [2.003683556134784e-9, 1e-150, 1e-300]
    far = 1e-310 if name == "var" else 1e-160
    p = np.sqrt(v) if name == "std" else v
    alone = gnll.gaussian_nll_loss(x, np.zeros_like(x), **{name: p}, eps=0.0, beta=0.5,
                                   reduction="none")
    beside = gnll.gaussian_nll_loss(np.append(x, 1.0), np.zeros(x.size + 1),
                                    **{name: np.append(p, far)}, eps=0.0, beta=0.5,
                                    reduction="none")
    np.testing.assert_array_equal(alone, beside[:-1])
