"""pytest-benchmark suite for tracking gnll's own speed across commits.

Run explicitly (the project's test run collects only ``tests/``)::

    python -m pytest benchmarks/test_bench_gnll.py --benchmark-autosave
    python -m pytest benchmarks/test_bench_gnll.py --benchmark-compare

Nothing here asserts a timing; only that each call returns finite values.
"""
import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
gnll = pytest.importorskip("gnll")

N_LARGE = 1_000_000
N_SMALL = 256
DTYPES = ["float64", "float32"]


def _arrays(n, dtype, homo=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    if homo:
        x, y = x.reshape(-1, 100), y.reshape(-1, 100)
        v = rng.uniform(0.1, 2.0, (x.shape[0], 1)).astype(dtype)
    else:
        v = rng.uniform(0.1, 2.0, n).astype(dtype)
    return x, y, v


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_and_grad_large(benchmark, dtype):
    x, y, v = _arrays(N_LARGE, dtype)
    loss, grads = benchmark(gnll.gaussian_nll_loss_and_grad, x, y, v,
                            wrt=("input", "var"))
    assert np.isfinite(loss) and grads.input.shape == x.shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_large(benchmark, dtype):
    x, y, v = _arrays(N_LARGE, dtype)
    assert np.isfinite(benchmark(gnll.gaussian_nll_loss, x, y, v))


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_and_grad_homoscedastic(benchmark, dtype):
    x, y, v = _arrays(N_LARGE, dtype, homo=True)
    loss, grads = benchmark(gnll.gaussian_nll_loss_and_grad, x, y, v,
                            wrt=("input", "var"))
    assert np.isfinite(loss) and grads.var.shape == v.shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_and_grad_small(benchmark, dtype):
    x, y, v = _arrays(N_SMALL, dtype)
    loss, grads = benchmark(gnll.gaussian_nll_loss_and_grad, x, y, v,
                            wrt=("input", "var"))
    assert np.isfinite(loss)


def test_copyto_reference(benchmark):
    """The physical limit, to normalise runs made on different machines."""
    x = _arrays(N_LARGE, "float64")[0]
    out = np.empty_like(x)
    benchmark(np.copyto, out, x)
