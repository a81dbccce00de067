"""Bad input gives clear errors (torch's types, words and precedence); empty input works."""

import re
import warnings

import numpy as np
import pytest

import gnll


def _ok(shape=(3, 5)):
    rng = np.random.default_rng(0)
    return rng.normal(size=shape), rng.normal(size=shape), rng.uniform(0.5, 1, size=shape)


def _both_shapes_in(message, a, b):
    """True if both shapes appear in the message (as tuples, e.g. '(3, 3)')."""
    def found(shape):
        s = str(tuple(shape))
        return s in message or s.replace(" ", "") in message.replace(" ", "")
    return found(a) and found(b)


# ----------------------------------------------------------------------------- var shape

BAD_VAR_SHAPES = {
    # input shape, var shape
    "3x5_vs_3x3": ((3, 5), (3, 3)),
    "3x5_vs_5": ((3, 5), (5,)),                  # (D,) is per row: (5,) != (3,)
    "10x2x3_vs_10x2x2": ((10, 2, 3), (10, 2, 2)),
    "10x2x3_vs_2x3": ((10, 2, 3), (2, 3)),       # no right-aligned broadcasting
    "10x2x3_vs_3": ((10, 2, 3), (3,)),
    "10x2x3_vs_1": ((10, 2, 3), (1,)),
    "10x2x3_vs_10x2x3x1": ((10, 2, 3), (10, 2, 3, 1)),
    "10x2x3_vs_10x2x0": ((10, 2, 3), (10, 2, 0)),
    "10x2x3_vs_0x1x3": ((10, 2, 3), (0, 1, 3)),  # torch's zero-size quirk: a ValueError here
    "3_vs_1x1": ((3,), (1, 1)),
    "3_vs_3x1": ((3,), (3, 1)),
    "0d_vs_1": ((), (1,)),
    "3x1_vs_3x4": ((3, 1), (3, 4)),              # var may not be larger than input
}


@pytest.mark.parametrize("case", list(BAD_VAR_SHAPES), ids=list(BAD_VAR_SHAPES))
def test_var_of_incorrect_size(case):
    in_shape, v_shape = BAD_VAR_SHAPES[case]
    x = np.zeros(in_shape)
    v = np.ones(v_shape)
    with pytest.raises(ValueError, match="var is of incorrect size") as info:
        gnll.gaussian_nll_loss(x, x, v)
    assert _both_shapes_in(str(info.value), in_shape, v_shape), str(info.value)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gnll.gaussian_nll_loss_and_grad(x, x, v)


def test_torch_args_case():
    x, t, _ = _ok()
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gnll.gaussian_nll_loss(x, t, np.ones((3, 3)))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, t, -1 * np.ones((3, 5)))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, t, -1.0)


# ----------------------------------------------------------------------------- target shape

@pytest.mark.parametrize("in_shape,t_shape", [((2, 3), (2,)), ((10, 2, 3), (10, 2, 2)),
                                              ((3,), (4,)), ((2, 3), (3, 2))],
                         ids=["2x3_vs_2", "10x2x3_vs_10x2x2", "3_vs_4", "2x3_vs_3x2"])
def test_target_not_broadcastable(in_shape, t_shape):
    x = np.zeros(in_shape)
    with pytest.raises(ValueError) as info:
        gnll.gaussian_nll_loss(x, np.zeros(t_shape), np.ones(in_shape))
    assert _both_shapes_in(str(info.value), in_shape, t_shape), str(info.value)
    with pytest.raises(ValueError):
        gnll.gaussian_nll_loss_and_grad(x, np.zeros(t_shape), np.ones(in_shape))


# ----------------------------------------------------------------------------- negative var

@pytest.mark.parametrize("var", [np.array([1.0, -1e-300, 1.0]), np.array([-np.inf, 1, 1]),
                                 -1.0, -1e-300, np.array(-2.0), np.array([1, 1, -1]),
                                 np.array([1.0, 1.0, -1.0], dtype=np.float32)],
                         ids=["tiny_negative", "-inf", "float", "tiny_float", "0d", "int_array",
                              "f32"])
def test_negative_var(var):
    x = np.zeros(3)
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, var)
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss_and_grad(x, x, var, reduction="sum")


def test_negative_var_in_a_broadcast_or_strided_view():
    x = np.zeros((4, 3))
    v = np.ones((4, 2))
    v[3, 0] = -1.0
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, v[:, :1])  # the (4,1) view contains the -1
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, v[::-1, 0])  # (4,) negative-stride per-row var


def test_negative_zero_and_nan_var_are_not_negative():
    x = np.zeros(3)
    gnll.gaussian_nll_loss(x, x, np.array([-0.0, 1.0, np.nan]))
    gnll.gaussian_nll_loss(x, x, -0.0)
    gnll.gaussian_nll_loss(x, x, float("nan"))


# ----------------------------------------------------------------------------- reduction

@pytest.mark.parametrize("reduction", ["abc", "MEAN", "batchmean", "", "Sum", "none "])
def test_invalid_reduction(reduction):
    x, t, v = _ok()
    with pytest.raises(ValueError) as info:
        gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    msg = str(info.value)
    assert msg.startswith(f"{reduction} is not valid"), msg
    for choice in ("none", "mean", "sum"):
        assert re.search(rf"\b{choice}\b", msg[len(reduction) + len(" is not valid"):]), msg
    with pytest.raises(ValueError, match=re.escape(f"{reduction} is not valid")):
        gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)


@pytest.mark.parametrize("reduction", [None, 1, b"mean", ("mean",)],
                         ids=["None", "int", "bytes", "tuple"])
def test_non_string_reduction_raises(reduction):
    x, t, v = _ok()
    with pytest.raises((ValueError, TypeError)):
        gnll.gaussian_nll_loss(x, t, v, reduction=reduction)


@pytest.mark.parametrize("var_kind", ["float", "Nx1"])
def test_invalid_reduction_checked_before_any_work(var_kind):
    """The reduction error is raised before any data-sized work.

    input and target are zero-stride views of 2**50 elements: any copy,
    allocation or pass over them would fail (8 PiB) or never finish, so only
    a check made before the work can give the reduction error.  (No timing is
    measured: a correct implementation returns at once.)  var is small, as
    torch's order checks var's sign first, which must read all of var.
    """
    shape = (2**25, 2**25)
    x = np.broadcast_to(np.float64(0.5), shape)
    v = {"float": 1.0, "Nx1": np.broadcast_to(np.float64(1.0), (2**25, 1))}[var_kind]
    with pytest.raises(ValueError, match="^abc is not valid"):
        gnll.gaussian_nll_loss(x, x, v, reduction="abc")
    with pytest.raises(ValueError, match="^abc is not valid"):
        gnll.gaussian_nll_loss_and_grad(x, x, v, reduction="abc")


# ----------------------------------------------------------------------------- precedence

def test_precedence_negative_before_shape():
    x = np.zeros((3, 5))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, -np.ones((3, 3)))


def test_precedence_shape_before_reduction():
    x = np.zeros((3, 5))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gnll.gaussian_nll_loss(x, x, np.ones((3, 3)), reduction="abc")


def test_precedence_negative_before_reduction():
    x = np.zeros((3, 5))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, -np.ones((3, 5)), reduction="abc")
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gnll.gaussian_nll_loss(x, x, -1.0, reduction="abc")


def test_precedence_float_var_then_reduction():
    x = np.zeros((3, 5))
    with pytest.raises(ValueError, match="^abc is not valid"):
        gnll.gaussian_nll_loss(x, x, 0.5, reduction="abc")


# ----------------------------------------------------------------------------- types

BAD_TYPES = {
    "complex_input": (np.zeros(3, dtype=complex), np.zeros(3), np.ones(3)),
    "complex_target": (np.zeros(3), np.zeros(3, dtype=np.complex64), np.ones(3)),
    "complex_var": (np.zeros(3), np.zeros(3), np.ones(3, dtype=complex)),
    "python_complex_var": (np.zeros(3), np.zeros(3), 1 + 0j),
    "object_input": (np.array([1.0, None, 2.0], dtype=object), np.zeros(3), np.ones(3)),
    "object_var": (np.zeros(3), np.zeros(3), np.array([1.0, 2.0, 3.0], dtype=object)),
    "string_input": (np.array(["a", "b", "c"]), np.zeros(3), np.ones(3)),
    "string_scalar_target": (np.zeros(3), "0", np.ones(3)),
    "string_var": (np.zeros(3), np.zeros(3), "1.0"),
    "bytes_var": (np.zeros(3), np.zeros(3), np.array([b"1", b"2", b"3"])),
    "datetime_input": (np.array(["2020-01-01"] * 3, dtype="datetime64[D]"), np.zeros(3),
                       np.ones(3)),
    "None_var": (np.zeros(3), np.zeros(3), None),
}


@pytest.mark.parametrize("case", list(BAD_TYPES), ids=list(BAD_TYPES))
def test_unsupported_types_raise_type_error(case):
    x, t, v = BAD_TYPES[case]
    with pytest.raises(TypeError) as info:
        gnll.gaussian_nll_loss(x, t, v)
    assert len(str(info.value)) > 10  # a clear message, not an empty one
    with pytest.raises(TypeError):
        gnll.gaussian_nll_loss_and_grad(x, t, v)


@pytest.mark.parametrize("n_threads", [0, 1.5, "2", [2]], ids=["0", "1.5", "str", "list"])
def test_bad_n_threads(n_threads):
    x, t, v = _ok()
    with pytest.raises((ValueError, TypeError)):
        gnll.gaussian_nll_loss(x, t, v, n_threads=n_threads)
    with pytest.raises((ValueError, TypeError)):
        gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=n_threads)


def test_n_threads_numpy_integer_is_accepted():
    x, t, v = _ok()
    a = gnll.gaussian_nll_loss(x, t, v, n_threads=np.int64(2))
    assert a == gnll.gaussian_nll_loss(x, t, v, n_threads=1)


@pytest.mark.parametrize("n_threads", [-1, -2])
def test_negative_n_threads_error_or_correct(n_threads):
    # Negative counts are not defined by the contract; they may mean "all
    # CPUs" (scikit-learn) or be an error, but must never give a wrong answer.
    x, t, v = _ok((300, 300))
    try:
        out = gnll.gaussian_nll_loss(x, t, v, n_threads=n_threads)
    except (ValueError, TypeError):
        return
    assert out == gnll.gaussian_nll_loss(x, t, v, n_threads=1)


@pytest.mark.parametrize("wrt", [("inputs",), ("input", "bogus"), ("VAR",), (1,), "x"],
                         ids=["inputs", "bogus", "VAR", "int", "x"])
def test_bad_wrt(wrt):
    x, t, v = _ok()
    with pytest.raises((ValueError, TypeError)):
        gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=wrt)


@pytest.mark.parametrize("grad_output", [np.ones((2, 2)), np.ones(5)], ids=["2x2", "5"])
def test_grad_output_not_broadcastable_to_loss(grad_output):
    x, t, v = _ok((3, 4))
    with pytest.raises(ValueError):
        gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none", grad_output=grad_output)


@pytest.mark.parametrize("eps", ["1e-6", None, 1j], ids=["str", "None", "complex"])
def test_bad_eps_type(eps):
    x, t, v = _ok()
    with pytest.raises((TypeError, ValueError)):
        gnll.gaussian_nll_loss(x, t, v, eps=eps)


def test_keyword_only_n_threads():
    x, t, v = _ok()
    with pytest.raises(TypeError):
        gnll.gaussian_nll_loss(x, t, v, False, 1e-6, "mean", 2)


def test_positional_arguments_like_torch():
    x, t, v = _ok()
    a = gnll.gaussian_nll_loss(x, t, v, True, 1e-6, "sum")
    b = gnll.gaussian_nll_loss(x, t, v, full=True, eps=1e-6, reduction="sum")
    assert a == b


# ----------------------------------------------------------------------------- empty

EMPTY_CASES = {
    "0": ((0,), (0,), (0,)),
    "0x3": ((0, 3), (0, 3), (0, 3)),
    "0x3_var_0x1": ((0, 3), (0, 3), (0, 1)),
    "0x3_var_0": ((0, 3), (0, 3), (0,)),
    "0x3_target_3": ((0, 3), (3,), (0, 3)),
    "3x0_var_1x0": ((3, 0), (3, 0), (1, 0)),
}


@pytest.mark.parametrize("case", list(EMPTY_CASES), ids=list(EMPTY_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_empty_inputs(case, dtype):
    xs, ts, vs = EMPTY_CASES[case]
    x, t, v = np.zeros(xs, dtype), np.zeros(ts, dtype), np.ones(vs, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none = gnll.gaussian_nll_loss(x, t, v, reduction="none")
        mean = gnll.gaussian_nll_loss(x, t, v, reduction="mean")
        total = gnll.gaussian_nll_loss(x, t, v, reduction="sum")
        _, g_none = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none")
        m, g_mean = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="mean")
        s, g_sum = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="sum")
    assert isinstance(none, np.ndarray) and none.shape == xs and none.dtype == dtype
    assert np.isnan(mean) and type(mean) is np.dtype(dtype).type
    assert total == 0 and type(total) is np.dtype(dtype).type
    assert np.isnan(m) and s == 0
    for g in (g_none, g_mean, g_sum):
        assert g.input.shape == xs and g.target.shape == ts and g.var.shape == vs
    # a (3,) target against (0,3) input gets a zero gradient (an empty sum)
    if ts == (3,):
        np.testing.assert_array_equal(g_sum.target, np.zeros(3))


def test_empty_with_float_var():
    x = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gnll.gaussian_nll_loss(x, x, 0.5, reduction="none").shape == (0, 3)
        assert np.isnan(gnll.gaussian_nll_loss(x, x, 0.5))
        assert gnll.gaussian_nll_loss(x, x, 0.5, reduction="sum") == 0
        _, g = gnll.gaussian_nll_loss_and_grad(x, x, 0.5, reduction="sum")
    assert g.var.shape == () and g.var == 0


def test_empty_broadcast_shape_from_target():
    # input (0,1) and target (1,4): the loss is (0,4)
    out = gnll.gaussian_nll_loss(np.zeros((0, 1)), np.zeros((1, 4)), np.ones((0, 1)),
                                 reduction="none")
    assert out.shape == (0, 4)


@pytest.mark.parametrize("eps", [float("nan"), np.float64("nan"), np.float32("nan")])
def test_a_nan_eps_is_refused(eps):
    """A NaN clamp would clamp nothing and give finite results: a clear error."""
    x = np.zeros(3)
    v = np.ones(3)
    calls = [
        lambda: gnll.gaussian_nll_loss(x, x, v, eps=eps),
        lambda: gnll.gaussian_nll_loss_and_grad(x, x, v, eps=eps),
        lambda: gnll.gaussian_nll_loss(x, x, log_var=v, eps=eps),
        lambda: gnll.gaussian_nll_curvature(x, x, v, eps=eps),
        lambda: gnll.GaussianNLLLoss(eps=eps),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="eps must not be NaN"):
            call()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_float32_loss_past_float32s_range_is_inf_without_a_warning(reduction):
    x = np.array([1e30, 0.0], np.float32)
    v = np.array([1e-30, 1.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = gnll.gaussian_nll_loss(x, np.zeros(2, np.float32), v, eps=0.0,
                                      reduction=reduction)
        loss2, _ = gnll.gaussian_nll_loss_and_grad(x, np.zeros(2, np.float32), v,
                                                   eps=0.0, reduction=reduction)
    assert loss.dtype == np.float32 and loss == np.inf and loss2 == np.inf
