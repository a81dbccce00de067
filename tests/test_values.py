"""gnll's loss values against the slow NumPy reference.

Shapes, broadcasting, reductions, ``full``, ``eps``, dtypes, memory layouts,
return types, and the guarantee that inputs are never modified.
"""

import numpy as np
import pytest

import gnll
from reference import (
    LAYOUTS,
    assert_grads_match,
    assert_loss_matches,
    broadcast_shape,
    compute_dtype,
    reference_loss,
    with_layout,
)

REDUCTIONS = ("none", "mean", "sum")


def make_data(rng, in_shape, t_shape=None, v_shape=None, dtype=np.float64, var_low=0.1,
              var_high=3.0):
    t_shape = in_shape if t_shape is None else t_shape
    v_shape = in_shape if v_shape is None else v_shape
    x = rng.uniform(-3, 3, size=in_shape).astype(dtype)
    t = rng.uniform(-3, 3, size=t_shape).astype(dtype)
    v = rng.uniform(var_low, var_high, size=v_shape).astype(dtype)
    return x, t, v


# (input shape, target shape, var shape): every one is valid under the contract.
SHAPE_CASES = {
    "0d": ((), (), ()),
    "1": ((1,), (1,), (1,)),
    "5": ((5,), (5,), (5,)),
    "5x5": ((5, 5), (5, 5), (5, 5)),
    "5x5x5": ((5, 5, 5), (5, 5, 5), (5, 5, 5)),
    "3x4x5x6": ((3, 4, 5, 6), (3, 4, 5, 6), (3, 4, 5, 6)),
    "100003": ((100_003,), (100_003,), (100_003,)),
    "331x302": ((331, 302), (331, 302), (331, 302)),
    # broadcasting of var
    "homosced_Nx1": ((7, 4), (7, 4), (7, 1)),
    "var_one_fewer_dim": ((7, 4), (7, 4), (7,)),
    "var_one_fewer_dim_square": ((4, 4), (4, 4), (4,)),
    "var_one_fewer_dim_Dx1": ((6, 1), (6, 1), (6,)),
    "var_one_fewer_dim_Dx1_target_row": ((6, 1), (1, 5), (6,)),
    "var_one_fewer_dim_3d_last1": ((3, 4, 1), (3, 4, 1), (3, 4)),
    "var_1xD": ((7, 4), (7, 4), (1, 4)),
    "var_several_size1": ((4, 3, 2, 2), (4, 3, 2, 2), (4, 3, 1, 1)),
    "var_all_size1": ((4, 3, 2, 2), (4, 3, 2, 2), (1, 1, 1, 1)),
    "var_middle_size1": ((10, 2, 3), (10, 2, 3), (10, 1, 3)),
    "var_0d_vs_3d": ((3, 4, 5), (3, 4, 5), ()),
    "var_0d_vs_1d": ((3,), (3,), ()),
    "var_1_vs_1d": ((3,), (3,), (1,)),
    "var_Nx1_large": ((1001, 103), (1001, 103), (1001, 1)),
    "var_one_fewer_large": ((1001, 103), (1001, 103), (1001,)),
    "var_1xD_large": ((1001, 103), (1001, 103), (1, 103)),
    # broadcasting of target
    "target_row": ((2, 3), (3,), (2, 3)),
    "target_1xD": ((2, 3), (1, 3), (2, 3)),
    "target_0d": ((2, 3), (), (2, 3)),
    "target_expands_output": ((3, 1), (1, 4), (3, 1)),
    "target_more_dims": ((3,), (2, 3), (3,)),
    "target_rows_var_rows": ((5, 5, 5), (5, 5), (5, 5)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(SHAPE_CASES), ids=list(SHAPE_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_loss_matches_reference_across_shapes(rng, case, reduction, dtype):
    x, t, v = make_data(rng, *SHAPE_CASES[case], dtype=dtype)
    out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    assert_loss_matches(out, x, t, v, reduction=reduction, dtype=dtype)
    if reduction == "none":
        assert isinstance(out, np.ndarray)
        assert out.shape == broadcast_shape(x.shape, t.shape, v.shape)
    else:
        assert isinstance(out, np.generic) and not isinstance(out, np.ndarray)
    assert np.asarray(out).dtype == dtype


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True], ids=["partial", "full"])
@pytest.mark.parametrize("eps", [1e-6, 1e-3, 0.5, 1.0, 0.0], ids=lambda e: f"eps={e}")
def test_full_and_eps(rng, full, eps, reduction):
    x, t, v = make_data(rng, (6, 5), var_low=0.0, var_high=1.5)
    v[0, :] = 0.0           # var == 0 gets clamped (NaN for eps == 0)
    v[1, :] = eps           # var == eps
    v[2, :] = eps / 2       # var < eps
    out = gnll.gaussian_nll_loss(x, t, v, full=full, eps=eps, reduction=reduction)
    assert_loss_matches(out, x, t, v, full=full, eps=eps, reduction=reduction)


def test_full_adds_half_log_2pi_per_element(rng):
    x, t, v = make_data(rng, (4, 6))
    partial = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    full = gnll.gaussian_nll_loss(x, t, v, full=True, reduction="none")
    np.testing.assert_allclose(full - partial, 0.5 * np.log(2 * np.pi), rtol=0, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_python_float_var_equals_filled_array(rng, reduction):
    x, t, _ = make_data(rng, (3, 4, 2))
    a = gnll.gaussian_nll_loss(x, t, 0.7, reduction=reduction)
    b = gnll.gaussian_nll_loss(x, t, np.full(x.shape, 0.7), reduction=reduction)
    np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
    assert_loss_matches(a, x, t, 0.7, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_d_array_var_is_scalar(rng, reduction):
    x, t, _ = make_data(rng, (3, 4, 2))
    v = np.array(0.7)
    out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    assert_loss_matches(out, x, t, v, reduction=reduction)


def test_var_one_fewer_dim_is_per_row_not_per_column():
    # torch semantics: with a square input, a (D,) var applies per row.
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    t = np.zeros((2, 2))
    v = np.array([1.0, 4.0])
    out = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    per_row = 0.5 * (np.log(v[:, None]) + x**2 / v[:, None])
    np.testing.assert_allclose(out, per_row, rtol=1e-15)
    per_col = 0.5 * (np.log(v[None, :]) + x**2 / v[None, :])
    assert not np.allclose(out, per_col)


# ----------------------------------------------------------------------------- dtypes

DTYPE_CASES = {
    # name: (input dtype, target dtype, var dtype, expected compute dtype)
    "f32": (np.float32, np.float32, np.float32, np.float32),
    "f64": (np.float64, np.float64, np.float64, np.float64),
    "f32_f64var": (np.float32, np.float32, np.float64, np.float64),
    "f64_f32target": (np.float64, np.float32, np.float64, np.float64),
    "f64_f32var": (np.float64, np.float64, np.float32, np.float64),
    "f16": (np.float16, np.float16, np.float16, np.float32),
    "f16_f32var": (np.float16, np.float16, np.float32, np.float32),
    "int64": (np.int64, np.int64, np.int64, np.float64),
    "int32": (np.int32, np.int32, np.int32, np.float64),
    "int_input_f64": (np.int64, np.float64, np.float64, np.float64),
    "uint8": (np.uint8, np.uint8, np.uint8, np.float64),
    "bool": (np.bool_, np.bool_, np.float64, np.float64),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(DTYPE_CASES), ids=list(DTYPE_CASES))
def test_dtypes(rng, case, reduction):
    dx, dt, dv, expected = DTYPE_CASES[case]
    x = rng.integers(0, 4, size=(4, 5)).astype(dx)
    t = rng.integers(0, 4, size=(4, 5)).astype(dt)
    v = rng.integers(1, 4, size=(4, 5)).astype(dv)
    if np.dtype(dx).kind == "f":
        x = (x + rng.uniform(-1, 1, size=x.shape)).astype(dx)
    assert compute_dtype(x, t, v) == expected  # the reference agrees with the table
    out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    assert np.asarray(out).dtype == expected
    if reduction != "none":
        assert type(out) is np.dtype(expected).type
    assert_loss_matches(out, x, t, v, reduction=reduction, dtype=expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_python_float_var_does_not_upcast_float32(rng, reduction):
    x, t, _ = make_data(rng, (4, 5), dtype=np.float32)
    out = gnll.gaussian_nll_loss(x, t, 0.3, reduction=reduction)
    assert np.asarray(out).dtype == np.float32
    assert_loss_matches(out, x, t, 0.3, reduction=reduction, dtype=np.float32)
    _, g = gnll.gaussian_nll_loss_and_grad(x, t, 0.3, reduction=reduction)
    assert g.input.dtype == np.float32 and g.var.dtype == np.float32
    assert g.var.shape == ()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_python_scalars_and_lists(reduction):
    x = [[0.5, 1.5, 2.5], [2.0, 4.0, 6.0]]
    t = [1.0, 2.0, 3.0]
    out = gnll.gaussian_nll_loss(x, t, 0.5, reduction=reduction)
    assert np.asarray(out).dtype == np.float64
    assert_loss_matches(out, x, t, 0.5, reduction=reduction)
    out = gnll.gaussian_nll_loss(1.5, 0.5, 2.0, reduction=reduction)
    assert_loss_matches(out, 1.5, 0.5, 2.0, reduction=reduction)
    assert np.shape(out) == ()
    # Python ints everywhere compute in float64
    out = gnll.gaussian_nll_loss(3, 1, 2, reduction=reduction)
    assert np.asarray(out).dtype == np.float64
    assert_loss_matches(out, 3, 1, 2, reduction=reduction)


# ----------------------------------------------------------------------------- layouts

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", [((6, 5, 4),) * 3, ((6, 5, 4), (6, 5, 4), (6, 5, 1)),
                                    ((6, 5, 4), (5, 4), (6, 5)), ((6, 5, 4), (6, 5, 4), (1, 5, 4))],
                         ids=["same", "var_last1", "var_fewer", "var_first1"])
def test_layouts(rng, shapes, dtype, layout, reduction):
    x, t, v = make_data(rng, *shapes, dtype=dtype)
    xl, tl, vl = (with_layout(a, layout) for a in (x, t, v))
    copies = [a.copy() for a in (xl, tl, vl)]
    out = gnll.gaussian_nll_loss(xl, tl, vl, reduction=reduction)
    assert np.asarray(out).dtype == dtype
    assert_loss_matches(out, x, t, v, reduction=reduction, dtype=dtype)
    loss2, grads = gnll.gaussian_nll_loss_and_grad(xl, tl, vl, reduction=reduction)
    assert_loss_matches(loss2, x, t, v, reduction=reduction, dtype=dtype)
    assert_grads_match(grads, x, t, v, reduction=reduction, dtype=dtype)
    for a, c in zip((xl, tl, vl), copies):
        np.testing.assert_array_equal(a, c)
        assert a.dtype == c.dtype


def test_mixed_layouts_and_byte_orders(rng):
    x, t, v = make_data(rng, (9, 8))
    xl = with_layout(x, "F")
    tl = with_layout(t, "byteswap")
    vl = with_layout(v, "negstride")
    for reduction in REDUCTIONS:
        assert_loss_matches(gnll.gaussian_nll_loss(xl, tl, vl, reduction=reduction),
                            x, t, v, reduction=reduction)


def test_big_endian_float32(rng):
    x, t, v = make_data(rng, (50,), dtype=np.float32)
    xb, tb, vb = (a.astype(">f4") for a in (x, t, v))
    out = gnll.gaussian_nll_loss(xb, tb, vb, reduction="none")
    assert out.dtype == np.float32  # native-order result
    assert_loss_matches(out, x, t, v, reduction="none", dtype=np.float32)


def test_transposed_views_and_broadcast_to_views(rng):
    x, t, v = make_data(rng, (7, 6))
    xt = x.T
    tb = np.broadcast_to(t[0], (6, 7)[::-1]).T  # zero-stride view
    out = gnll.gaussian_nll_loss(xt, tb, v.T, reduction="none")
    assert_loss_matches(out, xt.copy(), tb.copy(), v.T.copy(), reduction="none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_inputs_never_modified(rng, reduction):
    x, t, v = make_data(rng, (5, 4), var_low=0.0, var_high=1e-5)  # many clamped entries
    v[0, 0] = 0.0
    copies = [a.copy() for a in (x, t, v)]
    gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
    gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, wrt=("var",))
    for a, c in zip((x, t, v), copies):
        np.testing.assert_array_equal(a, c)


def test_none_returns_fresh_array(rng):
    x, t, v = make_data(rng, (4,))
    out = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    assert not np.shares_memory(out, x)
    assert not np.shares_memory(out, t)
    assert not np.shares_memory(out, v)
    assert out.flags.writeable


# ----------------------------------------------------------------------------- precision

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [1, 5, 127, 4097, 100_003, 1_000_003])
def test_float32_reduction_within_one_ulp_of_float64_reference(rng, n, reduction):
    # All terms positive (var > 1) so the float64 reference is well conditioned.
    x = rng.uniform(-3, 3, size=n).astype(np.float32)
    t = rng.uniform(-3, 3, size=n).astype(np.float32)
    v = rng.uniform(1.5, 4.0, size=n).astype(np.float32)
    out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    assert type(out) is np.float32
    ref = np.float32(reference_loss(x, t, v, reduction=reduction))
    ulp = np.spacing(ref)
    assert abs(np.float64(out) - np.float64(ref)) <= ulp, (out, ref, ulp)


@pytest.mark.parametrize("n", [1, 5, 4097, 100_003])
def test_float64_reduction_near_exact(rng, n):
    x, t, v = make_data(rng, (n,), var_low=1.5, var_high=4.0)
    for reduction in ("mean", "sum"):
        out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
        ref = reference_loss(x, t, v, reduction=reduction, dtype=np.longdouble)
        # summation error grows at most like sqrt(n) for random rounding
        tol = (4 + 2 * np.sqrt(n)) * np.spacing(float(ref))
        assert abs(float(out) - float(ref)) <= tol, (out, ref)


def test_integer_inputs_are_converted_before_subtracting():
    # int8/uint8 arithmetic would wrap: 100 - (-100) and 0 - 1 must be exact
    x = np.array([100, 0, 127], dtype=np.int8)
    t = np.array([-100, 1, -128], dtype=np.int8)
    out = gnll.gaussian_nll_loss(x, t, np.ones(3), reduction="none")
    np.testing.assert_allclose(out, 0.5 * np.array([200.0, 1.0, 255.0]) ** 2, rtol=1e-15)
    xu = np.array([0, 255], dtype=np.uint8)
    tu = np.array([1, 0], dtype=np.uint8)
    out = gnll.gaussian_nll_loss(xu, tu, np.ones(2, dtype=np.uint8), reduction="none")
    np.testing.assert_allclose(out, 0.5 * np.array([1.0, 255.0]) ** 2, rtol=1e-15)
    assert out.dtype == np.float64
    _, g = gnll.gaussian_nll_loss_and_grad(xu, tu, 1.0, reduction="sum")
    np.testing.assert_allclose(g.input, [-1.0, 255.0], rtol=1e-15)
    assert g.input.dtype == np.float64


@pytest.mark.parametrize("var", [2, True, np.float32(2.0), np.array(2.0, dtype=np.float32)],
                         ids=["python_int", "python_bool", "np.float32", "0d_f32"])
def test_scalar_vars_do_not_upcast_float32(rng, var):
    x, t, _ = make_data(rng, (3, 4), dtype=np.float32)
    out = gnll.gaussian_nll_loss(x, t, var, reduction="none")
    assert out.dtype == np.float32
    assert_loss_matches(out, x, t, float(var), reduction="none", dtype=np.float32)


def test_python_int_var_is_accepted(rng):
    # torch raises TypeError for an int var; gnll computes with it (ints -> float64)
    x, t, _ = make_data(rng, (3, 4))
    np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, 2), gnll.gaussian_nll_loss(x, t, 2.0),
                               rtol=1e-15)


def test_list_var_and_nested_lists(rng):
    x = [[0.5, 1.5], [2.0, 4.0]]
    t = [[1, 2], [1, 2]]
    for v in ([0.5, 1.5], [[0.5], [1.5]], [[0.5, 1.0], [1.5, 2.0]]):
        for reduction in REDUCTIONS:
            out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
            assert_loss_matches(out, x, t, v, reduction=reduction)
            _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
            assert_grads_match(g, x, t, v, reduction=reduction)
            assert g.var.shape == np.shape(v)


def test_many_threads_on_small_and_large_inputs(rng):
    for n in (10, 70_001):
        x, t, v = make_data(rng, (n,))
        a = gnll.gaussian_nll_loss(x, t, v, n_threads=1)
        b = gnll.gaussian_nll_loss(x, t, v, n_threads=64)
        assert a.tobytes() == b.tobytes()


def test_same_array_for_input_and_target(rng):
    x, _, v = make_data(rng, (5, 5))
    out, g = gnll.gaussian_nll_loss_and_grad(x, x, v, reduction="sum")
    assert float(out) == pytest.approx(0.5 * np.sum(np.log(v)), rel=1e-14)
    np.testing.assert_array_equal(g.input, 0.0)


def _kernel_sizes():
    kernel = gnll.show_config(mode="dicts").get("kernel", {})
    return int(kernel.get("chunk", 32768)), int(kernel.get("parallel_threshold", 65536))


CHUNK, THRESHOLD = _kernel_sizes()
BOUNDARY_SIZES = sorted({1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 1, THRESHOLD - 1,
                         THRESHOLD, THRESHOLD + 1})


@pytest.mark.parametrize("n", BOUNDARY_SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_chunk_and_thread_threshold_boundaries(rng, n, dtype):
    x, t, v = make_data(rng, (n,), dtype=dtype)
    for reduction in REDUCTIONS:
        for k in (1, 2, 3):
            loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, n_threads=k)
            assert_loss_matches(loss, x, t, v, reduction=reduction, dtype=dtype)
            assert_grads_match(g, x, t, v, reduction=reduction, dtype=dtype)


ROW_CASES = {
    "rows_longer_than_chunk": (3, CHUNK + 5),
    "rows_of_3": (2 * THRESHOLD // 3 + 1, 3),
    "rows_of_7": (THRESHOLD // 7 + 3, 7),
    "rows_of_8": (THRESHOLD // 8 + 1, 8),
    "rows_of_16": (THRESHOLD // 16 + 1, 16),
    "rows_of_2": (THRESHOLD // 2 + 5, 2),
    "one_row": (1, 2 * THRESHOLD + 1),
    "small_rows_of_4": (5, 4),
    "small_rows_of_9": (3, 9),
    "single_element_rows": (17, 1),
}


@pytest.mark.parametrize("rows,cols", list(ROW_CASES.values()), ids=list(ROW_CASES))
@pytest.mark.parametrize("var_kind", ["Nx1", "one_fewer_dim"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_per_row_var_across_chunk_boundaries(rng, rows, cols, var_kind, dtype):
    x, t, _ = make_data(rng, (rows, cols), dtype=dtype)
    v = rng.uniform(0.1, 3, size=(rows, 1) if var_kind == "Nx1" else (rows,)).astype(dtype)
    for reduction in REDUCTIONS:
        ref = None
        for k in (1, 2, 4):
            loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, n_threads=k)
            if ref is None:
                assert_loss_matches(loss, x, t, v, reduction=reduction, dtype=dtype)
                assert_grads_match(g, x, t, v, reduction=reduction, dtype=dtype)
                ref = (loss, g)
            else:
                np.testing.assert_array_equal(loss, ref[0])
                for a, b in zip(g, ref[1]):
                    np.testing.assert_array_equal(a, b)


# Large outputs (2**20 elements and more) may take a different store path
# (e.g. non-temporal stores); odd sizes exercise the tails.
LARGE_OUTPUT_CASES = {
    "flat_2^20+3": ((2**20 + 3,), (2**20 + 3,)),
    "rows_Nx1": ((1031, 1019), (1031, 1)),
    "rows_one_fewer": ((1031, 1019), (1031,)),
    "scalar_var": ((2**20 + 17,), ()),
    "same_2d": ((1031, 1019), (1031, 1019)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", list(LARGE_OUTPUT_CASES), ids=list(LARGE_OUTPUT_CASES))
def test_large_outputs(rng, case, dtype):
    x_shape, v_shape = LARGE_OUTPUT_CASES[case]
    x, t, v = make_data(rng, x_shape, x_shape, v_shape, dtype=dtype)
    v = np.asarray(v)
    out = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    assert_loss_matches(out, x, t, v, reduction="none", dtype=dtype)
    go = rng.uniform(0.5, 2, size=x_shape).astype(dtype)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=go,
                                              n_threads=2)
    assert_loss_matches(loss, x, t, v, reduction="none", dtype=dtype)
    assert_grads_match(g, x, t, v, reduction="none", grad_output=go, dtype=dtype)
    loss1, g1 = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=go,
                                                n_threads=1)
    np.testing.assert_array_equal(loss1, loss)
    for a, b in zip(g1, g):
        np.testing.assert_array_equal(a, b)
    _, gs = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="sum")
    assert_grads_match(gs, x, t, v, reduction="sum", dtype=dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shapes", [((1001, 103), (1001, 1)), ((1001, 103), (1001,)),
                                    ((100_003,), ()), ((7, 5), (7, 1)), ((3, 40_000), (3, 1)),
                                    ((20, 30, 40), (20, 1, 1))],
                         ids=["Nx1", "one_fewer", "scalar_100003", "small_Nx1", "long_rows",
                              "several_size1"])
def test_float32_per_row_var_reduction_within_one_ulp(rng, shapes, reduction):
    x_shape, v_shape = shapes
    x = rng.uniform(-3, 3, size=x_shape).astype(np.float32)
    t = rng.uniform(-3, 3, size=x_shape).astype(np.float32)
    v = np.asarray(rng.uniform(1.5, 4.0, size=v_shape).astype(np.float32))
    for k in (1, 2):
        out = gnll.gaussian_nll_loss(x, t, v, reduction=reduction, n_threads=k)
        assert type(out) is np.float32
        ref = np.float32(reference_loss(x, t, v, reduction=reduction))
        assert abs(np.float64(out) - np.float64(ref)) <= np.spacing(ref), (out, ref)
        loss, _ = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, n_threads=k)
        assert abs(np.float64(loss) - np.float64(ref)) <= np.spacing(ref), (loss, ref)


@pytest.mark.parametrize("shapes", [((1001, 103), (1001, 1)), ((100_003,), ())],
                         ids=["Nx1", "scalar"])
def test_float64_per_row_var_reduction_accuracy(rng, shapes):
    x_shape, v_shape = shapes
    x, t, v = make_data(rng, x_shape, x_shape, v_shape, var_low=1.5, var_high=4.0)
    v = np.asarray(v)
    n = x.size
    for reduction in ("mean", "sum"):
        ref = float(reference_loss(x, t, v, reduction=reduction, dtype=np.longdouble))
        tol = (4 + 2 * np.sqrt(n)) * np.spacing(ref)
        assert abs(float(gnll.gaussian_nll_loss(x, t, v, reduction=reduction)) - ref) <= tol
        loss, _ = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction, wrt=("var",))
        assert abs(float(loss) - ref) <= tol


@pytest.mark.parametrize("options", [{}, {"clamp_grad": "zero"}],
                         ids=["plain", "family"])
def test_variance_below_the_reciprocal_range(options):
    """A variance so small that 1/v overflows while r/v, the loss and r^2/v
    do not: the elementwise values must match a long-double evaluation
    (d/dvar overflows to +inf there, as its exact value does)."""
    v = np.array([1e-309, 4e-320, 1e-309])
    x = np.array([1e-300, 0.0, 0.0])
    t = np.zeros(3)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, eps=0.0,
                                              reduction="none", **options)
    ld = np.longdouble
    r, vv = x.astype(ld), v.astype(ld)
    np.testing.assert_allclose(loss, 0.5 * (np.log(vv) + r * r / vv), rtol=1e-15)
    np.testing.assert_allclose(g.input, r / vv, rtol=1e-15)
    with np.errstate(over="ignore"):
        want_var = (0.5 * (1 / vv - (r / vv) ** 2)).astype(np.float64)
    np.testing.assert_array_equal(g.var, want_var)
