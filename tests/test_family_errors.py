"""Errors, argument rules and the object API of the issue-5 options."""

import math

import numpy as np
import pytest

import gnll

X = np.zeros((2, 3))
T = np.ones((2, 3))


@pytest.mark.parametrize("kwargs", [
    {},
    {"var": 1.0, "log_var": 0.0},
    {"var": 1.0, "std": 1.0},
    {"log_var": 0.0, "std": 1.0},
    {"var": 1.0, "log_var": 0.0, "std": 1.0},
])
@pytest.mark.parametrize("func", ["loss", "loss_and_grad", "curvature"])
def test_exactly_one_variance_parameter(kwargs, func):
    f = {"loss": gnll.gaussian_nll_loss, "loss_and_grad": gnll.gaussian_nll_loss_and_grad,
         "curvature": gnll.gaussian_nll_curvature}[func]
    with pytest.raises(TypeError, match="exactly one of var, log_var and std"):
        f(X, T, **kwargs)


def test_class_needs_exactly_one_variance_parameter():
    loss_fn = gnll.GaussianNLLLoss()
    with pytest.raises(TypeError, match="exactly one"):
        loss_fn(X, T)
    with pytest.raises(TypeError, match="exactly one"):
        loss_fn.loss_and_grad(X, T, 1.0, std=1.0)


def test_var_positional_still_works_and_is_default_path():
    assert gnll.gaussian_nll_loss(X, T, np.ones((2, 3))) == 0.5
    assert gnll.gaussian_nll_loss(X, T, var=np.ones((2, 3))) == 0.5


def test_negative_std_raises_like_var():
    with pytest.raises(ValueError, match="std has negative entry/entries"):
        gnll.gaussian_nll_loss(X, T, std=np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="std has negative entry/entries"):
        gnll.gaussian_nll_loss(X, T, std=-1.0)
    with pytest.raises(ValueError, match="std has negative entry/entries"):
        gnll.gaussian_nll_loss(X, T, std=np.array([-1.0, 1.0]))  # rows layout
    # -0.0 is fine, as for var
    assert np.isfinite(gnll.gaussian_nll_loss(X, X, std=-0.0))


def test_negative_log_var_is_fine():
    loss = gnll.gaussian_nll_loss(X, X, log_var=np.full((2, 3), -3.0))
    assert loss == pytest.approx(-1.5)


@pytest.mark.parametrize("name", ["log_var", "std"])
def test_shape_errors_name_the_parameter(name):
    with pytest.raises(ValueError, match=f"{name} is of incorrect size"):
        gnll.gaussian_nll_loss(X, T, **{name: np.ones((2, 2))})


def test_order_of_checks_negative_std_before_shape():
    with pytest.raises(ValueError, match="negative"):
        gnll.gaussian_nll_loss(X, T, std=-np.ones((2, 2)))
    with pytest.raises(ValueError, match="abc is not valid"):
        gnll.gaussian_nll_loss(X, T, log_var=np.ones((2, 3)), reduction="abc")


@pytest.mark.parametrize("weight, match", [
    (np.array([1.0, -1.0, 1.0]), "weight has negative"),
    (np.array([1.0, np.nan, 1.0]), "weight has non-finite"),
    (np.array([1.0, np.inf, 1.0]), "weight has non-finite"),
    (np.ones(2), "cannot be broadcast"),
    (np.ones((3, 2, 3)), "cannot be broadcast"),  # would enlarge the loss
])
def test_bad_weights(weight, match):
    with pytest.raises(ValueError, match=match):
        gnll.gaussian_nll_loss(X, T, 1.0, weight=weight)
    with pytest.raises(ValueError, match=match):
        gnll.gaussian_nll_loss_and_grad(X, T, log_var=0.0, weight=weight)


def test_complex_weight_is_a_type_error():
    with pytest.raises(TypeError, match="weight"):
        gnll.gaussian_nll_loss(X, T, 1.0, weight=np.ones(3, complex))


def test_weight_forms():
    # a scalar, a list, ints and bools all work
    assert gnll.gaussian_nll_loss(X, T, 1.0, weight=2.0, reduction="sum") == 6.0
    assert gnll.gaussian_nll_loss(X, T, 1.0, weight=[1, 0, 1], reduction="sum") == 2.0
    assert gnll.gaussian_nll_loss(X, T, 1.0, weight=np.array([True, False, True])) == 0.5
    # float32 compute stays float32 with a float64 weight
    loss = gnll.gaussian_nll_loss(X.astype(np.float32), T.astype(np.float32), 1.0,
                                  weight=np.ones(3))
    assert loss.dtype == np.float32


@pytest.mark.parametrize("beta, exc", [(math.nan, ValueError), (math.inf, ValueError),
                                       ("0.5", TypeError), (None, TypeError)])
def test_bad_beta(beta, exc):
    with pytest.raises(exc, match="beta"):
        gnll.gaussian_nll_loss(X, T, 1.0, beta=beta)
    with pytest.raises(exc, match="beta"):
        gnll.GaussianNLLLoss(beta=beta)


@pytest.mark.parametrize("mode", ["Zero", "mlx", "", None, 0])
def test_bad_clamp_grad(mode):
    with pytest.raises(ValueError, match="clamp_grad"):
        gnll.gaussian_nll_loss_and_grad(X, T, 1.0, clamp_grad=mode)
    with pytest.raises(ValueError, match="clamp_grad"):
        gnll.GaussianNLLLoss(clamp_grad=mode)


def test_wrt_accepts_the_parameter_name():
    _, g = gnll.gaussian_nll_loss_and_grad(X, T, log_var=np.zeros((2, 3)), wrt="log_var")
    assert g.input is None and g.var.shape == (2, 3)
    _, g = gnll.gaussian_nll_loss_and_grad(X, T, std=np.ones((2, 3)), wrt=["input", "std"])
    assert g.target is None and g.var.shape == (2, 3)
    _, g = gnll.gaussian_nll_loss_and_grad(X, T, std=np.ones((2, 3)), wrt="var")
    assert g.var.shape == (2, 3)
    with pytest.raises(ValueError, match="wrt names unknown argument 'log_var'"):
        gnll.gaussian_nll_loss_and_grad(X, T, np.ones((2, 3)), wrt="log_var")
    with pytest.raises(ValueError, match="wrt names unknown argument 'std'"):
        gnll.gaussian_nll_loss_and_grad(X, T, log_var=np.ones((2, 3)), wrt="std")


def test_grads_is_backward_compatible():
    loss, g = gnll.gaussian_nll_loss_and_grad(X, T, log_var=np.zeros((2, 3)))
    assert g._fields == ("input", "target", "var")
    gi, gt, gv = g
    assert gv is g.var


def test_class_options_and_repr():
    f = gnll.GaussianNLLLoss(reduction="sum", beta=0.5, clamp_grad="zero")
    assert repr(f) == ("GaussianNLLLoss(full=False, eps=1e-06, reduction='sum', "
                       "beta=0.5, clamp_grad='zero')")
    assert repr(gnll.GaussianNLLLoss()) == "GaussianNLLLoss(full=False, eps=1e-06, reduction='mean')"
    x = np.array([0.0, 1.0])
    y = np.array([0.5, 1.0])
    var = np.array([1e-8, 0.25])
    expected = gnll.gaussian_nll_loss_and_grad(x, y, var, reduction="sum", beta=0.5,
                                               clamp_grad="zero", weight=[1.0, 2.0])
    got = f.loss_and_grad(x, y, var, weight=[1.0, 2.0])
    assert got[0] == expected[0]
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_array_equal(a, b)
    assert f(x, y, std=np.sqrt(var), weight=[1.0, 2.0]) == pytest.approx(expected[0])
    assert f(x, y, log_var=np.log(var), weight=[1.0, 2.0]) == pytest.approx(expected[0])


def test_inputs_are_not_modified():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    t = x[::-1].copy()
    s = np.linspace(-2, 2, 12).reshape(3, 4)
    w = np.linspace(0, 1, 4)
    copies = [a.copy() for a in (x, t, s, w)]
    gnll.gaussian_nll_loss_and_grad(x, t, log_var=s, weight=w, beta=0.5, clamp_grad="zero")
    gnll.gaussian_nll_curvature(x, t, log_var=s, weight=w, beta=0.5)
    for a, b in zip((x, t, s, w), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["F", "reversed", "strided", "byteswapped", "list"])
def test_layouts(layout):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6))
    t = rng.normal(size=(4, 6))
    s = rng.normal(size=(4, 6))
    w = rng.uniform(0, 1, (4, 6))
    ref = gnll.gaussian_nll_loss_and_grad(x, t, log_var=s, weight=w, beta=0.5)

    def lay(a):
        if layout == "F":
            return np.asfortranarray(a)
        if layout == "reversed":
            return a[::-1, ::-1].copy()[::-1, ::-1]
        if layout == "strided":
            big = np.zeros((8, 12))
            big[::2, ::2] = a
            return big[::2, ::2]
        if layout == "byteswapped":
            return a.astype(a.dtype.newbyteorder())
        return a.tolist()

    got = gnll.gaussian_nll_loss_and_grad(lay(x), lay(t), log_var=lay(s), weight=lay(w),
                                          beta=0.5)
    assert got[0] == pytest.approx(ref[0], rel=1e-14)
    for a, b in zip(got[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_nan_propagates():
    s = np.array([0.0, np.nan])
    loss = gnll.gaussian_nll_loss(np.zeros(2), np.ones(2), log_var=s, reduction="none")
    assert np.isfinite(loss[0]) and np.isnan(loss[1])
    loss = gnll.gaussian_nll_loss(np.zeros(2), np.ones(2), std=np.array([1.0, np.nan]),
                                  reduction="none", beta=0.5)
    assert np.isfinite(loss[0]) and np.isnan(loss[1])
