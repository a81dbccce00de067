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


def _view_at(n, dtype, offset):
    """A writeable n-element array of dtype starting `offset` elements into
    a fresh buffer: its address modulo a cache line varies with offset."""
    return np.zeros(n + 16, dtype=dtype)[offset:offset + n]


def _in_pieces(x, t, p, kwargs, piece):
    """The per-element loss and gradients computed piece by piece, each
    piece below the streaming threshold (so written with ordinary stores)."""
    outs = [np.empty_like(x) for _ in range(4)]
    for lo in range(0, x.size, piece):
        sl = slice(lo, lo + piece)
        extra = {k: (v[sl] if isinstance(v, np.ndarray) else v)
                 for k, v in kwargs.items()}
        loss, g = gnll.gaussian_nll_loss_and_grad(x[sl], t[sl], **extra,
                                                  reduction="none")
        for o, a in zip(outs, (loss, g.input, g.target, g.var)):
            o[sl] = a
    return outs


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("option", ["var", "log_var_weighted"])
@pytest.mark.parametrize("offsets", [(0, 0), (1, 0), (0, 1), (3, 2), (5, 7)],
                         ids=lambda o: f"in{o[0]}-out{o[1]}")
def test_streamed_outputs_equal_unstreamed_at_any_alignment(data, dtype, option,
                                                            offsets):
    """Streaming changes how outputs are stored, never their values: every
    element of all four outputs equals, bit for bit, the same computation
    done in pieces below the threshold, whatever the arrays' alignment (an
    output line shared by two blocks is completed across them)."""
    x0, t0, v0 = data
    n = x0.size
    in_off, out_off = offsets
    x, t, p = (_view_at(n, dtype, in_off) for _ in range(3))
    x[...], t[...] = x0, t0
    if option == "var":
        p[...] = v0
        kwargs = {"var": p}
    else:
        p[...] = np.log(v0)
        w = _view_at(n, dtype, in_off)
        w[...] = np.linspace(0.0, 2.0, n)
        kwargs = {"log_var": p, "weight": w, "beta": 0.5}
    grads_out = tuple(_view_at(n, dtype, out_off + k) for k in range(3))
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, **kwargs, reduction="none",
                                              out=grads_out)
    assert all(a is b for a, b in zip(g, grads_out))
    want = _in_pieces(x, t, p, kwargs, piece=8 * 8192)
    for got, exp in zip((loss, g.input, g.target, g.var), want):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"),
                                      exp.view(f"u{exp.itemsize}"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("out_off", [0, 1, 3])
def test_streamed_rows_equal_unstreamed(data, dtype, out_off):
    """The per-row kernel (one variance per row) streams its elementwise
    outputs the same way: equal bit for bit to the same rows computed a few
    at a time, below the threshold."""
    x0, t0, v0 = data
    cols = 257  # rows end at every offset within a cache line
    rows = x0.size // cols
    x = x0[: rows * cols].astype(dtype).reshape(rows, cols)
    t = t0[: rows * cols].astype(dtype).reshape(rows, cols)
    v = v0[:rows].astype(dtype).reshape(rows, 1)
    grads_out = (_view_at(rows * cols, dtype, out_off).reshape(rows, cols),
                 _view_at(rows * cols, dtype, out_off + 1).reshape(rows, cols), None)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", out=grads_out)
    step = 128  # rows per piece: 128 * 257 elements, below the threshold
    for lo in range(0, rows, step):
        sl = slice(lo, lo + step)
        want_loss, want = gnll.gaussian_nll_loss_and_grad(x[sl], t[sl], v[sl],
                                                          reduction="none")
        for got, exp in ((loss[sl], want_loss), (g.input[sl], want.input),
                         (g.target[sl], want.target)):
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"),
                                          exp.view(f"u{exp.itemsize}"))
