"""Property tests (hypothesis): random shapes, broadcasting, dtypes and layouts.

Every example is checked against the slow reference in ``reference.py``.
Example counts are kept small so the whole suite stays fast; the conftest
profile makes the runs deterministic.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import gnll  # noqa: E402
from reference import (  # noqa: E402
    LAYOUTS,
    ShapeError,
    aligned_var_shape,
    assert_grads_match,
    assert_loss_matches,
    broadcast_shape,
    with_layout,
)

REDUCTIONS = ("none", "mean", "sum")


@st.composite
def problems(draw, max_dims=4, max_side=5):
    """A valid (input, target, var) triple plus keyword arguments."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    # sides of 1 are where the broadcasting rules bite: draw them often
    side = st.sampled_from([1, 1, 2, 3]) | st.integers(0, max_side)
    in_shape = tuple(draw(st.lists(side, min_size=0, max_size=max_dims)))
    # var: same / one fewer dim / some dims set to 1 / 0-d array / Python float
    kinds = ["same", "ones", "zero_d", "float"] + (["fewer"] if in_shape else [])
    v_kind = draw(st.sampled_from(kinds))
    if v_kind == "same":
        v_shape = in_shape
    elif v_kind == "fewer":
        v_shape = in_shape[:-1]
    elif v_kind == "ones":
        mask = draw(st.lists(st.booleans(), min_size=len(in_shape), max_size=len(in_shape)))
        v_shape = tuple(1 if m else d for m, d in zip(mask, in_shape))
    else:
        v_shape = ()
    # target: same / trailing dims only / dims set to 1 / 0-d / extra leading dims
    t_kind = draw(st.sampled_from(["same", "suffix", "ones", "zero_d", "lead"]))
    if t_kind == "same":
        t_shape = in_shape
    elif t_kind == "suffix":
        k = draw(st.integers(0, len(in_shape)))
        t_shape = in_shape[k:]
    elif t_kind == "ones":
        mask = draw(st.lists(st.booleans(), min_size=len(in_shape), max_size=len(in_shape)))
        t_shape = tuple(1 if m else d for m, d in zip(mask, in_shape))
    elif t_kind == "zero_d":
        t_shape = ()
    else:
        t_shape = (draw(st.integers(1, 3)),) + in_shape
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=in_shape).astype(dtype)
    t = rng.uniform(-3, 3, size=t_shape).astype(dtype)
    v = rng.uniform(0, 3, size=v_shape).astype(dtype)
    if v.size and draw(st.booleans()):
        v.flat[rng.integers(0, v.size)] = 0.0  # a clamped entry
    if v_kind == "float":
        v = float(rng.uniform(0.01, 3))
    layouts = [draw(st.sampled_from(LAYOUTS)) for _ in range(3)]
    x, t = with_layout(x, layouts[0]), with_layout(t, layouts[1])
    if not isinstance(v, float):
        v = with_layout(v, layouts[2])
    kwargs = dict(
        full=draw(st.booleans()),
        eps=draw(st.sampled_from([1e-6, 1e-3, 0.5])),
        reduction=draw(st.sampled_from(REDUCTIONS)),
    )
    return x, t, v, kwargs


@settings(max_examples=150, deadline=None)
@given(problems())
def test_loss_and_grads_match_reference(problem):
    x, t, v, kw = problem
    copies = [np.array(a, copy=True) for a in (x, t, v)]
    dtype = np.dtype(x.dtype.newbyteorder("="))
    loss = gnll.gaussian_nll_loss(x, t, v, **kw)
    assert_loss_matches(loss, x, t, v, dtype=dtype, **kw)
    if kw["reduction"] == "none":
        assert loss.shape == broadcast_shape(np.shape(x), np.shape(t), np.shape(v))
        assert loss.dtype == dtype
    else:
        assert type(loss) is dtype.type
    loss2, g = gnll.gaussian_nll_loss_and_grad(x, t, v, **kw)
    assert_loss_matches(loss2, x, t, v, dtype=dtype, **kw)
    assert_grads_match(g, x, t, v, eps=kw["eps"], reduction=kw["reduction"], dtype=dtype)
    for a, c in zip((x, t, v), copies):
        np.testing.assert_array_equal(a, c)


@settings(max_examples=40, deadline=None)
@given(problems(max_dims=3, max_side=40), st.sampled_from([2, 3, 4]))
def test_thread_count_does_not_change_results(problem, n_threads):
    x, t, v, kw = problem
    a = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=1, **kw)
    b = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=n_threads, **kw)
    assert np.asarray(a[0]).tobytes() == np.asarray(b[0]).tobytes()
    for ga, gb in zip(a[1], b[1]):
        np.testing.assert_array_equal(ga, gb)


@settings(max_examples=200, deadline=None)
@given(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
       hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
def test_var_shape_rule_agrees_with_reference(in_shape, v_shape):
    """gnll accepts exactly the var shapes the reference's rule accepts."""
    x = np.zeros(in_shape)
    v = np.ones(v_shape)
    try:
        aligned_var_shape(in_shape, v_shape)
        accepted = True
    except ShapeError:
        accepted = False
    if accepted:
        out = gnll.gaussian_nll_loss(x, x, v, reduction="none")
        assert out.shape == broadcast_shape(in_shape, in_shape, v_shape)
    else:
        with pytest.raises(ValueError, match="var is of incorrect size"):
            gnll.gaussian_nll_loss(x, x, v, reduction="none")


@settings(max_examples=100, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)
       | st.tuples(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                   hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
def test_target_broadcasting_agrees_with_numpy(shapes):
    """target broadcasts against input with NumPy's rules, or a ValueError."""
    if hasattr(shapes, "input_shapes"):
        in_shape, t_shape = shapes.input_shapes
    else:
        in_shape, t_shape = shapes
    x = np.zeros(in_shape)
    t = np.ones(t_shape)
    try:
        expected = np.broadcast_shapes(in_shape, t_shape)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            gnll.gaussian_nll_loss(x, t, 1.0, reduction="none")
    else:
        out = gnll.gaussian_nll_loss(x, t, 1.0, reduction="none")
        assert out.shape == expected
        np.testing.assert_allclose(out, 0.5 * np.ones(expected), rtol=1e-15)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                  elements=st.floats(-1e150, 1e150)
                  | st.sampled_from([np.nan, np.inf, -np.inf])),
       st.data())
def test_arbitrary_float_values_match_reference(x, data):
    """Extreme, infinite and NaN values: the same values/NaN/inf as the reference.

    (|input - target| stays below ~1e150 so that (input - target)**2 does not
    overflow: there the formula's order of evaluation legitimately decides
    between inf, NaN and the exact finite value.)
    """
    t = data.draw(hnp.arrays(np.float64, x.shape,
                             elements=st.floats(-1e6, 1e6, allow_nan=False)))
    v = data.draw(hnp.arrays(np.float64, x.shape,
                             elements=st.floats(0, 1e30) | st.sampled_from([np.nan, np.inf])))
    with np.errstate(all="ignore"):
        out = gnll.gaussian_nll_loss(x, t, v, reduction="none")
        assert_loss_matches(out, x, t, v, reduction="none", dtype=np.float64)
