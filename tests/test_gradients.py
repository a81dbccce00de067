"""Analytic gradients: against the formula reference and finite differences.

Finite differences use a fourth-order central stencil on gnll's own float64
loss, so they check that the gradients belong to the loss that gnll computes;
the reference comparison checks them against the textbook formulas (including
the straight-through eps clamp, where finite differences do not apply).
"""

import numpy as np
import pytest

import gnll
from reference import (
    assert_grads_match,
    assert_loss_matches,
    numerical_gradient,
    reference_grads,
)

REDUCTIONS = ("none", "mean", "sum")

# (input shape, target shape, var shape) -- all small, for finite differences.
FD_CASES = {
    "same_0d": ((), (), ()),
    "same_5": ((5,), (5,), (5,)),
    "same_3x4": ((3, 4), (3, 4), (3, 4)),
    "var_Nx1": ((3, 4), (3, 4), (3, 1)),
    "var_per_row_D": ((4, 4), (4, 4), (4,)),
    "var_per_row_N": ((3, 4), (3, 4), (3,)),
    "var_fewer_Dx1": ((4, 1), (4, 1), (4,)),
    "var_fewer_Dx1_target_expands": ((4, 1), (1, 3), (4,)),
    "var_1xD": ((3, 4), (3, 4), (1, 4)),
    "var_0d_array": ((3, 4), (3, 4), ()),
    "var_several_size1": ((2, 3, 2, 2), (2, 3, 2, 2), (2, 3, 1, 1)),
    "var_middle1": ((3, 2, 3), (3, 2, 3), (3, 1, 3)),
    "target_row": ((3, 4), (4,), (3, 4)),
    "target_0d": ((3, 4), (), (3, 1)),
    "target_expands": ((3, 1), (1, 4), (3, 1)),
    "target_more_dims": ((3,), (2, 3), (3,)),
}


def _data(rng, shapes):
    xs, ts, vs = shapes
    x = rng.uniform(-2, 2, size=xs)
    t = rng.uniform(-2, 2, size=ts)
    v = rng.uniform(0.3, 2.0, size=vs)  # well above eps: finite differences apply
    return np.asarray(x), np.asarray(t), np.asarray(v)


def _scalar_objective(reduction, grad_output, full, eps):
    """A scalar whose gradient is the gradient gnll returns for `reduction`."""
    def f(x, t, v):
        loss = gnll.gaussian_nll_loss(x, t, v, full=full, eps=eps, reduction=reduction)
        if reduction == "none":
            g = 1.0 if grad_output is None else grad_output
            return float(np.sum(np.asarray(loss) * g))
        return float(loss) * (1.0 if grad_output is None else float(grad_output))
    return f


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(FD_CASES), ids=list(FD_CASES))
def test_gradients_match_finite_differences(rng, case, reduction):
    x, t, v = _data(rng, FD_CASES[case])
    f = _scalar_objective(reduction, None, False, 1e-6)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    assert isinstance(g, gnll.Grads)
    num_x = numerical_gradient(lambda a: f(a, t, v), x)
    num_t = numerical_gradient(lambda a: f(x, a, v), t)
    num_v = numerical_gradient(lambda a: f(x, t, a), v)
    for name, got, num, arg in (("input", g.input, num_x, x), ("target", g.target, num_t, t),
                                ("var", g.var, num_v, v)):
        assert got.shape == arg.shape, (name, got.shape, arg.shape)
        np.testing.assert_allclose(got, num, rtol=1e-7, atol=1e-8, err_msg=name)
    assert_grads_match(g, x, t, v, reduction=reduction)
    assert_loss_matches(loss, x, t, v, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_python_float_var_gets_0d_gradient(rng, reduction):
    x, t, _ = _data(rng, FD_CASES["same_3x4"])
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, 0.8, reduction=reduction)
    assert isinstance(g.var, np.ndarray) and g.var.shape == ()
    f = _scalar_objective(reduction, None, False, 1e-6)
    num = numerical_gradient(lambda a: f(x, t, float(a)), np.array(0.8))
    np.testing.assert_allclose(g.var, num, rtol=1e-7, atol=1e-9)
    assert_grads_match(g, x, t, 0.8, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("grad_output", [2.5, -0.5, 0.0, np.float32(3.0), np.array(1.5)],
                         ids=["2.5", "-0.5", "0", "np.float32", "0d-array"])
def test_grad_output_scalar(rng, reduction, grad_output):
    x, t, v = _data(rng, FD_CASES["var_Nx1"])
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction,
                                              grad_output=grad_output)
    _, g1 = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    assert_grads_match(g, x, t, v, reduction=reduction, grad_output=float(grad_output))
    for a, b in zip(g, g1):
        # (b may be a sum that cancels: compare relative to its largest entry)
        atol = 1e-14 * max(1.0, abs(float(grad_output))) * np.max(np.abs(b))
        np.testing.assert_allclose(a, b * float(grad_output), rtol=1e-14, atol=atol)
    # the loss itself does not depend on grad_output
    assert loss == gnll.gaussian_nll_loss(x, t, v, reduction=reduction)


@pytest.mark.parametrize("go_shape", [(3, 4), (4,), (3, 1), (), (1, 1)],
                         ids=["full", "row", "col", "0d", "1x1"])
def test_grad_output_for_none_broadcasts_to_loss(rng, go_shape):
    x, t, v = _data(rng, FD_CASES["var_Nx1"])
    go = rng.uniform(-2, 2, size=go_shape)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=go)
    assert_grads_match(g, x, t, v, reduction="none", grad_output=go)
    f = _scalar_objective("none", go, False, 1e-6)
    np.testing.assert_allclose(g.var, numerical_gradient(lambda a: f(x, t, a), v),
                               rtol=1e-7, atol=1e-8)


def test_grad_output_for_none_on_expanded_output(rng):
    # input (3,1) and target (1,4): the loss (and grad_output) is (3,4).
    x, t, v = _data(rng, FD_CASES["target_expands"])
    go = rng.uniform(-2, 2, size=(3, 4))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=go)
    assert g.input.shape == (3, 1) and g.target.shape == (1, 4) and g.var.shape == (3, 1)
    assert_grads_match(g, x, t, v, reduction="none", grad_output=go)


@pytest.mark.parametrize("full", [False, True], ids=["partial", "full"])
def test_full_does_not_change_gradients(rng, full):
    x, t, v = _data(rng, FD_CASES["same_3x4"])
    _, g0 = gnll.gaussian_nll_loss_and_grad(x, t, v)
    _, g1 = gnll.gaussian_nll_loss_and_grad(x, t, v, full=full)
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("eps", [1e-6, 0.05, 1.0], ids=lambda e: f"eps={e}")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_straight_through_clamp(rng, eps, reduction):
    x = rng.uniform(-1, 1, size=(4, 5))
    t = rng.uniform(-1, 1, size=(4, 5))
    v = rng.uniform(0, 2 * eps, size=(4, 5))
    v[0, 0] = 0.0
    v[0, 1] = eps
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, eps=eps, reduction=reduction)
    assert_grads_match(g, x, t, v, eps=eps, reduction=reduction)
    # not zeroed below eps (unlike MLX/lucid)
    below = v < eps
    assert np.all(g.var[below] != 0)


@pytest.mark.parametrize("wrt", [("input",), ("target",), ("var",), ("input", "var"),
                                 ("target", "var"), ("input", "target"),
                                 ("var", "input", "target"), ()],
                         ids=lambda w: "+".join(w) or "nothing")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_wrt_subsets(rng, wrt, reduction):
    x, t, v = _data(rng, FD_CASES["var_per_row_N"])
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, wrt=wrt)
    assert isinstance(g, gnll.Grads)
    assert g._fields == ("input", "target", "var")
    assert_grads_match(g, x, t, v, reduction=reduction, wrt=wrt)
    assert_loss_matches(loss, x, t, v, reduction=reduction)
    # the requested gradients do not depend on what else was requested
    _, g_all = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    for name in wrt:
        np.testing.assert_array_equal(getattr(g, name), getattr(g_all, name))


def test_wrt_list_is_accepted(rng):
    x, t, v = _data(rng, FD_CASES["same_5"])
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=["var"])
    assert g.input is None and g.target is None and g.var.shape == (5,)


def test_loss_from_loss_and_grad_equals_loss(rng):
    # Not necessarily bitwise (the loss-only path may use other SIMD code),
    # but the same value within rounding, the same type and shape.
    for case in ("same_3x4", "var_Nx1", "var_per_row_D", "target_expands"):
        x, t, v = _data(rng, FD_CASES[case])
        for reduction in REDUCTIONS:
            loss, _ = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
            loss2 = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
            np.testing.assert_allclose(loss, loss2, rtol=4e-16 * 4, atol=1e-15)
            assert type(loss) is type(loss2)
            assert np.shape(loss) == np.shape(loss2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", [((1001, 103), (1001, 103), (1001, 1)),
                                    ((1001, 103), (1001, 103), (1001,)),
                                    ((1001, 103), (103,), (1, 103)),
                                    ((100_003,), (100_003,), ())],
                         ids=["Nx1", "per_row", "1xD_target_row", "scalar_var_100003"])
def test_large_broadcast_gradients_vs_reference(rng, dtype, reduction, shapes):
    xs, ts, vs = shapes
    x = rng.uniform(-2, 2, size=xs).astype(dtype)
    t = rng.uniform(-2, 2, size=ts).astype(dtype)
    v = np.asarray(rng.uniform(0.3, 2.0, size=vs).astype(dtype))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    assert_grads_match(g, x, t, v, reduction=reduction, dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gradients_within_4_ulp(rng, dtype, reduction):
    # same shape: each gradient is a few roundings from the exact formula
    x = rng.uniform(-2, 2, size=1000).astype(dtype)
    t = rng.uniform(-2, 2, size=1000).astype(dtype)
    v = rng.uniform(0.3, 2.0, size=1000).astype(dtype)
    go = rng.uniform(0.5, 2, size=1000) if reduction == "none" else 1.7
    go_copy = np.copy(go)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, grad_output=go)
    np.testing.assert_array_equal(go, go_copy)  # grad_output is not modified either
    ex, et, ev = reference_grads(x, t, v, reduction=reduction, grad_output=go,
                                 dtype=np.longdouble)
    for got, exp in ((g.input, ex), (g.target, et)):
        ulps = np.abs(got.astype(np.longdouble) - exp) / np.spacing(np.abs(exp).astype(dtype))
        assert np.max(ulps) <= 4, np.max(ulps)
    # d/dvar = 0.5*(1/v - r^2/v^2) can cancel: bound relative to its parts
    r = x.astype(np.float64) - t
    parts = 0.5 * (1 / v.astype(np.float64) + r**2 / v.astype(np.float64) ** 2)
    parts = parts * np.abs(go) / (1000 if reduction == "mean" else 1)
    assert np.all(np.abs(g.var - ev) <= 4 * np.finfo(dtype).eps * parts)


def test_gradient_dtype_matches_compute_dtype(rng):
    x = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
    t = rng.uniform(-1, 1, size=(3, 4))  # float64 target promotes
    v = rng.uniform(0.5, 1, size=(3, 1)).astype(np.float32)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v)
    assert type(loss) is np.float64
    assert g.input.dtype == g.target.dtype == g.var.dtype == np.float64
    x16 = x.astype(np.float16)
    _, g = gnll.gaussian_nll_loss_and_grad(x16, x16, np.ones(4, np.float16)[None, :])
    assert g.input.dtype == np.float32 and g.var.shape == (1, 4)
    xi = np.arange(6).reshape(2, 3)
    _, g = gnll.gaussian_nll_loss_and_grad(xi, xi[::-1], 2)
    assert g.input.dtype == np.float64 and g.var.shape == ()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("which", ["input", "target", "var", "all", "python_floats"])
def test_zero_d_gradients_are_arrays(reduction, which):
    """A 0-d argument gets a 0-d *ndarray* gradient (like torch's 0-d tensor).

    The contract: "a Python-float var gets a 0-d gradient"; gradients are
    arrays of the argument's shape, so callers can rely on ndarray methods
    and in-place updates whatever the argument's shape.
    """
    x, t, v = np.full((2, 3), 0.5), np.zeros((2, 3)), np.full((2, 3), 2.0)
    if which == "input":
        x, v = np.array(0.5), 2.0  # a 0-d input needs a scalar var
    if which == "all":
        x = np.array(0.5)
    if which in ("target", "all"):
        t = np.array(0.0)
    if which in ("var", "all"):
        v = np.array(2.0)
    if which == "python_floats":
        x, t, v = 0.5, 0.0, 2.0
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    for name, grad, arg in zip(g._fields, g, (x, t, v)):
        assert grad.shape == np.shape(arg), name
        assert isinstance(grad, np.ndarray), f"grad {name} is a {type(grad).__name__}"


def test_wrt_single_name_string(rng):
    # documented in gaussian_nll_loss_and_grad: `wrt` may be one name
    x, t, v = _data(rng, FD_CASES["var_Nx1"])
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, wrt="var")
    _, g2 = gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=("var",))
    assert g.input is None and g.target is None
    np.testing.assert_array_equal(g.var, g2.var)
