"""Outputs of at least gnll._core.STREAM_THRESHOLD elements are written with
non-temporal stores: check that path against the reference, for every
reduction, both dtypes and both var layouts (elementwise and per row)."""
import numpy as np
import pytest

import gnll
from gnll import _core

from reference import reference_grads, reference_loss

N = _core.STREAM_THRESHOLD + 4099  # odd-sized, crosses many chunks


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=N)
    t = rng.normal(size=N)
    v = rng.uniform(0.05, 3.0, size=N)
    return x, t, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["elementwise", "per_row"])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_streamed_outputs_match_reference(data, dtype, layout, reduction):
    x, t, v = data
    if layout == "per_row":
        rows = 4099
        cols = N // rows  # rows * cols is still above the threshold
        x, t = x[: rows * cols].reshape(rows, cols), t[: rows * cols].reshape(rows, cols)
        v = v[:rows].reshape(rows, 1)
    x, t, v = (a.astype(dtype) for a in (x, t, v))
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    want = reference_loss(x, t, v, reduction=reduction)
    want_grads = reference_grads(x, t, v, reduction=reduction)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    # log(v) + r^2/v, and d/dvar = (1/v - r^2/v^2)/2, cancel in places:
    # compare on the scale of the terms, not of the (possibly tiny) result.
    np.testing.assert_allclose(loss, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))
    for got, exp in zip(grads, want_grads):
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=rtol * np.max(np.abs(exp)))
