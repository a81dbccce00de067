"""A var broadcast along leading or middle dimensions, in tiles (_loss._tiled).

A (1, D) var for an (N, D) input, or an (N, 1, D) var for an (N, M, D)
input, is never materialised: the input is cut into tiles of whole slices
along its first axis whose length is not 1, var is copied a tile at a time
and its gradient summed per tile.  These tests use arrays of several tiles
(``_loss._TILE`` elements each) with a ragged last one, and check values and
gradients against the float64 reference, thread-count invariance, the loss
family's options and the memory the call takes.
"""
import tracemalloc

import numpy as np
import pytest

import gnll
from gnll import _loss

from reference import assert_grads_match, assert_loss_matches
from reference_family import family_loss_and_grads

TILE = _loss._TILE

# (input shape, var shape): several tiles each, the last one ragged
CASES = {
    "1xD": ((3 * TILE // 250 + 7, 250), (1, 250)),
    "1x1xD": ((TILE // 96 + 5, 3, 96), (1, 1, 96)),
    "Nx1xD": ((97, 37, 61), (97, 1, 61)),
    "1xMx1": ((23, 4001, 3), (1, 4001, 1)),
    "leading_one": ((1, 3 * TILE // 50 + 3, 50), (1, 1, 50)),
    "row_bigger_than_tile": ((3, TILE + 17), (1, TILE + 17)),
}


def _data(case, dtype, seed=0):
    x_shape, v_shape = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(dtype)
    t = rng.normal(size=x_shape).astype(dtype)
    v = rng.uniform(0.2, 3.0, size=v_shape).astype(dtype)
    return x, t, v


def test_the_cases_span_several_tiles():
    for x_shape, _ in CASES.values():
        assert np.prod(x_shape) > 2 * TILE


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_values_and_gradients_match_the_reference(case, reduction, dtype):
    x, t, v = _data(case, dtype)
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    assert_loss_matches(loss, x, t, v, reduction=reduction)
    assert_grads_match(grads, x, t, v, reduction=reduction)


@pytest.mark.parametrize("case", ["1xD", "Nx1xD"])
def test_grad_output_of_reduction_none(case):
    x, t, v = _data(case, np.float64, seed=1)
    g = np.random.default_rng(2).normal(size=x.shape)
    _, grads = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=g)
    assert_grads_match(grads, x, t, v, reduction="none", grad_output=g)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_results_do_not_depend_on_the_thread_count(case, dtype):
    x, t, v = _data(case, dtype, seed=3)
    one = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=1)
    two = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=2)
    assert one[0] == two[0]
    for a, b in zip(one[1], two[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options", [
    dict(name="log_var"), dict(name="std"), dict(beta=0.5), dict(beta=0.3),
    dict(weight=True), dict(clamp_grad="zero"),
], ids=["log_var", "std", "beta0.5", "beta0.3", "weight", "clamp_zero"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_the_loss_family_in_tiles(options, reduction):
    x, t, v = _data("1xD", np.float64, seed=4)
    options = dict(options)
    name = options.pop("name", "var")
    param = {"var": v, "log_var": np.log(v), "std": np.sqrt(v)}[name]
    if options.pop("weight", False):
        options["weight"] = np.random.default_rng(5).uniform(0, 2, size=x.shape)
    if options.get("clamp_grad") == "zero":
        param = param.copy()
        param[0, :10] = 0.0  # at the clamp
    loss, grads = gnll.gaussian_nll_loss_and_grad(
        x, t, reduction=reduction, wrt=("input", "target", name), **{name: param},
        **options)
    ref_loss, ref_grads = family_loss_and_grads(x, t, param, name, reduction=reduction,
                                                **options)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * scale)


def test_a_negative_var_is_reported_from_any_tile():
    x, t, v = _data("Nx1xD", np.float64)
    v[-1, 0, -1] = -1.0  # in the last tile
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, t, v)


def test_out_buffers_receive_the_tiled_gradients():
    x, t, v = _data("1xD", np.float64, seed=6)
    gx, gv = np.empty_like(x), np.empty_like(v)
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=("input", "var"),
                                                  out=(gx, None, gv))
    assert grads.input is gx and grads.var is gv
    assert_grads_match(grads, x, t, v, wrt=("input", "var"))


def test_empty_input_with_a_broadcast_var():
    x = np.zeros((0, 5))
    v = np.ones((1, 5))
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, x, v)
    assert np.isnan(loss)
    assert grads.var.shape == (1, 5)
    np.testing.assert_array_equal(grads.var, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_the_var_gradient_takes_no_input_sized_memory(dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8 * TILE // 250, 250)).astype(dtype)
    t = rng.normal(size=x.shape).astype(dtype)
    v = rng.uniform(0.2, 3.0, size=(1, 250)).astype(dtype)
    call = lambda: gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=("var",))  # noqa: E731
    call()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        _, grads = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert grads.var.shape == v.shape
    # a tile of var and one of its gradient, not the input's size
    assert peak <= 3 * TILE * np.dtype(dtype).itemsize < x.nbytes / 2, peak
