"""Property tests of the issue-5 options: random shapes (every var layout the
contract allows), parameterisations, beta, weights, clamp modes, reductions
and dtypes, against the float64 reference."""

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import gnll  # noqa: E402
from reference_family import family_curvature, family_loss_and_grads  # noqa: E402


@st.composite
def problems(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    form = draw(st.sampled_from(["same", "ones", "fewer", "scalar"]))
    if form == "same":
        pshape = shape
    elif form == "ones":
        pshape = tuple(d if draw(st.booleans()) else 1 for d in shape)
    elif form == "fewer":
        pshape = shape[:-1]
    else:
        pshape = ()
    k = draw(st.integers(0, ndim))
    tshape = shape[k:]  # a suffix broadcasts
    wshape = draw(st.sampled_from([None, "loss", "last", "one"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(
        shape=shape, pshape=pshape, tshape=tshape, wshape=wshape, seed=seed,
        name=draw(st.sampled_from(["var", "log_var", "std"])),
        beta=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        clamp_grad=draw(st.sampled_from(["straight_through", "zero"])),
        reduction=draw(st.sampled_from(["none", "mean", "sum"])),
        full=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])),
    )


def _arrays(pb):
    rng = np.random.default_rng(pb["seed"])
    dtype = pb["dtype"]
    x = rng.normal(size=pb["shape"]).astype(dtype)
    t = rng.normal(size=pb["tshape"]).astype(dtype)
    name = pb["name"]
    if name == "log_var":
        p = rng.uniform(-6, 3, pb["pshape"])
    elif name == "std":
        p = rng.uniform(0, 2, pb["pshape"])
    else:
        p = rng.uniform(0, 3, pb["pshape"])
    p = np.asarray(p, dtype=dtype)
    w = None
    if pb["wshape"] == "loss":
        w = rng.uniform(0, 2, pb["shape"]).astype(dtype)
    elif pb["wshape"] == "last":
        w = rng.uniform(0, 2, pb["shape"][-1:]).astype(dtype)
    elif pb["wshape"] == "one":
        w = 1.5
    return x, t, p, w


def _close(got, exp, dtype):
    got = np.asarray(got, dtype=np.float64)
    exp = np.asarray(exp, dtype=np.float64)
    assert got.shape == exp.shape
    tol = 1e-11 if dtype == np.float64 else 5e-5
    scale = np.sum(np.abs(exp)) + 1.0
    np.testing.assert_allclose(got, exp, rtol=tol, atol=tol * scale)


@settings(max_examples=200)
@given(problems())
def test_loss_and_grads_match_reference(pb):
    x, t, p, w = _arrays(pb)
    kw = dict(full=pb["full"], eps=1e-2, reduction=pb["reduction"], beta=pb["beta"],
              weight=w, clamp_grad=pb["clamp_grad"])
    loss, grads = gnll.gaussian_nll_loss_and_grad(x, t, **{pb["name"]: p}, **kw)
    ref_loss, ref_grads = family_loss_and_grads(x, t, p, pb["name"], **kw)
    if pb["reduction"] == "mean" and (x.size == 0 or (w is not None and np.sum(w) == 0)):
        assert math.isnan(loss)
        return
    _close(loss, ref_loss, pb["dtype"])
    for got, exp in zip(grads, ref_grads):
        assert got.dtype == pb["dtype"]
        _close(got, exp, pb["dtype"])


@settings(max_examples=100)
@given(problems())
def test_curvature_matches_reference(pb):
    x, t, p, w = _arrays(pb)
    for kind in ("hessian", "fisher"):
        c = gnll.gaussian_nll_curvature(x, t, **{pb["name"]: p}, eps=1e-2, kind=kind,
                                        beta=pb["beta"], weight=w,
                                        clamp_grad=pb["clamp_grad"])
        ref = family_curvature(x, t, p, pb["name"], eps=1e-2, kind=kind, beta=pb["beta"],
                               weight=w, clamp_grad=pb["clamp_grad"])
        for got, exp in zip(c, ref):
            _close(got, exp, pb["dtype"])
