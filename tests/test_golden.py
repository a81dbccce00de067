"""Golden values from PyTorch's and MLX's own tests and observations.

They need no torch: expected values are computed here from the formula where
possible, and the literal numbers published by torch/MLX (and recorded in the
team's notes) are checked as well, with a tolerance that fits their printed
precision.
"""

import math

import numpy as np
import pytest

import gnll

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# --- torch test_nn.py::test_gaussian_nll_loss_broadcasting / _scalar_var data
INPUT = np.array([[0.5, 1.5, 2.5], [2.0, 4.0, 6.0]])
TARGET_FULL = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
TARGET_PART = np.array([[1.0, 2.0, 3.0]])
VAR_FULL = np.array([[0.5, 0.5, 0.5], [1.5, 1.5, 1.5]])
VAR_PART1 = np.array([[0.5], [1.5]])
VAR_PART2 = np.array([0.5, 1.5])
EXPECTED_BROADCASTING = 0.5 * (np.log(VAR_FULL) + (INPUT - TARGET_FULL) ** 2 / VAR_FULL)
EXPECTED_BROADCASTING_LITERAL = np.array([[-0.0965736, -0.0965736, -0.0965736],
                                          [0.5360659, 1.5360659, 3.2027326]])

BROADCASTING_CASES = {
    "target_part-var_full": (TARGET_PART, VAR_FULL),
    "target_full-var_part1": (TARGET_FULL, VAR_PART1),
    "target_full-var_part2": (TARGET_FULL, VAR_PART2),
    "target_part-var_part1": (TARGET_PART, VAR_PART1),
    "target_part-var_part2": (TARGET_PART, VAR_PART2),
    "target_full-var_full": (TARGET_FULL, VAR_FULL),
}


def test_broadcasting_expected_literal_matches_formula():
    np.testing.assert_allclose(EXPECTED_BROADCASTING, EXPECTED_BROADCASTING_LITERAL, atol=1e-7)


@pytest.mark.parametrize("case", list(BROADCASTING_CASES), ids=list(BROADCASTING_CASES))
def test_torch_broadcasting_cases(case):
    target, var = BROADCASTING_CASES[case]
    out = gnll.gaussian_nll_loss(INPUT, target, var, reduction="none")
    np.testing.assert_allclose(out, EXPECTED_BROADCASTING, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(out, EXPECTED_BROADCASTING_LITERAL, atol=1e-7)
    # derived reductions (notes: mean 0.8308573, sum 4.9851437, full mean 1.7497959)
    mean = gnll.gaussian_nll_loss(INPUT, target, var)
    np.testing.assert_allclose(mean, EXPECTED_BROADCASTING.mean(), rtol=1e-14)
    np.testing.assert_allclose(mean, 0.8308573, atol=1e-7)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(INPUT, target, var, reduction="sum"),
                               4.9851437, atol=1e-7)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(INPUT, target, var, full=True),
                               1.7497959, atol=2e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_torch_scalar_var_case(dtype):
    x = INPUT.astype(dtype)
    t = TARGET_FULL.astype(dtype)
    expected = 0.5 * (np.log(0.5) + (INPUT - TARGET_FULL) ** 2 / 0.5)
    literal = np.array([[-0.0965736, -0.0965736, -0.0965736],
                        [0.6534264, 3.6534264, 8.6534262]])
    out = gnll.gaussian_nll_loss(x, t, 0.5, reduction="none")
    assert out.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_allclose(out, expected, rtol=1e-14)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, literal, atol=1e-6)
    # ... and equals the call with a filled var array
    filled = gnll.gaussian_nll_loss(x, t, np.full_like(x, 0.5), reduction="none")
    np.testing.assert_array_equal(out, filled)


# --- MLX python/tests/test_losses.py::test_gaussian_nll_loss
MLX_INPUTS = np.array([[0.1, 0.2], [0.3, 0.4]])
MLX_TARGETS = np.array([[0.2, 0.1], [0.1, 0.2]])
MLX_VARS = np.array([[0.1, 0.2], [0.3, 0.4]])
MLX_NONE = np.array([[-1.101293, -0.779719], [-0.535320, -0.408145]])
MLX_FULL_NONE = np.array([[-0.182354, 0.139220], [0.383619, 0.510793]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("full,reduction,expected", [
    (False, "none", MLX_NONE),
    (False, "mean", -0.7061192),
    (False, "sum", -2.8244767),
    (True, "none", MLX_FULL_NONE),
    (True, "mean", 0.2128194),
    (True, "sum", 0.8512774),
], ids=["none", "mean", "sum", "full-none", "full-mean", "full-sum"])
def test_mlx_table(dtype, full, reduction, expected):
    x, t, v = (a.astype(dtype) for a in (MLX_INPUTS, MLX_TARGETS, MLX_VARS))
    out = gnll.gaussian_nll_loss(x, t, v, full=full, reduction=reduction)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    formula = 0.5 * (np.log(MLX_VARS) + (MLX_INPUTS - MLX_TARGETS) ** 2 / MLX_VARS)
    formula = formula + (HALF_LOG_2PI if full else 0.0)
    formula = {"none": formula, "mean": formula.mean(), "sum": formula.sum()}[reduction]
    np.testing.assert_allclose(out, formula, rtol=1e-14 if dtype == np.float64 else 1e-6)


def test_mlx_default_call_is_mean_scalar():
    out = gnll.gaussian_nll_loss(MLX_INPUTS, MLX_TARGETS, MLX_VARS)
    assert np.ndim(out) == 0
    np.testing.assert_allclose(out, MLX_NONE.mean(), atol=1e-6)


# --- lucid docstring example: the correct mean is -0.2841, not -0.2218
LUCID = (np.array([0.0, 1.0]), np.array([0.5, 1.0]), np.array([1.0, 0.25]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16],
                         ids=["f64", "f32", "f16"])
def test_lucid_docstring_example(dtype):
    x, t, v = (a.astype(dtype) for a in LUCID)
    out = gnll.gaussian_nll_loss(x, t, v)
    expected = 0.5 * ((0.0 + 0.25 / 1.0) + (math.log(0.25) + 0.0)) / 2  # mean of [0.125, -0.6931]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(out, -0.2840736, atol=1e-6)
    assert round(float(out), 4) == -0.2841
    assert not np.isclose(out, -0.2218, atol=1e-3)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, reduction="sum"), -0.568147,
                               atol=1e-6)
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, full=True), 0.634865, atol=1e-6)


def test_torch_module_docstring_example():
    x = np.array([1.5, 2.0, 0.5])
    t = np.array([1.0, 2.5, 0.3])
    v = np.array([0.5, 1.0, 0.2])
    out = gnll.gaussian_nll_loss(x, t, v)
    np.testing.assert_allclose(out, np.mean(0.5 * (np.log(v) + (x - t) ** 2 / v)), rtol=1e-14)
    np.testing.assert_allclose(out, -0.2254309, atol=1e-6)


# --- special values observed with torch (float32, eps 1e-6)

def test_var_zero_is_clamped_to_eps_float32():
    x = np.array([1.0], dtype=np.float32)
    t = np.array([0.0], dtype=np.float32)
    out = gnll.gaussian_nll_loss(x, t, np.array([0.0], dtype=np.float32))
    assert out.dtype == np.float32
    expected = np.float32(0.5 * (math.log(1e-6) + 1.0 / 1e-6))
    assert abs(float(out) - float(expected)) <= np.spacing(expected)
    assert float(out) == pytest.approx(499993.09375, abs=0.04)


def test_var_zero_is_clamped_to_eps_float64():
    out = gnll.gaussian_nll_loss(np.array([1.0]), np.array([0.0]), np.array([0.0]))
    assert float(out) == pytest.approx(0.5 * (math.log(1e-6) + 1e6), rel=1e-15)


@pytest.mark.parametrize("var,expected", [(4.0, 0.5 * math.log(4.0)), (0.25, 0.0), (1.0, 0.0)],
                         ids=["var4", "var0.25", "var1"])
def test_eps_one_clamps(var, expected):
    x = np.array([0.7, -1.2])
    out = gnll.gaussian_nll_loss(x, x.copy(), np.full(2, var), eps=1.0)
    assert float(out) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_nan_var_gives_nan_without_error(dtype):
    x = np.array([1.0, 2.0, 3.0], dtype=dtype)
    t = np.zeros(3, dtype=dtype)
    v = np.array([1.0, np.nan, 1.0], dtype=dtype)
    none = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    assert np.isnan(none[1]) and np.all(np.isfinite(none[[0, 2]]))
    assert np.isnan(gnll.gaussian_nll_loss(x, t, v))
    assert np.isnan(gnll.gaussian_nll_loss(x, t, v, reduction="sum"))
    assert np.isnan(gnll.gaussian_nll_loss(x, t, float("nan")))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_nan_input_and_target_propagate(dtype):
    x = np.array([1.0, np.nan, 3.0], dtype=dtype)
    t = np.array([0.0, 0.0, np.nan], dtype=dtype)
    v = np.ones(3, dtype=dtype)
    none = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    assert np.isfinite(none[0]) and np.isnan(none[1]) and np.isnan(none[2])
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none")
    assert np.isnan(g.input[1]) and np.isnan(g.var[2]) and np.isfinite(g.input[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_infinities(dtype):
    one = np.ones(1, dtype=dtype)
    zero = np.zeros(1, dtype=dtype)
    inf = np.full(1, np.inf, dtype=dtype)
    assert gnll.gaussian_nll_loss(one, zero, inf) == np.inf      # var = inf
    assert gnll.gaussian_nll_loss(inf, zero, one) == np.inf      # input = inf
    assert gnll.gaussian_nll_loss(zero, -inf, one) == np.inf     # target = -inf
    assert np.isnan(gnll.gaussian_nll_loss(inf, inf, one))       # inf - inf
    assert gnll.gaussian_nll_loss(np.concatenate([one, one]), np.concatenate([zero, zero]),
                                  np.concatenate([one, inf]), reduction="sum") == np.inf
    assert gnll.gaussian_nll_loss(one, zero, float("inf")) == np.inf


@pytest.mark.parametrize("diff", [0.0, 1.0], ids=["x==y", "x!=y"])
def test_eps_zero_with_var_zero_is_nan(diff):
    x = np.array([1.0 + diff])
    out = gnll.gaussian_nll_loss(x, np.array([1.0]), np.array([0.0]), eps=0.0)
    assert np.isnan(out)


def test_negative_eps_does_not_clamp():
    out = gnll.gaussian_nll_loss(np.array([1.0]), np.array([0.0]), np.array([0.5]), eps=-1.0)
    assert float(out) == pytest.approx(0.5 * (math.log(0.5) + 1.0 / 0.5), rel=1e-15)
    assert float(out) == pytest.approx(0.6534, abs=1e-4)


def test_negative_zero_var_is_accepted_and_clamped():
    out = gnll.gaussian_nll_loss(np.array([1.0]), np.array([0.0]), np.array([-0.0]))
    assert float(out) == pytest.approx(0.5 * (math.log(1e-6) + 1e6), rel=1e-15)
    out = gnll.gaussian_nll_loss(np.array([1.0]), np.array([0.0]), -0.0)
    assert float(out) == pytest.approx(0.5 * (math.log(1e-6) + 1e6), rel=1e-15)


# --- gradient observations

def test_gradient_straight_through_clamp_observation():
    var = np.array([1e-8, 0.5])
    x = np.array([0.3, 0.3])
    t = np.zeros(2)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, var, reduction="sum")
    # formula with v = max(var, eps): the clamp is straight-through
    vc = np.maximum(var, 1e-6)
    np.testing.assert_allclose(g.var, 0.5 * (1 / vc - 0.09 / vc**2), rtol=1e-13)
    np.testing.assert_allclose(g.input, 0.3 / vc, rtol=1e-13)
    np.testing.assert_allclose(g.target, -0.3 / vc, rtol=1e-13)
    # torch's observed values
    np.testing.assert_allclose(g.var, [-4.49995e10, 0.82], rtol=1e-6)
    np.testing.assert_allclose(g.input, [3e5, 0.6], rtol=1e-6)


def test_gradient_var_zero_equal_args():
    _, g = gnll.gaussian_nll_loss_and_grad(np.array([2.0]), np.array([2.0]), np.array([0.0]),
                                           reduction="sum")
    assert float(g.var[0]) == pytest.approx(0.5 / 1e-6, rel=1e-14)  # 5e5
    assert g.input[0] == 0.0 and g.target[0] == 0.0


def test_homoscedastic_mean_grad_var_observation():
    var = np.array([[0.5], [1.5]])
    _, g = gnll.gaussian_nll_loss_and_grad(INPUT, TARGET_FULL, var)
    assert g.var.shape == (2, 1)
    r = INPUT - TARGET_FULL
    expected = (0.5 * (1 / var - r**2 / var**2)).sum(axis=1, keepdims=True) / r.size
    np.testing.assert_allclose(g.var, expected, rtol=1e-14)
    np.testing.assert_allclose(g.var, [[0.25], [-0.351852]], atol=1e-6)
