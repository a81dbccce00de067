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
