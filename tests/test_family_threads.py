"""Issue-5 kernels: determinism across thread counts, every SIMD path, and
the log-variance loss at extreme values (against mpmath)."""

import math

import numpy as np
import pytest

import gnll
from reference_family import family_loss_and_grads

core = pytest.importorskip("gnll._core")
CHUNK = core.CHUNK
# At least this many elements, so that more than one thread really runs.
MANY = max(3 * CHUNK, 2 * core.PARALLEL_THRESHOLD)

VARIANTS = {
    "log_var": dict(name="log_var"),
    "std": dict(name="std"),
    "beta": dict(name="var", beta=0.5),
    "weight": dict(name="var", weight=True),
    "zero": dict(name="var", clamp_grad="zero"),
    "all": dict(name="log_var", beta=0.75, weight=True, clamp_grad="zero"),
}

# (input shape, parameter shape): elementwise chunks, short rows, long rows
LAYOUTS = {
    "elementwise": ((MANY + 123,), (MANY + 123,)),
    "short-rows": ((MANY // 17 + 5, 17), (MANY // 17 + 5, 1)),
    "long-rows": ((3, max(2 * CHUNK, MANY // 3) + 7), (3,)),
    "scalar": ((MANY // 2 + 3, 2), ()),
}


def _data(rng, variant, layout, dtype):
    xs, ps = LAYOUTS[layout]
    opts = dict(VARIANTS[variant])
    name = opts.pop("name")
    x = rng.normal(size=xs).astype(dtype)
    t = rng.normal(size=xs).astype(dtype)
    if name == "log_var":
        p = rng.normal(size=ps) * 3
    elif name == "std":
        p = rng.uniform(0.0, 2.0, ps)
    else:
        p = rng.uniform(0.0, 2.0, ps) ** 4  # some below eps
    p = np.asarray(p, dtype=dtype)
    if opts.pop("weight", False):
        opts["weight"] = rng.uniform(0, 2, xs[-1:]).astype(dtype)
    opts["eps"] = 1e-3
    return x, t, {name: p}, opts


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bitwise_identical_for_any_thread_count(rng, variant, layout, dtype):
    x, t, param, opts = _data(rng, variant, layout, dtype)
    for reduction in ("mean", "sum"):
        results = [gnll.gaussian_nll_loss_and_grad(x, t, **param, **opts,
                                                   reduction=reduction, n_threads=k)
                   for k in (1, 2, 3, 5)]
        loss0, g0 = results[0]
        for loss, g in results[1:]:
            assert loss.tobytes() == loss0.tobytes()
            for a, b in zip(g, g0):
                assert a.tobytes() == b.tobytes()
        # and they are right
        ref_loss, _ = family_loss_and_grads(x, t, next(iter(param.values())),
                                            next(iter(param)), reduction=reduction,
                                            **{k: v for k, v in opts.items()})
        tol = 1e-12 if dtype == np.float64 else 1e-6
        assert float(loss0) == pytest.approx(ref_loss, rel=tol, abs=tol)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_reduction_none_equal_for_any_thread_count(rng, variant):
    x, t, param, opts = _data(rng, variant, "short-rows", np.float64)
    a = gnll.gaussian_nll_loss(x, t, **param, **opts, reduction="none", n_threads=1)
    b = gnll.gaussian_nll_loss(x, t, **param, **opts, reduction="none", n_threads=2)
    assert a.tobytes() == b.tobytes()


SUPPORTED = [name for name, ok in core.simd_paths() if ok]


@pytest.fixture
def restore_path():
    before = core.get_simd_path()
    yield
    core.set_simd_path(before)


@pytest.mark.parametrize("path", SUPPORTED)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_simd_path(restore_path, rng, path, variant, dtype):
    core.set_simd_path(path)
    n = 1000  # several blocks and a remainder
    opts = dict(VARIANTS[variant])
    name = opts.pop("name")
    x = rng.normal(size=(n, 3)).astype(dtype)
    t = rng.normal(size=(n, 3)).astype(dtype)
    p = {"log_var": rng.normal(size=(n, 3)) * 3, "std": rng.uniform(0, 2, (n, 3)),
         "var": rng.uniform(0, 2, (n, 3)) ** 4}[name].astype(dtype)
    if opts.pop("weight", False):
        opts["weight"] = rng.uniform(0, 2, 3).astype(dtype)
    opts["eps"] = 1e-3
    for pp in (p, p[:, :1]):  # elementwise and rows kernels
        for reduction in ("none", "sum"):
            loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **{name: pp}, **opts,
                                                      reduction=reduction)
            ref_loss, ref_g = family_loss_and_grads(x, t, pp, name, reduction=reduction,
                                                    **opts)
            tol = 1e-12 if dtype == np.float64 else 2e-5
            scale = np.sum(np.abs(ref_loss)) + 1
            np.testing.assert_allclose(loss, ref_loss, rtol=tol, atol=tol * scale)
            for a, b in zip(g, ref_g):
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * (np.sum(np.abs(b)) + 1))


# ---- the log-variance loss without spurious overflow ------------------------

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 50


def _mp_logvar(r, s):
    r, s = mpmath.mpf(r), mpmath.mpf(s)
    q = r * r * mpmath.exp(-s)
    return 0.5 * (s + q), 0.5 * (1 - q), r * mpmath.exp(-s)


def _as_double(v):
    v = float(v) if abs(v) < mpmath.mpf("1.7976931348623157e308") else math.copysign(math.inf, v)
    return v


@pytest.mark.parametrize("s", [-2800.0, -2000.0, -1500.0, -1000.0, -700.0, -20.0, 0.0,
                               30.0, 700.0, 1400.0, 2800.0])
@pytest.mark.parametrize("r", [0.0, 1e-300, 1e-200, 1e-20, 1.0, 1e20, 1e150])
@pytest.mark.parametrize("rows", [False, True])
def test_log_var_extreme_values(s, r, rows):
    """eps=0: no clamp.  Loss, d/dlog_var and d/dinput equal the exact values
    (mpmath) rounded, or are infinite exactly when the exact value overflows."""
    x = np.array([r, -r])
    t = np.zeros(2)
    p = np.array([s]) if rows else np.array([s, s])
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, log_var=p, eps=0.0, reduction="none")
    e_loss, e_ds, e_dmu = (_as_double(v) for v in _mp_logvar(r, s))
    gv = g.var if not rows else None
    for k, sign in enumerate((1.0, -1.0)):
        for got, exp in ((loss[k], e_loss), (g.input[k], sign * e_dmu)):
            if math.isinf(exp):
                assert got == exp
            else:
                assert got == pytest.approx(exp, rel=1e-13, abs=1e-300)
        if gv is not None:
            if math.isinf(e_ds):
                assert gv[k] == e_ds
            else:
                assert gv[k] == pytest.approx(e_ds, rel=1e-13, abs=1e-300)


def test_log_var_no_overflow_where_naive_formula_fails():
    """r**2 * exp(-s) evaluated naively is 0 * inf = nan here; gnll is finite."""
    with np.errstate(all="ignore"):
        naive = 0.5 * (-1500.0 + 1e-300**2 * np.exp(1500.0))
    assert np.isnan(naive)
    loss = gnll.gaussian_nll_loss(np.array([1e-300]), np.zeros(1),
                                  log_var=np.array([-1500.0]), eps=0.0)
    assert np.isfinite(loss)
    assert float(loss) == pytest.approx(_as_double(_mp_logvar(1e-300, -1500.0)[0]), rel=1e-13)


def test_log_var_clamp_at_log_eps():
    eps = 1e-4
    s = np.array([-50.0, math.log(eps), 0.0])
    loss = gnll.gaussian_nll_loss(np.ones(3), np.zeros(3), log_var=s, eps=eps,
                                  reduction="none")
    v = np.array([eps, eps, 1.0])
    np.testing.assert_allclose(loss, 0.5 * (np.log(v) + 1 / v), rtol=1e-14)


def _mp_beta_logvar(r, s, beta):
    """Exact beta-NLL log-variance values: loss, d/ds, d/dinput, and the
    curvature (h_mm, h_pp, h_mp, Fisher h_pp); v^beta = exp(beta s)."""
    r, s, beta = mpmath.mpf(r), mpmath.mpf(s), mpmath.mpf(beta)
    W = mpmath.exp(beta * s)
    q = r * r * mpmath.exp(-s)
    f = mpmath.exp((beta - 1) * s)  # v^beta / v
    return (W * 0.5 * (s + q), W * 0.5 * (1 - q), r * f,
            f, W * 0.5 * q, -r * f, W * 0.5)


def _close_to_exact(got, exact, rel=2e-12):
    """got is the exact value rounded, within rel (exp(beta s) takes beta s
    rounded to double: a relative error up to |beta s| 2^-53), or infinite
    exactly where the exact value overflows."""
    e = _as_double(exact)
    if math.isinf(e):
        return got == e
    return got == pytest.approx(e, rel=rel, abs=1e-300)


@pytest.mark.parametrize("s", [-2800.0, -1500.0, -1000.0, -800.0, -710.0, -30.0,
                               30.0, 710.0, 800.0, 1000.0, 1500.0, 2800.0])
@pytest.mark.parametrize("beta", [0.3, 0.5, 1.0])
@pytest.mark.parametrize("rows", [False, True])
def test_beta_log_var_extreme_values(s, beta, rows):
    """beta-NLL with log_var and eps=0 beyond +-700, where v^beta and 1/v
    over- or underflow on their own: loss, gradients and curvature equal the
    exact values (mpmath), or are infinite exactly where those overflow."""
    for r in (0.0, 1e-300, 1e-20, 1.0, 1e20, 1e150):
        x = np.array([r, -r])
        t = np.zeros(2)
        p = np.array([s]) if rows else np.array([s, s])
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, log_var=p, eps=0.0, beta=beta,
                                                  reduction="none")
        e_loss, e_ds, e_dmu, e_mm, e_pp, e_mp, e_fisher_pp = _mp_beta_logvar(r, s, beta)
        for k, sign in enumerate((1.0, -1.0)):
            assert _close_to_exact(loss[k], e_loss), (r, loss[k], e_loss)
            assert _close_to_exact(g.input[k], sign * e_dmu), (r, g.input[k], e_dmu)
            if not rows:
                assert _close_to_exact(g.var[k], e_ds), (r, g.var[k], e_ds)
        if rows:
            assert _close_to_exact(g.var[0], 2 * e_ds), (r, g.var[0], e_ds)
            continue
        h = gnll.gaussian_nll_curvature(x, t, log_var=p, eps=0.0, beta=beta)
        fi = gnll.gaussian_nll_curvature(x, t, log_var=p, eps=0.0, beta=beta,
                                         kind="fisher")
        for k, sign in enumerate((1.0, -1.0)):
            assert _close_to_exact(h.input[k], e_mm), (r, h.input[k], e_mm)
            assert _close_to_exact(h.var[k], e_pp), (r, h.var[k], e_pp)
            assert _close_to_exact(h.input_var[k], sign * e_mp), (r, h.input_var[k], e_mp)
            assert _close_to_exact(fi.input[k], e_mm)
            assert _close_to_exact(fi.var[k], e_fisher_pp)
            assert fi.input_var[k] == 0.0


@pytest.mark.parametrize("r, s, beta, eps", [
    (1.0, 710.0, 2.0, 1e-6),       # v^beta/2 and v^beta r^2/(2v) both overflow: inf, not NaN
    (1.0, -13.0, -60.0, 1e-6),     # the same with opposite signs, at the default eps
    (1.0, -1000.0, -1.0, 0.0),
    (1e300, 1419.0, 0.9, 0.0),
    (1e-20, 700.0, 0.9, 0.0),      # r/v underflows inside |s| <= 700
    (1e-20, 699.0, 0.999, 0.0),
    (1.0, -400.0, 2.0, 0.0),       # |beta| > 1: v^beta underflows inside |s| <= 700
    (1.0, -700.0, 1.1, 0.0),
    (1e-150, 200.0, 0.999, 0.0),   # r^2/v underflows where v^beta r^2/v does not
    (1e300, -30.0, 0.5, 0.0),      # r/v overflows where v^beta r/v does not
])
@pytest.mark.parametrize("rows", [False, True])
def test_beta_log_var_out_of_range_factors(r, s, beta, eps, rows):
    """beta-NLL log-variance points where a factor (v^beta, r/v, r^2/v) leaves
    the double range while the results do not, or where two infinite terms
    would meet: loss, gradients and curvature equal the exact values rounded
    (or are the exactly signed infinity)."""
    x = np.array([r, -r])
    t = np.zeros(2)
    p = np.array([s]) if rows else np.array([s, s])
    with np.errstate(all="ignore"):
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, log_var=p, eps=eps, beta=beta,
                                                  reduction="none")
    e_loss, e_ds, e_dmu, e_mm, e_pp, e_mp, e_fisher_pp = _mp_beta_logvar(r, max(s, _log_or_minf(eps)), beta)
    for k, sign in enumerate((1.0, -1.0)):
        assert _close_to_exact(loss[k], e_loss), (loss[k], e_loss)
        assert _close_to_exact(g.input[k], sign * e_dmu), (g.input[k], e_dmu)
    if rows:
        assert _close_to_exact(g.var[0], 2 * e_ds), (g.var[0], e_ds)
        return
    assert _close_to_exact(g.var[0], e_ds), (g.var[0], e_ds)
    with np.errstate(all="ignore"):
        h = gnll.gaussian_nll_curvature(x, t, log_var=p, eps=eps, beta=beta)
        fi = gnll.gaussian_nll_curvature(x, t, log_var=p, eps=eps, beta=beta, kind="fisher")
    for k, sign in enumerate((1.0, -1.0)):
        assert _close_to_exact(h.input[k], e_mm), (h.input[k], e_mm)
        assert _close_to_exact(h.var[k], e_pp), (h.var[k], e_pp)
        assert _close_to_exact(h.input_var[k], sign * e_mp), (h.input_var[k], e_mp)
        assert _close_to_exact(fi.var[k], e_fisher_pp), (fi.var[k], e_fisher_pp)


def _log_or_minf(eps):
    return math.log(eps) if eps > 0 else -math.inf


@pytest.mark.parametrize("name, p", [("log_var", -20.0), ("var", 1e-9)])
def test_zero_clamp_rows_with_overflowing_terms(name, p):
    """clamp_grad='zero' with one parameter per row at the clamp: its
    gradient is 0 even where the per-element factor overflows (it was
    0 * inf = NaN), as in the elementwise layout."""
    x = np.full((1, 2), 1e200)
    _, g_rows = gnll.gaussian_nll_loss_and_grad(x, np.zeros((1, 2)), **{name: np.array([[p]])},
                                                clamp_grad="zero", reduction="sum")
    _, g_elem = gnll.gaussian_nll_loss_and_grad(x, np.zeros((1, 2)), **{name: np.full((1, 2), p)},
                                                clamp_grad="zero", reduction="sum")
    assert g_rows.var[0, 0] == 0.0
    np.testing.assert_array_equal(g_elem.var, 0.0)
