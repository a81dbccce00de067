"""Elementwise accuracy of the plain kernel on every SIMD path, in ulps.

The kernels evaluate float32 data in float where the instruction set has FMA
(twice the vector lanes of double), and float64 data with an exact residual
and a fused var gradient.  These tests hold both to the issue's bounds
against a reference computed in ``np.longdouble`` from the same inputs:

* d/dinput within 4 ulp of the exact value;
* d/dvar within 4 ulp of its larger term (0.5/v or 0.5 r^2/v^2): where the two
  terms cancel, no floating-point formula is within a few ulp of the tiny
  exact difference, so the error is measured against the terms' scale;
* the elementwise loss within 4 ulp of its largest term.

The data stress the cancellation: a third of the elements have v close to
r^2 (relative distance 2^-12 down to 2^-40), and v spans many binades.
"""

import math

import numpy as np
import pytest

import gnll

core = pytest.importorskip("gnll._core")
PATHS = [name for name, ok in core.simd_paths() if ok]
LD = np.longdouble


@pytest.fixture
def simd_path(request):
    before = core.get_simd_path()
    core.set_simd_path(request.param)
    yield request.param
    core.set_simd_path(before)


def stress_data(dtype, n=120_000, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    t = rng.standard_normal(n).astype(dtype)
    v = np.exp(rng.uniform(-12, 12, n)).astype(dtype)
    r = x.astype(np.float64) - t.astype(np.float64)
    k = n // 3  # v = r^2 (1 + delta): 1/v and r^2/v^2 nearly cancel
    delta = rng.choice([-1.0, 1.0], k) * 2.0 ** -rng.uniform(12, 40, k)
    v[:k] = (r[:k] ** 2 * (1 + delta)).astype(dtype)
    v[:k] = np.where(v[:k] > 1e-5, v[:k], dtype(1.0))  # keep clear of eps
    return x, t, v


def ulps_of(err, scale, dtype):
    """|err| in ulps of ``scale`` rounded to dtype."""
    return np.abs(err) / np.spacing(np.abs(scale).astype(dtype)).astype(LD)


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradients_within_4_ulp(simd_path, dtype, reduction):
    x, t, v = stress_data(dtype)
    n = x.size
    go = None
    if reduction == "none":
        go = np.random.default_rng(5).uniform(0.25, 4.0, n).astype(dtype)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction,
                                              grad_output=go)
    X, T, V = (a.astype(LD) for a in (x, t, v))
    r = X - T
    k = LD(1) / LD(n) if reduction == "mean" else LD(1)
    if go is not None:
        k = k * go.astype(LD)
    exact_gx = k * r / V
    term = k * LD(0.5) * np.maximum(1 / V, r * r / (V * V))
    exact_gv = k * LD(0.5) * (1 / V - r * r / (V * V))
    gx_ulps = ulps_of(g.input.astype(LD) - exact_gx, exact_gx, dtype)
    gv_ulps = ulps_of(g.var.astype(LD) - exact_gv, term, dtype)
    assert gx_ulps.max() <= 4, (simd_path, gx_ulps.max())
    assert gv_ulps.max() <= 4, (simd_path, gv_ulps.max())
    # The cancelling third really does cancel (the bound is not vacuous).
    assert np.median(np.abs(exact_gv[: n // 3] / term[: n // 3])) < 1e-3
    if reduction == "none":
        exact_l = LD(0.5) * (np.log(V) + r * r / V)
        scale = LD(0.5) * (np.abs(np.log(V)) + r * r / V)
        l_ulps = ulps_of(loss.astype(LD) - exact_l, scale, dtype)
        assert l_ulps.max() <= 4, (simd_path, l_ulps.max())


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("bad", [1e-35, 3e35, np.inf, np.nan],
                         ids=["tiny-var", "huge-var", "inf-var", "nan-var"])
def test_float32_block_outside_safe_range_matches_float64(simd_path, bad):
    """A float32 block with a value outside float's safe range is evaluated
    in double: its results equal the float64 computation rounded to float32
    (to an ulp), and the other blocks are unaffected."""
    rng = np.random.default_rng(8)
    n = 3000
    x = rng.uniform(-2, 2, n).astype(np.float32)
    t = rng.uniform(-2, 2, n).astype(np.float32)
    v = rng.uniform(0.5, 2, n).astype(np.float32)
    v[700] = bad
    x[1900] = 3e35  # a huge residual elsewhere
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none",
                                              eps=1e-38)
    loss64, g64 = gnll.gaussian_nll_loss_and_grad(
        x.astype(np.float64), t.astype(np.float64), v.astype(np.float64),
        reduction="none", eps=1e-38)
    with np.errstate(over="ignore", invalid="ignore"):
        for got, ref in ((loss, loss64), (g.input, g64.input), (g.var, g64.var)):
            want = ref.astype(np.float32)
            same = (got == want) | (np.isnan(got) & np.isnan(want))
            close = np.abs(got.astype(np.float64) - want) <= \
                2 * np.spacing(np.abs(want)).astype(np.float64)
            assert np.all(same | close)
            assert np.isnan(got[700]) == np.isnan(want[700])


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
def test_float32_tiny_upstream_gradient(simd_path):
    """grad_output values that would underflow in float are handled in double."""
    x = np.full(1000, 1e6, np.float32)
    t = np.zeros(1000, np.float32)
    v = np.full(1000, 1e-6, np.float32)
    go = np.full(1000, 1e-38, np.float32)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none",
                                           grad_output=go, eps=1e-12)
    want = (go.astype(np.float64) * (x.astype(np.float64) - t) / v).astype(np.float32)
    assert np.all(want > 0) and np.all(np.isfinite(want))
    np.testing.assert_allclose(g.input, want, rtol=2.5e-7)


FAMILY = [dict(log_var=True), dict(std=True), dict(beta=0.5), dict(beta=1.0),
          dict(beta=0.3), dict(log_var=True, beta=0.3), dict(weight=True),
          dict(std=True, beta=0.5, weight=True)]


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("opts", FAMILY, ids=lambda o: ",".join(sorted(o)) + (
    f"={o['beta']}" if "beta" in o else ""))
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_float32_loss_family_within_8_ulp_of_its_terms(simd_path, opts, reduction):
    """float32 loss-family values and gradients (evaluated in float on FMA
    paths) stay within 8 ulp of the scale of their terms, against a float64
    evaluation of the same float32 inputs."""
    x, t, v = stress_data(np.float32, n=30_000, seed=9)
    v = np.clip(v, 1e-4, 1e4)  # |log v| <= 9.3: |beta log v| stays in range
    rng = np.random.default_rng(4)
    w = rng.uniform(0, 3, x.size).astype(np.float32) if opts.get("weight") else None
    beta = opts.get("beta", 0.0)
    if opts.get("log_var"):
        param = {"log_var": np.log(v).astype(np.float32)}
    elif opts.get("std"):
        param = {"std": np.sqrt(v).astype(np.float32)}
    else:
        param = {"var": v}
    (name, p32), = param.items()
    loss, g = gnll.gaussian_nll_loss_and_grad(
        x, t, **param, beta=beta, weight=w, reduction=reduction)
    # terms, in float64 from the same float32 inputs
    P = p32.astype(np.float64)
    V = np.exp(P) if name == "log_var" else P * P if name == "std" else P
    V = np.maximum(V, 1e-6)
    r = x.astype(np.float64) - t.astype(np.float64)
    k = (np.ones_like(r) if w is None else w.astype(np.float64)) * V ** beta
    if reduction == "mean":
        k = k / (x.size if w is None else np.sum(w, dtype=np.float64))
    dv_terms = 0.5 * (1 / V + r * r / V**2)
    dp_terms = {"var": dv_terms, "std": 2 * np.abs(P) * dv_terms,
                "log_var": V * dv_terms}[name]
    ref_loss, ref_g = gnll.gaussian_nll_loss_and_grad(
        x.astype(np.float64), t.astype(np.float64), **{name: P}, beta=beta,
        weight=None if w is None else w.astype(np.float64), reduction=reduction)
    eps32 = np.finfo(np.float32).eps
    for got, ref, scale in ((g.input, ref_g.input, k * np.abs(r) / V),
                            (g.var, ref_g.var, k * dp_terms)):
        err = np.abs(got.astype(np.float64) - ref)
        assert np.all(err <= 8 * eps32 * scale + 1e-45), (
            float(np.max(err / (eps32 * scale + 1e-300))))
    if reduction == "none":
        scale = k * 0.5 * (np.abs(np.log(V)) + r * r / V)
        err = np.abs(loss.astype(np.float64) - ref_loss)
        assert np.all(err <= 8 * eps32 * scale), float(np.max(err / (eps32 * scale)))
    else:
        assert abs(float(loss) - float(ref_loss)) <= 4 * eps32 * abs(float(ref_loss))


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("name", ["var", "std", "log_var"])
@pytest.mark.parametrize("clamp_grad", ["straight_through", "zero"])
def test_float32_clamped_parameters_match_float64(simd_path, name, clamp_grad):
    """With eps = 0.01 a third of the variances are clamped: float32 results
    (in float on FMA paths) agree with the float64 evaluation of the same
    inputs, clamp gradient modes included."""
    rng = np.random.default_rng(21)
    n = 20_000
    x = rng.uniform(-1, 1, n).astype(np.float32)
    t = rng.uniform(-1, 1, n).astype(np.float32)
    v = np.exp(rng.uniform(np.log(1e-4), np.log(4.0), n))
    p = {"var": v, "std": np.sqrt(v), "log_var": np.log(v)}[name].astype(np.float32)
    kw = dict(eps=0.01, clamp_grad=clamp_grad, reduction="none")
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: p}, **kw)
    loss64, g64 = gnll.gaussian_nll_loss_and_grad(
        x.astype(np.float64), t.astype(np.float64), **{name: p.astype(np.float64)}, **kw)
    # error scales: the terms of each formula (the float path clamps at
    # float32(eps), as torch does for float32 tensors, the double path at eps:
    # they differ by a fraction of an ulp, amplified where terms cancel)
    P = p.astype(np.float64)
    V = np.maximum({"var": P, "std": P * P, "log_var": np.exp(P)}[name], 0.01)
    r = x.astype(np.float64) - t
    dv = 0.5 * (1 / V + r * r / V**2)
    scales = (0.5 * (np.abs(np.log(V)) + r * r / V), np.abs(r) / V,
              {"var": dv, "std": 2 * np.abs(P) * dv, "log_var": V * dv}[name])
    eps32 = np.finfo(np.float32).eps
    for got, ref, scale in zip((loss, g.input, g.var), (loss64, g64.input, g64.var),
                               scales):
        err = np.abs(got.astype(np.float64) - ref)
        assert np.all(err <= 8 * eps32 * scale + 1e-300), float(np.max(err / (eps32 * scale)))
    if clamp_grad == "zero":
        np.testing.assert_array_equal(g.var == 0, g64.var == 0)


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_sign_of_zero_residual_as_division(simd_path, dtype):
    """r = -0.0 gives d/dinput = -0.0 (r / v's sign), as torch does."""
    x = np.full(300, -0.0, dtype)
    t = np.zeros(300, dtype)
    v = np.ones(300, dtype)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="sum")
    assert np.all(np.signbit(g.input)) and np.all(g.input == 0)
    assert not np.any(np.signbit(g.target))


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("case", ["tiny-residual", "big-weight", "negative-beta",
                                  "tiny-weight"])
def test_float32_products_outside_float_range_fall_back(simd_path, case):
    """Inputs each inside float's range whose products are not: the float32
    results equal the float64 evaluation rounded to float32 (to 2 ulp)."""
    n = 256
    x = np.full(n, 1e9, np.float32)
    t = np.zeros(n, np.float32)
    v = np.full(n, 1e-9, np.float32)
    kw = dict(eps=1e-9, reduction="mean")
    if case == "tiny-residual":
        x[:] = 1e-37
        v[:] = 1e9
        kw = dict(reduction="sum", grad_output=1e9)
    elif case == "big-weight":
        kw["weight"] = np.full(n, 1e9, np.float32)
    elif case == "negative-beta":  # v^beta * d/dvar ~ 5e43 before scaling
        v[:] = 2.1e-9
        kw = dict(eps=1e-9, reduction="sum", grad_output=1e-10, beta=-1.0)
    else:
        x[:] = 1.0
        v[:] = 1.0
        kw["weight"] = np.full(n, 1e-40, np.float32)
    with np.errstate(all="ignore"):
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, **kw)
        kw64 = {k: (a.astype(np.float64) if isinstance(a, np.ndarray) else a)
                for k, a in kw.items()}
        loss64, g64 = gnll.gaussian_nll_loss_and_grad(
            x.astype(np.float64), t.astype(np.float64), v.astype(np.float64), **kw64)
    for got, ref in ((g.input, g64.input), (g.var, g64.var), (loss, loss64)):
        want = np.asarray(ref).astype(np.float32)
        assert np.all(np.isfinite(want)), case
        np.testing.assert_array_max_ulp(np.asarray(got), want, maxulp=2)


def logvar_data(n=60_000, seed=11):
    """Log-variances over +-30, and a tenth beyond +-700 (where the kernels
    switch to exp(-s/4) to keep every intermediate finite), with residuals
    scaled there so that r^2 / v stays moderate."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    t = rng.standard_normal(n)
    s = rng.uniform(-30, 30, n)
    k = n // 10
    s[:k] = rng.choice([-1.0, 1.0], k) * rng.uniform(700, 1400, k)
    x[:k] = t[:k] + np.exp(s[:k] / 2) * rng.standard_normal(k)
    return x, t, s


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 0.3])
def test_float64_log_var_within_8_ulp_of_its_terms(simd_path, beta):
    """float64 log_var against long double: the gradients, the loss and the
    curvature within 8 ulp of the scale of their terms (as the float32 loss
    family), and within 16 beyond |s| = 700, where the kernels take
    exp(-s/4) so that no intermediate overflows.  The exact values use the
    residual and beta * s rounded to double, as the kernels see them."""
    x, t, s = logvar_data()
    kw = dict(log_var=s, eps=0.0, beta=beta)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, reduction="none", **kw)
    h_mm, h_pp, h_mp = gnll.gaussian_nll_curvature(x, t, **kw)
    S = s.astype(LD)
    R = (x - t).astype(LD)
    iv = np.exp(-S)
    bw = np.exp((beta * s).astype(LD))  # v^beta, not differentiated
    q = R * R * iv
    checks = {  # name: (got, exact, scale)
        "d/dinput": (g.input, bw * R * iv, bw * R * iv),
        "d/ds": (g.var, bw * LD(0.5) * (1 - q), bw * LD(0.5) * np.maximum(1, q)),
        "loss": (loss, bw * LD(0.5) * (S + q), bw * LD(0.5) * (np.abs(S) + q)),
        "h_mm": (h_mm, bw * iv, bw * iv),
        "h_pp": (h_pp, bw * LD(0.5) * q, bw * LD(0.5) * q),
        "h_mp": (h_mp, -bw * R * iv, bw * R * iv),
    }
    near = np.abs(s) <= 700
    # where the scale is a normal double, and for the curvature v^beta and
    # 1/v too (it multiplies them: beyond |s| = 709 one of them overflows)
    lo, hi = np.finfo(np.float64).tiny * 2**60, np.finfo(np.float64).max / 2**60

    def normal(a):
        return (np.abs(a) >= lo) & (np.abs(a) <= hi)

    worst = {}
    for name, (got, exact, scale) in checks.items():
        ok = normal(scale) & ((normal(iv) & normal(bw)) | (name[0] != "h"))
        u = ulps_of(got.astype(LD) - exact, np.where(ok, scale, 1), np.float64)
        assert (ok & near).sum() > 0.8 * near.sum(), name
        worst[name] = (float(u[ok & near].max()),
                       float(u[ok & ~near].max()) if (ok & ~near).any() else 0.0)
    assert (normal(checks["d/dinput"][2]) & ~near).sum() > 1000
    assert all(a <= 8 and b <= 16 for a, b in worst.values()), (simd_path, worst)


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("name", ["var", "std", "log_var"])
@pytest.mark.parametrize("eps", [1e-3, 0.3, 2.0])
def test_float32_zero_clamp_test_matches_float64_at_the_threshold(simd_path, name, eps):
    """clamp_grad='zero' on float32 data: the gradient to the parameter is 0
    exactly where the float64 test says the parameter is clamped (theta <= eps,
    theta**2 <= eps, theta <= log(eps), in double), for the float neighbours of
    the threshold; eps is not a float here, so the float path's threshold must
    be rounded the right way."""
    z = {"var": eps, "std": math.sqrt(eps), "log_var": math.log(eps)}[name]
    f = np.float32(z)
    near = [f]
    for _ in range(4):
        near = [np.nextafter(near[0], np.float32(-np.inf))] + near + \
               [np.nextafter(near[-1], np.float32(np.inf))]
    theta = np.resize(np.array(near, dtype=np.float32), 512)
    x = np.ones(theta.size, dtype=np.float32)  # r = 1 - 0: d/dtheta is not 0
    _, g = gnll.gaussian_nll_loss_and_grad(x, np.float32(0.0), **{name: theta}, eps=eps,
                                           reduction="sum", clamp_grad="zero",
                                           wrt=("var",))
    td = theta.astype(np.float64)
    clamped = {"var": td <= eps, "std": td * td <= eps, "log_var": td <= math.log(eps)}[name]
    assert clamped.any() and (~clamped).any()
    np.testing.assert_array_equal(g.var == 0.0, clamped)


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
def test_exp_of_log_var_within_1_ulp(simd_path):
    """exp as the kernels take it (gnll_exp8 on the AVX-512 path, a
    table-free polynomial on the v3 path, glibc's exp on the baseline), seen
    directly: with ``log_var`` and a unit residual, the mean's elementwise
    gradient is E = exp(-s) itself, for |s| <= 700.  On the v3 path within
    1.05 ulp of long double's exp over that range, near 0 and where the
    reduction's k switches (tight enough to catch a relative change of 1e-6
    in the degree-10 coefficient); on the v4 path within 0.6 (0.54 here);
    the baseline path, with glibc's vector exp for SSE2, within the 4 ulp
    glibc documents for it."""
    rng = np.random.default_rng(21)
    ln2 = math.log(2)
    s = np.concatenate([
        np.linspace(-700, 700, 140_001), rng.uniform(-700, 700, 100_000),
        rng.uniform(-1, 1, 20_000), rng.uniform(-1e-6, 1e-6, 2_000),
        [0.0, -0.0, 1e-300, -1e-300, 5e-324, 700.0, -700.0],
        # arguments near +-ln2/2 and near the ln2 multiples, where the
        # reduction switches its k
        np.arange(-1000, 1001) * ln2 / 2 + rng.uniform(-1e-9, 1e-9, 2001)])
    ones = np.ones_like(s)
    _, g = gnll.gaussian_nll_loss_and_grad(ones, np.zeros_like(s), log_var=s,
                                           eps=0.0, reduction="none")
    exact = np.exp(-s.astype(LD))
    u = ulps_of(g.input.astype(LD) - exact, exact, np.float64)
    bound = {"baseline": 4.0, "x86-64-v4": 0.6}.get(simd_path, 1.05)
    assert float(u.max()) <= bound, (simd_path, float(u.max()), s[np.argmax(u)])


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("kernel", ["plain", "family"])
def test_log_within_its_bound_over_the_positive_range(simd_path, kernel):
    """log as the float64 kernels take it, seen directly: with input ==
    target and no clamp, the elementwise loss is log(v) / 2 exactly.  The
    AVX-512 path's own log (gnll_log8) within 0.7 ulp of long double's log
    (0.627 is the worst found, by a targeted search; a relative change of
    1e-4 in one of its table's low parts fails this), glibc's vector log on the
    other paths within the 4 ulp glibc documents.  The whole positive range
    (random bit patterns, subnormals, every power of 2), near 1 where the
    result is small, [0.5, 3] where the table's entries change, and the
    special values inf and NaN.  ``clamp_grad="zero"`` routes the call
    through the extended (family) kernel, whose log loops are separate."""
    rng = np.random.default_rng(23)
    n = 100_000
    v = np.concatenate([
        rng.integers(0x0010000000000000, 0x7FF0000000000000, n,
                     dtype=np.uint64).view(np.float64),
        rng.integers(1, 2**52, n // 4, dtype=np.uint64).view(np.float64),
        np.ldexp(1.0, np.arange(-1074, 1024)),
        1.0 + rng.choice([-1.0, 1.0], n) * 2.0 ** -rng.uniform(1, 52, n),
        rng.uniform(0.5, 3.0, n), [1.0, 0.75, 1.5, np.nextafter(1.5, 0.0)]])
    options = {}
    if kernel == "family":
        # its var loop forms 1/v, which overflows below 2^-1024 (a loss of
        # NaN there with r = 0; only reachable with eps below that)
        v = v[v >= 2.0**-1020]
        options = {"clamp_grad": "zero"}
    zeros = np.zeros_like(v)
    loss = gnll.gaussian_nll_loss(zeros, zeros, v, eps=0.0, reduction="none",
                                  **options)
    exact = np.log(v.astype(LD))
    got = 2 * loss.astype(LD)
    u = np.where(exact == 0, np.abs(got),
                 ulps_of(got - exact, exact, np.float64))
    bound = 0.7 if simd_path == "x86-64-v4" else 4.0
    assert float(u.max()) <= bound, (simd_path, float(u.max()), v[np.argmax(u)])
    special = 2 * gnll.gaussian_nll_loss(
        np.zeros(3), np.zeros(3), np.array([np.inf, np.nan, 1.0]), eps=0.0,
        reduction="none", **options)
    np.testing.assert_array_equal(special, [np.inf, np.nan, 0.0])


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("kernel", ["plain", "family", "std"])
def test_float32_log_within_its_bound(simd_path, kernel):
    """log as the float path takes it, seen the same way (the float path runs
    blocks whose v is within 2^-30..2^30, with a normal float eps).  The AVX-512 path's own
    (gnll_logf16) within 0.55 ulp of log (0.5313 is its worst over every
    positive float), glibc's vector logf on the other paths within 4 (3.94
    for its AVX-512 version, which exceeds 1 ulp for 8.3 million floats in
    that range, most in [0.8, 1); the previous build fails here).  ``std``
    takes 2 log|sigma|."""
    rng = np.random.default_rng(24)
    n = 200_000
    v = np.concatenate([
        np.exp2(rng.uniform(-30, 30, n)),
        1.0 + rng.choice([-1.0, 1.0], n) * 2.0 ** -rng.uniform(1, 24, n),
        rng.uniform(0.5, 3.0, n), rng.uniform(0.8, 1.0, n),
        np.exp2(np.arange(-30, 31))]).astype(np.float32)
    zeros = np.zeros_like(v)
    if kernel == "std":
        sigma = np.sqrt(v).astype(np.float32)
        loss = gnll.gaussian_nll_loss(zeros, zeros, std=sigma, eps=1e-12,
                                      reduction="none")
        exact = 2 * np.log(sigma.astype(LD))
    else:
        options = {"clamp_grad": "zero"} if kernel == "family" else {}
        loss = gnll.gaussian_nll_loss(zeros, zeros, v, eps=1e-12,
                                      reduction="none", **options)
        exact = np.log(v.astype(LD))
    got = 2 * loss.astype(LD)
    u = np.where(exact == 0, np.abs(got), ulps_of(got - exact, exact, np.float32))
    bound = 0.55 if simd_path == "x86-64-v4" else 4.0
    assert float(u.max()) <= bound, (simd_path, float(u.max()), v[np.argmax(u)])


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
def test_float32_exp_of_log_var_within_2_ulp(simd_path):
    """The float path's expf (|log_var| <= 20 there), seen through the same
    gradient: 1 / exp(s), so one more rounding than E alone.  1.7 ulp: the
    polynomial as it is gives 1.58 here, with its degree-6 coefficient
    1% off 1.97 and its degree-5 one 0.1% off 1.77."""
    rng = np.random.default_rng(22)
    s = np.concatenate([np.linspace(-20, 20, 100_001),
                        rng.uniform(-20, 20, 100_000)]).astype(np.float32)
    _, g = gnll.gaussian_nll_loss_and_grad(
        np.ones_like(s), np.zeros_like(s), log_var=s, eps=0.0, reduction="none")
    exact = np.exp(-s.astype(LD))
    u = ulps_of(g.input.astype(LD) - exact, exact, np.float32)
    assert float(u.max()) <= 1.7, (simd_path, float(u.max()))


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_beta_weight_beyond_the_exp_range_in_a_block(simd_path, dtype):
    """A general beta whose beta log v leaves the polynomial exp's range
    (|a| <= 708) for one element of each block, so that exp falls back to
    glibc's for it on the v3 path (on the v4 path, gnll_exp8 covers every
    argument and overflows by itself): that element's loss and var gradient
    overflow, as the exact values do, and the block's other elements stay
    within a few ulp of their terms.  (float32 blocks with |beta log v| > 2
    are evaluated in double, so both dtypes reach the fallback.)"""
    rng = np.random.default_rng(23)
    n, beta = 4096, 10.0
    x = rng.standard_normal(n)
    t = rng.standard_normal(n)
    v = rng.uniform(0.1, 10, n)
    big = np.arange(0, n, 256) + 17
    v[big] = 1e250 if dtype == np.float64 else 3e38  # beta log v > 708
    x, t, v = (a.astype(dtype) for a in (x, t, v))
    assert np.all(beta * np.log(v[big].astype(np.float64)) > 708)
    with np.errstate(over="ignore"):
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, beta=beta,
                                                  reduction="none")
    X, T, V = (a.astype(LD) for a in (x, t, v))
    R = X - T
    bw = V ** LD(beta)
    keep = np.ones(n, bool)
    keep[big] = False
    assert np.all(np.isposinf(loss[big])) and np.all(np.isposinf(g.var[big]))
    eps_t = np.finfo(dtype).eps
    for got, exact, scale in (
            (g.input, bw * R / V, bw * np.abs(R) / V),
            (g.var, bw * LD(0.5) * (1 / V - R * R / V**2),
             bw * LD(0.5) * (1 / V + R * R / V**2)),
            (loss, bw * LD(0.5) * (np.log(V) + R * R / V),
             bw * LD(0.5) * (np.abs(np.log(V)) + R * R / V))):
        err = np.abs(got.astype(LD) - exact)[keep]
        # v^beta = exp(beta log v): log v's rounding, times beta log v
        tol = (8 + 2 * np.abs(LD(beta) * np.log(V[keep]))) * LD(eps_t) * scale[keep]
        assert np.all(err <= tol), float(np.max(err / (LD(eps_t) * scale[keep])))


@pytest.mark.parametrize("simd_path", PATHS, indirect=True)
@pytest.mark.parametrize("case", ["log_var", "log_var_general_beta", "beta", "rows"])
def test_exceptional_elements_leave_their_neighbours_alone(simd_path, case):
    """An element that takes a slower, exceptional route (an exp argument
    beyond the polynomial's range, or beta-NLL's far forms for a log-variance
    beyond +-700 or a loss that overflows) changes nothing for the other
    elements of its block: they are bitwise what they are without it
    (float64; gradients, loss and curvature)."""
    rng = np.random.default_rng(24)
    n = 1024
    x = rng.standard_normal(n)
    t = rng.standard_normal(n)
    odd_at = np.array([5, 300, 777])
    if case == "rows":  # per-row log-variances; one residual overflows r^2/v
        x, t = x.reshape(4, 256), t.reshape(4, 256)
        p = rng.uniform(-3, 3, (4, 1))
        kw = dict(log_var=p, beta=0.3)
        changed = x
        odd = 1e160
    elif case.startswith("log_var"):
        p = rng.uniform(-3, 3, n)
        kw = dict(log_var=p, beta=0.5 if case == "log_var" else 0.3)
        changed = p
        odd = 3000.0
    else:
        p = rng.uniform(0.1, 10, n)
        kw = dict(var=p, beta=3.0)
        changed = p
        odd = 1e300
    loss0, g0 = gnll.gaussian_nll_loss_and_grad(x, t, reduction="none", **kw)
    h0 = () if case == "rows" else gnll.gaussian_nll_curvature(x, t, **kw)
    changed.reshape(-1)[odd_at] = odd
    with np.errstate(over="ignore", invalid="ignore"):
        loss1, g1 = gnll.gaussian_nll_loss_and_grad(x, t, reduction="none", **kw)
        h1 = () if case == "rows" else gnll.gaussian_nll_curvature(x, t, **kw)
    rest = np.ones(n, bool)
    rest[odd_at] = False
    pairs = [(loss0, loss1), (g0.input, g1.input)]
    if case != "rows":  # (per row, the variance gradient is a sum)
        pairs.append((g0.var, g1.var))
    pairs += list(zip(h0, h1))
    for a, b in pairs:
        np.testing.assert_array_equal(a.reshape(-1)[rest], b.reshape(-1)[rest])
