"""The callable class GaussianNLLLoss."""

import pickle

import numpy as np
import pytest

import gnll
from reference import assert_grads_match, assert_loss_matches


def _data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.uniform(0.2, 2, size=(4, 1))


def test_defaults_match_function():
    x, t, v = _data()
    loss_fn = gnll.GaussianNLLLoss()
    assert loss_fn.full is False and loss_fn.eps == 1e-6 and loss_fn.reduction == "mean"
    assert loss_fn(x, t, v) == gnll.gaussian_nll_loss(x, t, v)


@pytest.mark.parametrize("full", [False, True], ids=["partial", "full"])
@pytest.mark.parametrize("eps", [1e-6, 0.3], ids=["eps1e-6", "eps0.3"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_call_equals_function(full, eps, reduction):
    x, t, v = _data()
    loss_fn = gnll.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)
    out = loss_fn(x, t, v)
    np.testing.assert_array_equal(out, gnll.gaussian_nll_loss(x, t, v, full, eps, reduction))
    assert type(out) is type(gnll.gaussian_nll_loss(x, t, v, full, eps, reduction))
    assert_loss_matches(out, x, t, v, full, eps, reduction)
    loss, g = loss_fn.loss_and_grad(x, t, v)
    loss2, g2 = gnll.gaussian_nll_loss_and_grad(x, t, v, full, eps, reduction)
    np.testing.assert_array_equal(loss, loss2)
    for a, b in zip(g, g2):
        np.testing.assert_array_equal(a, b)
    assert_grads_match(g, x, t, v, eps, reduction)


def test_loss_and_grad_keywords():
    x, t, v = _data()
    loss_fn = gnll.GaussianNLLLoss(reduction="sum")
    loss, g = loss_fn.loss_and_grad(x, t, v, grad_output=2.0, wrt=("var",), n_threads=1)
    assert g.input is None and g.target is None and g.var.shape == (4, 1)
    assert_grads_match(g, x, t, v, reduction="sum", grad_output=2.0, wrt=("var",))
    assert loss == loss_fn(x, t, v, n_threads=2)


@pytest.mark.parametrize("reduction", ["abc", "MEAN", "batchmean"])
def test_invalid_reduction_raises_at_construction(reduction):
    with pytest.raises(ValueError, match=f"^{reduction} is not valid"):
        gnll.GaussianNLLLoss(reduction=reduction)


def test_positional_constructor_arguments_rejected():
    with pytest.raises(TypeError):
        gnll.GaussianNLLLoss(True)
    with pytest.raises(TypeError):
        gnll.GaussianNLLLoss(False, 1e-6, "mean")


def test_call_n_threads_is_keyword_only():
    x, t, v = _data()
    with pytest.raises(TypeError):
        gnll.GaussianNLLLoss()(x, t, v, 2)


@pytest.mark.parametrize("kwargs", [{}, {"full": True}, {"eps": 0.001, "reduction": "sum"},
                                    {"full": True, "eps": 0.5, "reduction": "none"}],
                         ids=["default", "full", "eps_sum", "all"])
def test_repr_is_helpful(kwargs):
    loss_fn = gnll.GaussianNLLLoss(**kwargs)
    r = repr(loss_fn)
    assert r.startswith("GaussianNLLLoss(")
    full = kwargs.get("full", False)
    eps = kwargs.get("eps", 1e-6)
    reduction = kwargs.get("reduction", "mean")
    assert f"full={full!r}" in r, r
    assert f"eps={eps!r}" in r, r
    assert f"reduction={reduction!r}" in r, r
    # and the repr evaluates back to an equivalent object
    clone = eval(r, {"GaussianNLLLoss": gnll.GaussianNLLLoss})
    assert (clone.full, clone.eps, clone.reduction) == (full, eps, reduction)


def test_pickle_roundtrip():
    loss_fn = gnll.GaussianNLLLoss(full=True, eps=0.01, reduction="sum")
    clone = pickle.loads(pickle.dumps(loss_fn))
    x, t, v = _data()
    assert clone(x, t, v) == loss_fn(x, t, v)
    assert repr(clone) == repr(loss_fn)
