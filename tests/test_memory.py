"""No temporaries of the input's size in the common cases.

The contract: for contiguous same-shape arrays and for a broadcast var --
along trailing dimensions (scalar, (N, 1), one fewer dimension), read once
per row, or along leading and middle ones ((1, D), (N, 1, D)), copied a tile
at a time -- the call makes no input-sized temporary: in particular no
up-casting copy of float32 data and no materialised copy of var.  NumPy reports its data
allocations to tracemalloc, so the peak traced memory of a call shows them.
"""

import tracemalloc

import numpy as np
import pytest

import gnll

N, D = 2000, 250  # 500_000 elements: 2 MB in float32, 4 MB in float64


def _peak(fn):
    fn()  # warm up (first-call caches, thread pools)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, result


VAR_KINDS = {
    "same": lambda rng, dt: rng.uniform(0.5, 2, size=(N, D)).astype(dt),
    "Nx1": lambda rng, dt: rng.uniform(0.5, 2, size=(N, 1)).astype(dt),
    "one_fewer_dim": lambda rng, dt: rng.uniform(0.5, 2, size=(N,)).astype(dt),
    "python_float": lambda rng, dt: 0.7,
    "zero_d": lambda rng, dt: np.array(0.7, dtype=dt),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("var_kind", list(VAR_KINDS))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_loss_makes_no_input_sized_temporaries(dtype, var_kind, reduction):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype(dtype)
    t = rng.normal(size=(N, D)).astype(dtype)
    v = VAR_KINDS[var_kind](rng, dtype)
    peak, out = _peak(lambda: gnll.gaussian_nll_loss(x, t, v, reduction=reduction))
    allowed = 0.25 * x.nbytes  # headroom for small per-chunk/per-thread buffers
    if reduction == "none":
        allowed += out.nbytes  # the result itself
    assert peak <= allowed, f"peak {peak} bytes > {allowed} (input is {x.nbytes} bytes)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("var_kind", list(VAR_KINDS))
def test_var_gradient_makes_no_input_sized_temporaries(dtype, var_kind):
    """Only the var gradient requested: outputs are var-sized, so is the peak."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, D)).astype(dtype)
    t = rng.normal(size=(N, D)).astype(dtype)
    v = VAR_KINDS[var_kind](rng, dtype)
    peak, (loss, g) = _peak(
        lambda: gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="mean", wrt=("var",)))
    allowed = 0.25 * x.nbytes + 2 * np.asarray(v).size * 8
    assert peak <= allowed, f"peak {peak} bytes > {allowed} (input is {x.nbytes} bytes)"
    assert g.var.shape == np.shape(v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_all_gradients_allocate_only_their_outputs(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, D)).astype(dtype)
    t = rng.normal(size=(N, D)).astype(dtype)
    v = rng.uniform(0.5, 2, size=(N, D)).astype(dtype)
    peak, _ = _peak(lambda: gnll.gaussian_nll_loss_and_grad(x, t, v))
    allowed = 3 * x.nbytes + 0.25 * x.nbytes
    assert peak <= allowed, f"peak {peak} bytes > {allowed} (input is {x.nbytes} bytes)"


def test_tracemalloc_sees_numpy_allocations():
    """Guard: the measurements above would see an input-sized copy."""
    x = np.ones((N, D), dtype=np.float32)
    peak, _ = _peak(lambda: x.astype(np.float64).sum())
    assert peak >= 2 * x.nbytes


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("x_shape,v_shape", [((N, D), (1, D)), ((N // 10, 10, D), (N // 10, 1, D))],
                         ids=["1xD", "Nx1xD"])
def test_leading_broadcast_var_not_materialised(dtype, x_shape, v_shape):
    rng = np.random.default_rng(3)
    x = rng.normal(size=x_shape).astype(dtype)
    t = rng.normal(size=x_shape).astype(dtype)
    v = rng.uniform(0.5, 2, size=v_shape).astype(dtype)
    peak, _ = _peak(lambda: gnll.gaussian_nll_loss(x, t, v))
    assert peak <= 0.25 * x.nbytes, f"peak {peak} bytes (input is {x.nbytes} bytes)"
