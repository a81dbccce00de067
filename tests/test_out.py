"""``out=``: gradients written into preallocated, reusable buffers."""

import numpy as np
import pytest

import gnll
from reference import assert_grads_match

DTYPES = [np.float64, np.float32]


def data(rng, shape, vshape=None, tshape=None, dtype=np.float64):
    x = rng.uniform(-2, 2, shape).astype(dtype)
    t = rng.uniform(-2, 2, shape if tshape is None else tshape).astype(dtype)
    v = np.asarray(rng.uniform(0.2, 2, shape if vshape is None else vshape)).astype(dtype)
    return x, t, v


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", [7, 40_000, 2**20 + 3])
def test_out_same_shape_matches_fresh(rng, dtype, reduction, n):
    x, t, v = data(rng, (n,), dtype=dtype)
    go = rng.uniform(0.5, 2, n).astype(dtype) if reduction == "none" else None
    copies = [a.copy() for a in (x, t, v)]
    bufs = tuple(np.full(n, np.nan, dtype) for _ in range(3))
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction,
                                              grad_output=go, out=bufs)
    loss0, g0 = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction,
                                                grad_output=go)
    for got, buf, fresh in zip(g, bufs, g0):
        assert got is buf
        np.testing.assert_array_equal(got, fresh)
    np.testing.assert_array_equal(loss, loss0)
    for a, c in zip((x, t, v), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_out_reused_across_calls(rng, dtype):
    gx, gv = np.empty(1000, dtype), np.empty(1000, dtype)
    for _ in range(3):
        x, t, v = data(rng, (1000,), dtype=dtype)
        _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=("input", "var"),
                                               out=(gx, None, gv))
        assert g.input is gx and g.var is gv and g.target is None
        assert_grads_match(g, x, t, v, dtype=dtype, wrt=("input", "var"))


@pytest.mark.parametrize("shapes", [((50, 8), (50, 1), (50, 8)),
                                    ((50, 8), (50,), (50, 8)),
                                    ((50, 8), (1, 8), (50, 8)),
                                    ((50, 8), (50, 8), (8,)),
                                    ((50, 8), (), (50, 8))],
                         ids=["Nx1", "one-fewer-dim", "1xD", "target-row", "0-d var"])
def test_out_broadcast_gradients_are_reduced_into_the_buffers(rng, shapes):
    xs, vs, ts = shapes
    x, t, v = data(rng, xs, vshape=vs, tshape=ts)
    bufs = (np.empty(xs), np.empty(ts), np.empty(vs))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="sum", out=bufs)
    for got, buf in zip(g, bufs):
        assert got is buf
    assert_grads_match(g, x, t, v, reduction="sum")


def test_out_python_float_var(rng):
    x, t, _ = data(rng, (30,))
    gv = np.empty(())
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, 0.7, out=(None, None, gv))
    assert g.var is gv
    assert_grads_match(g, x, t, 0.7)


def test_out_accepts_grads_and_list(rng):
    x, t, v = data(rng, (20,))
    bufs = gnll.Grads(np.empty(20), None, np.empty(20))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, out=bufs)
    assert g.input is bufs.input and g.var is bufs.var
    assert g.target is not None  # not given: allocated
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, out=[None, None, bufs.var])
    assert g.var is bufs.var


def test_out_with_loss_family_options(rng):
    x, t, v = data(rng, (500,))
    s = np.log(v)
    w = rng.uniform(0, 2, 500)
    bufs = (np.empty(500), np.empty(500), np.empty(500))
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, log_var=s, beta=0.5, weight=w,
                                           out=bufs)
    _, g0 = gnll.gaussian_nll_loss_and_grad(x, t, log_var=s, beta=0.5, weight=w)
    for got, buf, fresh in zip(g, bufs, g0):
        assert got is buf
        np.testing.assert_array_equal(got, fresh)


def test_out_class_method(rng):
    x, t, v = data(rng, (10,))
    gv = np.empty(10)
    _, g = gnll.GaussianNLLLoss(reduction="sum").loss_and_grad(
        x, t, v, wrt="var", out=(None, None, gv))
    assert g.var is gv


# ---------------------------------------------------------------- errors
def _call(out, x=None, t=None, v=None, **kw):
    rng = np.random.default_rng(0)
    x0, t0, v0 = data(rng, (4, 3))
    return gnll.gaussian_nll_loss_and_grad(
        x0 if x is None else x, t0 if t is None else t, v0 if v is None else v,
        out=out, **kw)


@pytest.mark.parametrize("bad, match", [
    (np.empty((3, 4)), r"out.input must be .*shape \(4, 3\).*got <f8 array of shape \(3, 4\)"),
    (np.empty((4, 3), np.float32), r"float64 .*got <f4 array"),
    (np.empty((4, 6))[:, ::2], "not C-contiguous"),
    (np.empty((4, 3), ">f8"), r"native byte order\), got >f8"),
    ([[0.0] * 3] * 4, "got list"),
])
def test_out_bad_buffer(bad, match):
    with pytest.raises(ValueError, match=match):
        _call((bad, None, None))


def test_out_read_only():
    buf = np.empty((4, 3))
    buf.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _call((buf, None, None))


def test_out_not_a_triple():
    with pytest.raises(TypeError, match="out must be a Grads or a tuple of three"):
        _call(np.empty((4, 3)))
    with pytest.raises(TypeError, match="tuple of three"):
        _call((np.empty((4, 3)),))


def test_out_for_gradient_not_requested():
    with pytest.raises(ValueError, match="out.target was given but .* not requested"):
        _call((None, np.empty((4, 3)), None), wrt=("input", "var"))


def test_out_overlapping_an_input_or_each_other():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="out.input must not overlap an input"):
        _call((x, None, None), x=x)
    buf = np.empty((4, 3))
    with pytest.raises(ValueError, match="out.input and out.var overlap"):
        _call((buf, None, buf))
    go = np.ones((4, 3))
    with pytest.raises(ValueError, match="must not overlap"):
        _call((go, None, None), reduction="none", grad_output=go)


def test_out_overlapping_an_input_seen_through_another_object():
    # a memoryview (or any buffer) of the out array is still the same memory
    g = np.ones(1000, np.float32)
    y = np.zeros(1000, np.float32)
    v = np.ones(1000, np.float32)
    with pytest.raises(ValueError, match="must not overlap"):
        gnll.gaussian_nll_loss_and_grad(memoryview(g), y, v, wrt="input",
                                        out=(g, None, None))


def test_out_misaligned_buffer():
    raw = np.frombuffer(bytearray(8 * 12 + 1), np.uint8)[1:]
    buf = raw.view(np.float64).reshape(4, 3)
    assert not buf.flags.aligned
    with pytest.raises(ValueError, match="misaligned"):
        _call((buf, None, None))
