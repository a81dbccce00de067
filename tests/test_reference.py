"""The slow reference itself, checked against mpmath and hand-worked cases.

If the twin were wrong, every comparison with it would be meaningless; these
tests pin it to arbitrary-precision arithmetic and to the rules' examples.
"""

import math

import numpy as np
import pytest

from reference import (
    ShapeError,
    aligned_var_shape,
    broadcast_shape,
    compute_dtype,
    numerical_gradient,
    reference_grads,
    reference_loss,
    sum_to_shape,
)

mpmath = pytest.importorskip("mpmath")


def _mp_loss(x, t, v, full, eps):
    vc = max(mpmath.mpf(v), mpmath.mpf(eps))
    r = mpmath.mpf(x) - mpmath.mpf(t)
    out = (mpmath.log(vc) + r * r / vc) / 2
    if full:
        out += mpmath.log(2 * mpmath.pi) / 2
    return out


@pytest.fixture(autouse=True)
def _mp_precision():
    with mpmath.workdps(40):
        yield


def test_reference_loss_against_mpmath():
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, size=40)
    t = rng.uniform(-5, 5, size=40)
    v = rng.uniform(0, 4, size=40)
    v[:5] = 0.0
    for full in (False, True):
        for eps in (1e-6, 0.3):
            mp = [_mp_loss(a, b, c, full, eps) for a, b, c in zip(x, t, v)]
            ref = reference_loss(x, t, v, full, eps, "none")
            mags = np.array([abs(float(m)) for m in mp]) + 1.0
            assert np.all(np.abs(ref - np.array([float(m) for m in mp])) <= 8e-16 * mags * 10)
            assert float(reference_loss(x, t, v, full, eps, "sum")) == pytest.approx(
                float(mpmath.fsum(mp)), rel=1e-14)
            ld = reference_loss(x, t, v, full, eps, "mean", dtype=np.longdouble)
            assert float(ld) == pytest.approx(float(mpmath.fsum(mp) / 40), rel=1e-15)


def test_reference_gradients_against_mpmath_derivatives():
    x, t, v = 0.7, -0.2, 0.35
    _, _, gv = reference_grads(np.array([x]), np.array([t]), np.array([v]), reduction="sum")
    d = mpmath.diff(lambda vv: _mp_loss(x, t, vv, False, 1e-6), v)
    assert float(gv[0]) == pytest.approx(float(d), rel=1e-14)
    gx, gt, _ = reference_grads(np.array([x]), np.array([t]), np.array([v]), reduction="mean")
    dx = mpmath.diff(lambda xx: _mp_loss(xx, t, v, False, 1e-6), x)
    assert float(gx[0]) == pytest.approx(float(dx), rel=1e-14)
    assert gt[0] == -gx[0]


def test_reference_straight_through_below_eps():
    _, _, gv = reference_grads(np.array([0.3]), np.array([0.0]), np.array([1e-8]),
                               reduction="sum")
    assert gv[0] == pytest.approx(0.5 * (1e6 - 0.09e12), rel=1e-12)


@pytest.mark.parametrize("in_s,v_s,expected", [
    ((2, 3), (2, 3), (2, 3)), ((2, 3), (2,), (2, 1)), ((3, 3), (3,), (3, 1)),
    ((2, 3), (2, 1), (2, 1)), ((2, 3), (1, 3), (1, 3)), ((4, 3, 2, 2), (4, 3, 1, 1), (4, 3, 1, 1)),
    ((3,), (), ()), ((), (), ()), ((5, 4), (), ()), ((3,), (1,), (1,)), ((0, 3), (0,), (0, 1)),
])
def test_reference_var_rule_accepts(in_s, v_s, expected):
    assert aligned_var_shape(in_s, v_s) == expected


@pytest.mark.parametrize("in_s,v_s", [((3, 5), (5,)), ((3, 5), (3, 3)), ((2, 3), (3,)),
                                      ((3,), (1, 1)), ((), (1,)), ((3, 1), (3, 4)),
                                      ((10, 2, 3), (0, 1, 3))])
def test_reference_var_rule_rejects(in_s, v_s):
    with pytest.raises(ShapeError):
        aligned_var_shape(in_s, v_s)


def test_reference_broadcast_and_sum_to_shape():
    assert broadcast_shape((3, 1), (1, 4), (3, 1)) == (3, 4)
    assert broadcast_shape((3,), (2, 3), (3,)) == (2, 3)
    with pytest.raises(ShapeError):
        broadcast_shape((2, 3), (2,), (2, 3))
    g = np.arange(24.0).reshape(2, 3, 4)
    assert sum_to_shape(g, (3,), (3, 1)).tolist() == g.sum(axis=(0, 2)).tolist()
    assert sum_to_shape(g, (), ()) == g.sum()
    assert sum_to_shape(g, (1, 4), (1, 4)).tolist() == g.sum(axis=(0, 1))[None].tolist()


def test_reference_dtype_rule():
    f32, f64 = np.ones(2, np.float32), np.ones(2)
    assert compute_dtype(f32, f32, 0.5) == np.float32
    assert compute_dtype(f32, f64, f32) == np.float64
    assert compute_dtype(np.ones(2, np.float16), 1, 1.0) == np.float32
    assert compute_dtype(np.ones(2, int), np.ones(2, bool), 2) == np.float64
    assert compute_dtype(1.0, 2.0, 3.0) == np.float64
    assert compute_dtype(f32.astype(">f4"), f32, f32) == np.float32


def test_numerical_gradient_helper():
    g = numerical_gradient(lambda a: float(np.sum(np.sin(a) * a)), np.array([0.3, 1.2]))
    exact = np.sin([0.3, 1.2]) + np.array([0.3, 1.2]) * np.cos([0.3, 1.2])
    np.testing.assert_allclose(g, exact, rtol=1e-10)
    assert math.isclose(float(reference_loss(1.0, 0.0, 0.0, reduction="sum")),
                        0.5 * (math.log(1e-6) + 1e6), rel_tol=1e-15)
