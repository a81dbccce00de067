"""Every SIMD code path the CPU supports gives the reference's answers.

The compiled core dispatches between instruction-set paths at import; the
private ``gnll._core`` hooks let the test run each supported path in turn.
"""

import numpy as np
import pytest

import gnll
from reference import assert_grads_match, assert_loss_matches

core = pytest.importorskip("gnll._core")
if not (hasattr(core, "simd_paths") and hasattr(core, "set_simd_path")
        and hasattr(core, "get_simd_path")):
    pytest.skip("gnll._core has no SIMD path hooks", allow_module_level=True)

SUPPORTED = [name for name, ok in core.simd_paths() if ok]


@pytest.fixture
def simd_path(request):
    before = core.get_simd_path()
    core.set_simd_path(request.param)
    assert core.get_simd_path() == request.param
    yield request.param
    core.set_simd_path(before)


@pytest.mark.parametrize("simd_path", SUPPORTED, indirect=True)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("var_shape", [(1003, 37), (1003, 1), (), (1, 37)],
                         ids=["same", "Nx1", "scalar", "1xD"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_simd_path_matches_reference(simd_path, dtype, var_shape, reduction):
    rng = np.random.default_rng(11)
    x = rng.uniform(-3, 3, size=(1003, 37)).astype(dtype)
    t = rng.uniform(-3, 3, size=(1003, 37)).astype(dtype)
    v = np.asarray(rng.uniform(0.0, 3, size=var_shape).astype(dtype))
    if v.ndim:
        v.flat[::5] = 0.0  # clamped entries too
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, full=True)
    assert_loss_matches(loss, x, t, v, full=True, reduction=reduction, dtype=dtype)
    assert_grads_match(g, x, t, v, reduction=reduction, dtype=dtype)


@pytest.mark.parametrize("simd_path", SUPPORTED, indirect=True)
def test_simd_path_special_values(simd_path):
    x = np.array([1.0, np.nan, np.inf, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    t = np.array([0.0, 0.0, 0.0, -np.inf, 1.0, 2.0, 3.0, 4.0, 5.0])
    v = np.array([np.nan, 1.0, 1.0, 1.0, 0.0, np.inf, 1e-30, 1e30, 1.0])
    for dtype in (np.float64, np.float32):
        out = gnll.gaussian_nll_loss(x.astype(dtype), t.astype(dtype), v.astype(dtype),
                                     reduction="none")
        assert_loss_matches(out, x.astype(dtype), t.astype(dtype), v.astype(dtype),
                            reduction="none", dtype=dtype)


def test_unknown_simd_path_rejected():
    with pytest.raises((ValueError, KeyError)):
        core.set_simd_path("no-such-path")


@pytest.mark.parametrize("simd_path", SUPPORTED, indirect=True)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_simd_path_large_outputs(simd_path, dtype):
    # 2**20 elements and more may use a different store path; odd tail
    rng = np.random.default_rng(12)
    n = 2**20 + 5
    x = rng.uniform(-3, 3, size=n).astype(dtype)
    t = rng.uniform(-3, 3, size=n).astype(dtype)
    v = rng.uniform(0.05, 3, size=n).astype(dtype)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none")
    assert_loss_matches(loss, x, t, v, reduction="none", dtype=dtype)
    assert_grads_match(g, x, t, v, reduction="none", dtype=dtype)
    assert_loss_matches(gnll.gaussian_nll_loss(x, t, v, reduction="none"), x, t, v,
                        reduction="none", dtype=dtype)


@pytest.mark.parametrize("simd_path", SUPPORTED, indirect=True)
def test_float32_precision_is_reported(simd_path):
    # x86-64-v3 and v4 have FMA and evaluate float32 data in float; the
    # baseline path widens them to double.
    assert core.float32_in_float() == (simd_path != "baseline")
    assert gnll.show_config(mode="dicts")["simd"]["float32_in_float"] == \
        core.float32_in_float()
