"""Parity with PyTorch's ``torch.nn.functional.gaussian_nll_loss`` (when torch is installed).

* the OpInfo sample set: input shapes (5,), (5,5), (5,5,5) x the 9 target/var
  shape pairs x 3 reductions x 4 kwarg variants, float32 and float64: the
  loss and all three gradients (torch's through autograd) agree;
* errors: wherever torch raises for a bad var shape, negative var, bad
  reduction or non-broadcastable target, gnll raises ValueError (except for
  gnll's documented extensions, checked against torch on an expanded var);
  where torch succeeds, gnll agrees with it;
* test_nn's and ModuleInfo's cases for the module.
"""

import itertools
import random
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import gnll  # noqa: E402
from reference import ShapeError, aligned_var_shape, sum_to_shape  # noqa: E402

REDUCTIONS = ("none", "mean", "sum")
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _gen_shape(s):
    return [s, (*s[:-1], 1), s[:-1]]


def _opinfo_samples():
    """The OpInfo sample set, as (id, input shape, target shape, var shape, kwargs)."""
    rnd = random.Random(20260822)
    samples = []
    for s in [(5,), (5, 5), (5, 5, 5)]:
        for r in REDUCTIONS:
            for t_s, v_s in itertools.product(_gen_shape(s), _gen_shape(s)):
                variants = [
                    ("plain", {"reduction": r}),
                    ("full", {"full": True, "reduction": r}),
                    ("eps", {"eps": rnd.uniform(1e-6, 1e-3), "reduction": r}),
                    ("full-eps", {"full": True, "eps": rnd.uniform(1e-6, 1e-3),
                                  "reduction": r}),
                ]
                for name, kw in variants:
                    sid = f"in{s}-t{t_s}-v{v_s}-{r}-{name}".replace(" ", "")
                    samples.append((sid, s, t_s, v_s, kw))
    return samples


OPINFO = _opinfo_samples()
assert len(OPINFO) == 324


def _torch_loss_and_grads(x, t, v, kw, grad_output):
    """torch's loss and the gradients of <loss, grad_output> by autograd."""
    tx = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    tv = torch.tensor(v, requires_grad=True) if isinstance(v, np.ndarray) else v
    loss = F.gaussian_nll_loss(tx, tt, tv, **kw)
    go = torch.as_tensor(grad_output, dtype=loss.dtype)
    loss.backward(go.expand(loss.shape) if loss.ndim else go)
    gv = tv.grad.numpy() if isinstance(tv, torch.Tensor) else None
    return loss.detach().numpy(), (tx.grad.numpy(), tt.grad.numpy(), gv)


def _close(name, got, exp, dtype):
    got = np.asarray(got, dtype=np.float64)
    exp = np.asarray(exp, dtype=np.float64)
    assert got.shape == exp.shape, (name, got.shape, exp.shape)
    scale = float(np.max(np.abs(exp))) if exp.size else 0.0
    if dtype == np.float64:
        rtol, atol = 1e-12, 1e-12 * scale
    else:
        # torch and gnll round differently in float32 (torch also sums in float32)
        rtol, atol = 1e-5, 1e-5 * scale
    np.testing.assert_allclose(got, exp, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sample", OPINFO, ids=[s[0] for s in OPINFO])
def test_opinfo_samples(sample, dtype):
    sid, s, t_s, v_s, kw = sample
    rng = np.random.default_rng(zlib.crc32(sid.encode()))
    # make_tensor ranges: input/target in [-9, 9), var in [0.1, 9)
    x = rng.uniform(-9, 9, size=s).astype(dtype)
    t = rng.uniform(-9, 9, size=t_s).astype(dtype)
    v = np.asarray(rng.uniform(0.1, 9, size=v_s).astype(dtype))
    if kw["reduction"] == "none":
        out_shape = np.broadcast_shapes(s, t_s)
        go = rng.uniform(-2, 2, size=out_shape).astype(dtype)
    else:
        go = dtype(rng.uniform(0.5, 2))
    t_loss, t_grads = _torch_loss_and_grads(x, t, v, kw, go)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, grad_output=go, **kw)
    assert np.asarray(loss).dtype == dtype
    _close("loss", loss, t_loss, dtype)
    for name, got, exp in zip(("input", "target", "var"), g, t_grads):
        assert got.dtype == dtype, name
        _close(name, got, exp, dtype)
    # the loss-only function agrees as well
    _close("loss-only", gnll.gaussian_nll_loss(x, t, v, **kw), t_loss, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_python_float_var_like_torch(reduction, dtype):
    rng = np.random.default_rng(5)
    x = rng.uniform(-9, 9, size=(4, 5)).astype(dtype)
    t = rng.uniform(-9, 9, size=(4, 5)).astype(dtype)
    kw = {"reduction": reduction}
    go = np.ones((4, 5), dtype) if reduction == "none" else dtype(1.0)
    t_loss, t_grads = _torch_loss_and_grads(x, t, 0.7, kw, go)
    loss, g = gnll.gaussian_nll_loss_and_grad(x, t, 0.7, **kw)
    assert np.asarray(loss).dtype == dtype  # a Python float does not up-cast, as in torch
    _close("loss", loss, t_loss, dtype)
    _close("input", g.input, t_grads[0], dtype)
    _close("target", g.target, t_grads[1], dtype)
    # torch's float var has no gradient; gnll's is d/dvar of the float, 0-d
    assert g.var.shape == ()


def test_straight_through_clamp_like_torch():
    x = np.array([0.3, 0.3, 0.0, 1.0])
    t = np.zeros(4)
    v = np.array([1e-8, 0.5, 0.0, 1e-6])
    for reduction in REDUCTIONS:
        go = np.ones(4) if reduction == "none" else 1.0
        t_loss, t_grads = _torch_loss_and_grads(x, t, v, {"reduction": reduction}, go)
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=reduction)
        _close("loss", loss, t_loss, np.float64)
        for name, a, b in zip(g._fields, g, t_grads):
            _close(name, a, b, np.float64)


@pytest.mark.parametrize("case", ["nan_var", "inf_var", "inf_input", "eps0_var0",
                                  "negative_eps"])
def test_special_values_like_torch(case):
    x, t, v, kw = {
        "nan_var": ([1.0, 2.0], [0.0, 0.0], [np.nan, 1.0], {}),
        "inf_var": ([1.0, 2.0], [0.0, 0.0], [np.inf, 1.0], {}),
        "inf_input": ([np.inf, 2.0], [0.0, 0.0], [1.0, 1.0], {}),
        "eps0_var0": ([1.0, 1.0], [1.0, 0.0], [0.0, 0.0], {"eps": 0.0}),
        "negative_eps": ([1.0, 1.0], [0.0, 0.0], [0.5, 0.5], {"eps": -1.0}),
    }[case]
    x, t, v = (np.array(a, dtype=np.float32) for a in (x, t, v))
    for reduction in REDUCTIONS:
        kw = dict(kw, reduction=reduction)
        expected = F.gaussian_nll_loss(torch.tensor(x), torch.tensor(t), torch.tensor(v), **kw)
        got = gnll.gaussian_nll_loss(x, t, v, **kw)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, equal_nan=True)


# ----------------------------------------------------------------------------- shapes & errors

def _shapes_up_to(ndim, sides=(1, 2, 3)):
    out = []
    for k in range(ndim + 1):
        out.extend(itertools.product(sides, repeat=k))
    return out


VAR_SHAPE_CASES = [
    (in_s, v_s)
    for in_s in [(), (3,), (2, 3), (3, 3), (3, 2, 3)]
    for v_s in _shapes_up_to(len(in_s) + 1)
] + [((10, 2, 3), (0, 1, 3)), ((10, 2, 3), (10, 2, 0)), ((0, 3), (0, 1)), ((0, 3), (0,))]


def _torch_call(x, t, v, **kw):
    try:
        return F.gaussian_nll_loss(torch.tensor(x), torch.tensor(t),
                                   torch.tensor(v) if isinstance(v, np.ndarray) else v, **kw), None
    except Exception as exc:  # noqa: BLE001 - we record whatever torch raises
        return None, exc


@pytest.mark.parametrize("in_s,v_s", VAR_SHAPE_CASES,
                         ids=[f"in{a}-v{b}".replace(" ", "") for a, b in VAR_SHAPE_CASES])
def test_var_shapes_like_torch(in_s, v_s):
    rng = np.random.default_rng(1)
    x = rng.normal(size=in_s)
    t = rng.normal(size=in_s)
    v = np.asarray(rng.uniform(0.5, 2, size=v_s))
    out, exc = _torch_call(x, t, v, reduction="none")
    try:
        aligned_var_shape(in_s, v_s)
        gnll_accepts = True  # by the contract (torch's rule plus gnll's extensions)
    except ShapeError:
        gnll_accepts = False
    if exc is None:
        assert gnll_accepts, f"the reference rule rejects a shape torch accepts: {in_s}, {v_s}"
        got = gnll.gaussian_nll_loss(x, t, v, reduction="none")
        np.testing.assert_allclose(got, out.numpy(), rtol=1e-13)
    elif gnll_accepts:
        # A gnll extension (several size-1 dims; 0-d var with an N-D input):
        # the same as torch with var expanded to the input's shape.
        assert isinstance(exc, ValueError) and "var is of incorrect size" in str(exc), exc
        v_full = np.broadcast_to(v.reshape(aligned_var_shape(in_s, v_s)), in_s).copy()
        got = gnll.gaussian_nll_loss(x, t, v, reduction="none")
        np.testing.assert_allclose(got, F.gaussian_nll_loss(
            torch.tensor(x), torch.tensor(t), torch.tensor(v_full), reduction="none").numpy(),
            rtol=1e-13)
        # ... and the gradient of var is the expanded gradient summed back
        tv = torch.tensor(v_full, requires_grad=True)
        F.gaussian_nll_loss(torch.tensor(x), torch.tensor(t), tv, reduction="sum").backward()
        _, g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="sum")
        expected = sum_to_shape(tv.grad.numpy(), v_s, aligned_var_shape(in_s, v_s))
        np.testing.assert_allclose(g.var, expected, rtol=1e-12, atol=1e-12)
    else:
        with pytest.raises(ValueError) as info:
            gnll.gaussian_nll_loss(x, t, v, reduction="none")
        if isinstance(exc, ValueError):
            assert str(exc) in str(info.value)  # torch's words, e.g. "var is of incorrect size"


TARGET_CASES = [
    (in_s, t_s)
    for in_s in [(3,), (2, 3), (3, 2, 3)]
    for t_s in _shapes_up_to(len(in_s) + 1, sides=(1, 2, 3))
    if len(t_s) <= 3
]


@pytest.mark.parametrize("in_s,t_s", TARGET_CASES,
                         ids=[f"in{a}-t{b}".replace(" ", "") for a, b in TARGET_CASES])
def test_target_shapes_like_torch(in_s, t_s):
    rng = np.random.default_rng(2)
    x = rng.normal(size=in_s)
    t = rng.normal(size=t_s)
    v = rng.uniform(0.5, 2, size=in_s)
    out, exc = _torch_call(x, t, v, reduction="none")
    if exc is None:
        np.testing.assert_allclose(gnll.gaussian_nll_loss(x, t, v, reduction="none"),
                                   out.numpy(), rtol=1e-13)
    else:
        # torch raises RuntimeError here; gnll promises a ValueError naming both shapes
        with pytest.raises(ValueError):
            gnll.gaussian_nll_loss(x, t, v, reduction="none")


ERROR_COMBOS = [
    c for c in itertools.product(
        ["ok", "negative"],                # var values
        ["ok", "bad"],                     # var shape
        ["mean", "abc"],                   # reduction
        ["array", "float"],                # var kind
    )
    if not (c[1] == "bad" and c[3] == "float")  # a float var has no shape
]


@pytest.mark.parametrize("sign,shape,reduction,kind", ERROR_COMBOS,
                         ids=["-".join(c) for c in ERROR_COMBOS])
def test_error_precedence_like_torch(sign, shape, reduction, kind):
    x = np.zeros((3, 5))
    if kind == "float":
        v = -1.0 if sign == "negative" else 0.5
    else:
        v = np.full((3, 3) if shape == "bad" else (3, 5), -1.0 if sign == "negative" else 0.5)
    out, exc = _torch_call(x, x, v, reduction=reduction)
    if exc is None:
        assert gnll.gaussian_nll_loss(x, x, v, reduction=reduction) == pytest.approx(
            float(out))
        return
    assert isinstance(exc, ValueError), exc
    with pytest.raises(ValueError) as info:
        gnll.gaussian_nll_loss(x, x, v, reduction=reduction)
    # the same error first: gnll's message starts with/contains torch's words
    assert str(exc) in str(info.value), (str(exc), str(info.value))


def test_opinfo_error_inputs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 2, 3)).astype(np.float32)
    v = rng.uniform(0, 1, size=(10, 2, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="abc is not valid"):
        gnll.gaussian_nll_loss(x, x, v, reduction="abc")
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gnll.gaussian_nll_loss(x, x, v[..., :2])
    _, exc = _torch_call(x, x[..., :2].copy(), v)
    assert isinstance(exc, RuntimeError)
    with pytest.raises(ValueError):
        gnll.gaussian_nll_loss(x, x[..., :2], v)


# ----------------------------------------------------------------------------- test_nn / ModuleInfo

def test_test_nn_broadcasting_and_scalar_var_with_torch():
    inp = np.array([[0.5, 1.5, 2.5], [2.0, 4.0, 6.0]])
    t_full = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    t_part = np.array([[1.0, 2.0, 3.0]])
    v_full = np.array([[0.5, 0.5, 0.5], [1.5, 1.5, 1.5]])
    v_part1 = np.array([[0.5], [1.5]])
    v_part2 = np.array([0.5, 1.5])
    expected, _ = _torch_call(inp, t_full, v_full, reduction="none")
    for t, v in [(t_part, v_full), (t_full, v_part1), (t_full, v_part2), (t_part, v_part1),
                 (t_part, v_part2)]:
        np.testing.assert_allclose(gnll.gaussian_nll_loss(inp, t, v, reduction="none"),
                                   expected.numpy(), rtol=1e-14)
    scalar, _ = _torch_call(inp, t_full, 0.5, reduction="none")
    np.testing.assert_allclose(gnll.gaussian_nll_loss(inp, t_full, 0.5, reduction="none"),
                               scalar.numpy(), rtol=1e-14)


MODULE_CASES = [("default", {}, (4, 1)), ("reduction_sum", {"reduction": "sum"}, (4, 1)),
                ("reduction_mean", {"reduction": "mean"}, (4, 1)),
                ("reduction_none", {"reduction": "none"}, (4, 1)),
                ("homoscedastic", {}, (1, 3))]


@pytest.mark.parametrize("desc,kwargs,v_shape", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_module_info_cases(desc, kwargs, v_shape, dtype):
    rng = np.random.default_rng(sum(map(ord, desc)))
    x = rng.uniform(-9, 9, size=(4, 3)).astype(dtype)
    t = rng.uniform(-9, 9, size=(4, 3)).astype(dtype)
    v = np.abs(rng.uniform(-9, 9, size=v_shape)).astype(dtype)
    module = torch.nn.GaussianNLLLoss(**kwargs)
    tx = torch.tensor(x, requires_grad=True)
    tv = torch.tensor(v, requires_grad=True)
    out = module(tx, torch.tensor(t), tv)
    out.backward(torch.ones_like(out))
    loss_fn = gnll.GaussianNLLLoss(**kwargs)
    loss, g = loss_fn.loss_and_grad(x, t, v)
    _close("loss", loss, out.detach().numpy(), dtype)
    _close("input", g.input, tx.grad.numpy(), dtype)
    _close("var", g.var, tv.grad.numpy(), dtype)
    # no_batch_dim_reference_fn: a batch of one gives the unbatched result
    batched = loss_fn(x[None], t[None], v[None])
    expected = loss_fn(x, t, v)
    if kwargs.get("reduction") == "none":
        batched = batched[0]
    _close("no_batch_dim", batched, expected, dtype)


@pytest.mark.parametrize("in_s,v_s", [((0,), (0,)), ((0, 3), (0, 3)), ((0, 3), (0, 1)),
                                      ((0, 3), (0,))], ids=["0", "0x3", "0x3-v0x1", "0x3-v0"])
def test_empty_like_torch(in_s, v_s):
    x = np.zeros(in_s)
    v = np.ones(v_s)
    for reduction in REDUCTIONS:
        out, exc = _torch_call(x, x, v, reduction=reduction)
        assert exc is None
        got = gnll.gaussian_nll_loss(x, x, v, reduction=reduction)
        assert np.shape(got) == tuple(out.shape)
        np.testing.assert_array_equal(got, out.numpy())
