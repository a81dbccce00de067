"""Tests for gnll.torch, the PyTorch bridge (skipped when torch is absent).

Everything is compared with torch's own ``torch.nn.functional.gaussian_nll_loss``:
values, gradients and exceptions, on torch's OpInfo sample set and its test_nn
cases, plus the paths where gnll.torch hands over to torch.
"""

import itertools
import math
import random
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
gtorch = pytest.importorskip("gnll.torch")
import gnll  # noqa: E402  (after torch: the module is skipped without it)

# torch's lazily imported internals (forward AD, torch.func, dynamo) warn that
# torch.jit.script is deprecated; that is torch's business, not gnll's.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning")

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["none", "mean", "sum"]
SUBSETS = list(itertools.product([False, True], repeat=3))  # requires_grad flags


def tol(dtype):
    if dtype == torch.float64:
        return dict(rtol=1e-10, atol=1e-12)
    # gnll sums float32 in float64, torch in float32: allow for torch's error.
    return dict(rtol=3e-5, atol=3e-5)


def uniform(shape, low, high, dtype, gen):
    return torch.rand(shape, dtype=torch.float64, generator=gen).mul_(high - low).add_(low).to(dtype)


def leaves(tensors, flags):
    """Fresh leaf copies of ``tensors``, requiring grad per ``flags``."""
    out = []
    for t, f in zip(tensors, flags):
        if isinstance(t, torch.Tensor):
            t = t.detach().clone().requires_grad_(f)
        out.append(t)
    return out


def run(fn, args, kwargs, flags, grad_out=None):
    """Loss and the gradients of the arguments that require grad."""
    args = leaves(args, flags)
    loss = fn(*args, **kwargs)
    grads = [None, None, None]
    wanted = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if wanted:
        g = torch.ones_like(loss) if grad_out is None else grad_out
        got = torch.autograd.grad(loss, wanted, g)
        it = iter(got)
        grads = [next(it) if isinstance(a, torch.Tensor) and a.requires_grad else None for a in args]
    return loss, grads


def assert_same(ours, ref, dtype):
    (lo, go), (lr, gr) = ours, ref
    assert lo.dtype == lr.dtype and lo.shape == lr.shape
    torch.testing.assert_close(lo, lr, equal_nan=True, **tol(dtype))
    for a, b in zip(go, gr):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            torch.testing.assert_close(a, b, **tol(dtype))


# ------------------------------------------------------------------ basics
def test_import_gnll_does_not_import_torch():
    code = "import gnll, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names():
    assert set(gtorch.__all__) == {"gaussian_nll_loss", "GaussianNLLLoss"}
    assert issubclass(gtorch.GaussianNLLLoss, torch.nn.GaussianNLLLoss)


# --------------------------------------------------- OpInfo sample set (2.4)
def opinfo_samples(shape, reduction, dtype, seed):
    """torch's sample_inputs_gaussian_nll_loss for one input shape and reduction."""
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    shapes = [shape, (*shape[:-1], 1), shape[:-1]]
    for t_s, v_s in itertools.product(shapes, shapes):
        x = uniform(shape, -9, 9, dtype, gen)
        t = uniform(t_s, -9, 9, dtype, gen)
        v = uniform(v_s, 0.1, 9, dtype, gen)
        for kw in (
            {"reduction": reduction},
            {"full": True, "reduction": reduction},
            {"eps": rng.uniform(1e-6, 1e-3), "reduction": reduction},
            {"full": True, "eps": rng.uniform(1e-6, 1e-3), "reduction": reduction},
        ):
            yield (x, t, v), kw


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "recompute"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (5, 5), (5, 5, 5)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_opinfo_samples(dtype, shape, reduction, fused, monkeypatch):
    monkeypatch.setattr(gtorch, "_FUSED_FORWARD", fused)
    gen = torch.Generator().manual_seed(1)
    n = 0
    for args, kw in opinfo_samples(shape, reduction, dtype, seed=len(shape)):
        ref_out = F.gaussian_nll_loss(*args, **kw)
        if reduction == "none":
            g = uniform(ref_out.shape, -2, 2, dtype, gen)  # a non-scalar upstream gradient
        else:
            g = torch.tensor(1.0 if n % 2 else -2.5, dtype=dtype)
        for flags in SUBSETS:
            ours = run(gtorch.gaussian_nll_loss, args, kw, flags, g)
            ref = run(F.gaussian_nll_loss, args, kw, flags, g)
            assert_same(ours, ref, dtype)
            n += 1
    assert n == 9 * 4 * 8


# --------------------------------------------------------- test_nn cases (2.1)
BX = [[0.5, 1.5, 2.5], [2.0, 4.0, 6.0]]
B_TARGET_FULL = [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
B_TARGET_PART = [[1.0, 2.0, 3.0]]
B_VAR_FULL = [[0.5, 0.5, 0.5], [1.5, 1.5, 1.5]]
B_VAR_PART1 = [[0.5], [1.5]]
B_VAR_PART2 = [0.5, 1.5]
B_EXPECTED = [[-0.0965736, -0.0965736, -0.0965736], [0.5360659, 1.5360659, 3.2027326]]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "target, var",
    [
        (B_TARGET_PART, B_VAR_FULL),
        (B_TARGET_FULL, B_VAR_PART1),
        (B_TARGET_FULL, B_VAR_PART2),
        (B_TARGET_PART, B_VAR_PART1),
        (B_TARGET_PART, B_VAR_PART2),
    ],
)
def test_nn_broadcasting(target, var, dtype):
    args = [torch.tensor(a, dtype=dtype) for a in (BX, target, var)]
    expected = torch.tensor(B_EXPECTED, dtype=dtype)
    torch.testing.assert_close(gtorch.gaussian_nll_loss(*args, reduction="none"), expected)
    torch.testing.assert_close(gtorch.gaussian_nll_loss(*args), torch.tensor(0.8308573, dtype=dtype))
    torch.testing.assert_close(gtorch.gaussian_nll_loss(*args, reduction="sum"), torch.tensor(4.9851437, dtype=dtype))
    torch.testing.assert_close(gtorch.gaussian_nll_loss(*args, full=True), torch.tensor(1.7497959, dtype=dtype))
    for flags in SUBSETS:
        for red in REDUCTIONS:
            assert_same(
                run(gtorch.gaussian_nll_loss, args, {"reduction": red}, flags),
                run(F.gaussian_nll_loss, args, {"reduction": red}, flags),
                dtype,
            )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_nn_scalar_var(dtype):
    x = torch.tensor(BX, dtype=dtype)
    t = torch.tensor(B_TARGET_FULL, dtype=dtype)
    expected = torch.tensor(
        [[-0.0965736] * 3, [0.6534264, 3.6534264, 8.6534262]], dtype=dtype
    )
    out = gtorch.gaussian_nll_loss(x, t, 0.5, reduction="none")
    assert out.dtype == dtype
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        out, gtorch.gaussian_nll_loss(x, t, 0.5 * torch.ones_like(x), reduction="none")
    )
    for flags in SUBSETS:
        for red in REDUCTIONS:
            assert_same(
                run(gtorch.gaussian_nll_loss, [x, t, 0.5], {"reduction": red}, flags),
                run(F.gaussian_nll_loss, [x, t, 0.5], {"reduction": red}, flags),
                dtype,
            )


def test_nn_args_errors():
    x, t = torch.randn(3, 5), torch.randn(3, 5)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        gtorch.gaussian_nll_loss(x, t, torch.ones(3, 3))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gtorch.gaussian_nll_loss(x, t, -1 * torch.ones(3, 5))
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gtorch.gaussian_nll_loss(x, t, -1.0)


def test_module_inputs_no_batch_dim():
    """common_modules: the module on a batch of one equals the unbatched call."""
    gen = torch.Generator().manual_seed(3)
    x, t = uniform((4, 3), -9, 9, torch.float64, gen), uniform((4, 3), -9, 9, torch.float64, gen)
    for v_s in [(4, 1), (1, 3)]:
        v = uniform(v_s, 0, 9, torch.float64, gen)
        for red in REDUCTIONS:
            m = gtorch.GaussianNLLLoss(reduction=red)
            batched = m(x[None], t[None], v[None])
            single = m(x, t, v)
            torch.testing.assert_close(batched.squeeze(0) if red == "none" else batched, single)
            torch.testing.assert_close(single, torch.nn.GaussianNLLLoss(reduction=red)(x, t, v))


# ----------------------------------------------------------------- errors
def raised(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - we compare whatever torch raises
        return e
    return None


ERROR_CASES = [
    # (input shape, target shape, var, reduction)
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 3), 1.0), "abc"),  # OpInfo error 1
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 2), 1.0), "mean"),  # OpInfo error 2
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 3), 1.0), "MEAN"),
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 3), 1.0), "batchmean"),
    ((3, 5), (3, 5), ("t", (3, 3), 1.0), "mean"),
    ((3, 5), (3, 5), ("t", (3, 5), -1.0), "mean"),
    ((3, 5), (3, 5), ("f", -1.0), "mean"),
    ((3, 5), (3, 5), ("f", -1.0), "abc"),  # negative before reduction
    ((3, 5), (3, 5), ("t", (3, 3), -1.0), "mean"),  # negative before size
    ((3, 5), (3, 5), ("t", (3, 3), 1.0), "abc"),  # size before reduction
    ((3, 5), (3, 5), ("t", (3, 5), -1.0), "abc"),  # negative before reduction
    ((3, 5), (3, 5), ("f", 0.5), "abc"),
    ((3, 5), (3, 5), ("t", (5,), 1.0), "mean"),  # no right-aligned broadcasting
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 3, 1), 1.0), "mean"),
    ((10, 2, 3), (10, 2, 3), ("t", (10, 2, 0), 1.0), "mean"),
    ((10, 2, 3), (10, 2, 3), ("t", (2, 3), 1.0), "mean"),
    ((3,), (3,), ("t", (1, 1), 1.0), "mean"),
    ((), (), ("t", (1,), 1.0), "mean"),
    ((3, 5), (3, 5), ("int", 1), "mean"),  # TypeError, as torch
    ((3, 5), (3, 5), ("int", -1), "mean"),
    ((3, 5), (3, 5), ("np32", 1.0), "mean"),
    ((3, 5), (3, 5), ("list", [1.0]), "mean"),
    ((3, 5), (3, 5), ("t", (3, 5), 1.0), None),  # TypeError from torch's string concatenation
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: f"{c[2]}-{c[3]}")
def test_errors_as_torch(case, dtype):
    xs, ts, vspec, reduction = case
    x, t = torch.rand(xs, dtype=dtype), torch.rand(ts, dtype=dtype)
    kind, *rest = vspec
    var = {
        "t": lambda: torch.full(rest[0], rest[1], dtype=dtype),
        "f": lambda: rest[0],
        "int": lambda: rest[0],
        "np32": lambda: np.float32(rest[0]),
        "list": lambda: rest[0],
    }[kind]()
    for flags in [(False, False, False), (True, False, True)]:
        args = leaves([x, t, var], flags)
        ref = raised(F.gaussian_nll_loss, *args, reduction=reduction)
        ours = raised(gtorch.gaussian_nll_loss, *args, reduction=reduction)
        assert ref is not None and ours is not None
        assert type(ours) is type(ref), (ours, ref)
        assert str(ref) in str(ours)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_target_not_broadcastable(dtype):
    """torch raises RuntimeError, gnll ValueError naming both shapes (documented)."""
    x, t, v = torch.ones(10, 2, 3, dtype=dtype), torch.ones(10, 2, 2, dtype=dtype), torch.ones(10, 2, 3, dtype=dtype)
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(2\)"):
        F.gaussian_nll_loss(x, t, v)
    with pytest.raises(ValueError) as info:
        gtorch.gaussian_nll_loss(x, t, v)
    assert "(10, 2, 2)" in str(info.value) and "(10, 2, 3)" in str(info.value)
    # In the fallback path (float16) the error is torch's own.
    with pytest.raises(RuntimeError, match="must match"):
        gtorch.gaussian_nll_loss(x.half(), t.half(), v.half())


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_integer_var_tensor_error(dtype):
    x = torch.rand(3, 5)
    v = torch.ones(3, 5, dtype=dtype)
    ref, ours = raised(F.gaussian_nll_loss, x, x, v), raised(gtorch.gaussian_nll_loss, x, x, v)
    assert type(ours) is type(ref) and str(ours) == str(ref)


# ------------------------------------------------------ special values, misc
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_special_values_and_clamp_gradients(dtype):
    x = torch.tensor([0.3, 0.3, 0.0, 1.0, 0.0, 1.0], dtype=dtype)
    t = torch.tensor([0.0, 0.0, 0.0, 1.0, float("inf"), 0.0], dtype=dtype)
    v = torch.tensor([1e-8, 0.5, 0.0, float("nan"), 1.0, float("inf")], dtype=dtype)
    for red in REDUCTIONS:
        for eps in (1e-6, 1.0, 0.0, -1.0):
            kw = {"reduction": red, "eps": eps}
            ours = run(gtorch.gaussian_nll_loss, [x, t, v], kw, (True, True, True))
            ref = run(F.gaussian_nll_loss, [x, t, v], kw, (True, True, True))
            torch.testing.assert_close(ours[0], ref[0], equal_nan=True, **tol(dtype))
            for a, b in zip(ours[1], ref[1]):
                torch.testing.assert_close(a, b, equal_nan=True, **tol(dtype))


@pytest.mark.parametrize("shape, vshape", [((0,), (0,)), ((0, 3), (0, 1)), ((0, 3), (0,)), ((0, 3), None)])
def test_empty(shape, vshape):
    x = torch.zeros(shape, requires_grad=True)
    v = 1.0 if vshape is None else torch.ones(vshape, requires_grad=True)
    for red in REDUCTIONS:
        with _no_warnings():
            out = gtorch.gaussian_nll_loss(x, x.detach(), v, reduction=red)
        ref = F.gaussian_nll_loss(x, x.detach(), v, reduction=red)
        torch.testing.assert_close(out, ref, equal_nan=True)
        out.sum().backward()
        assert x.grad.shape == x.shape


def _no_warnings():
    import warnings

    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")

    class _Ctx:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            ctx.__exit__(*exc)

    return _Ctx()


def test_python_float_var_keeps_dtype_and_numpy_float64():
    x = torch.rand(4, 3)
    assert gtorch.gaussian_nll_loss(x, x, 0.5).dtype == torch.float32
    out = gtorch.gaussian_nll_loss(x, x + 1, np.float64(0.5))
    torch.testing.assert_close(out, F.gaussian_nll_loss(x, x + 1, np.float64(0.5)))


@pytest.mark.parametrize("eps", [0, 1, True, 1e-3, torch.tensor(0.5)], ids=repr)
@pytest.mark.parametrize("full", [1, "yes", None, False])
def test_loose_eps_and_full_as_torch(eps, full):
    x, v = torch.rand(3, 4, dtype=torch.float64), torch.rand(3, 4, dtype=torch.float64)
    torch.testing.assert_close(
        gtorch.gaussian_nll_loss(x, x + 1, v, full=full, eps=eps),
        F.gaussian_nll_loss(x, x + 1, v, full=full, eps=eps),
    )


def test_positional_arguments():
    x, t, v = torch.rand(4, 3), torch.rand(4, 3), torch.rand(4, 3) + 0.1
    torch.testing.assert_close(
        gtorch.gaussian_nll_loss(x, t, v, True, 1e-3, "sum"),
        F.gaussian_nll_loss(x, t, v, True, 1e-3, "sum"),
    )


def test_inputs_not_modified_and_layouts():
    gen = torch.Generator().manual_seed(5)
    base = uniform((6, 8), -3, 3, torch.float64, gen)
    x = base.t()  # non-contiguous
    t = uniform((8, 12), -3, 3, torch.float64, gen)[:, ::2]  # strided
    v = uniform((8, 1), 0.1, 3, torch.float64, gen).expand(8, 6)  # stride 0
    copies = [a.clone() for a in (x, t, v)]
    for red in REDUCTIONS:
        for flags in SUBSETS:
            assert_same(
                run(gtorch.gaussian_nll_loss, [x, t, v], {"reduction": red}, flags),
                run(F.gaussian_nll_loss, [x, t, v], {"reduction": red}, flags),
                torch.float64,
            )
    for a, c in zip((x, t, v), copies):
        assert torch.equal(a, c)


def test_target_broadcasts_to_larger_output():
    x = torch.rand(3, 1, dtype=torch.float64)
    t = torch.rand(1, 4, dtype=torch.float64)
    v = torch.rand(3, 1, dtype=torch.float64) + 0.1
    for red in REDUCTIONS:
        for flags in SUBSETS:
            assert_same(
                run(gtorch.gaussian_nll_loss, [x, t, v], {"reduction": red}, flags),
                run(F.gaussian_nll_loss, [x, t, v], {"reduction": red}, flags),
                torch.float64,
            )


# ------------------------------------------------------------- gnll extras
EXTRA_VAR_SHAPES = [(4, 3, 1, 1), (4, 1, 1, 1), (1, 1, 1, 1), (1, 3, 1, 2), ()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("vshape", EXTRA_VAR_SHAPES, ids=str)
def test_extra_var_shapes(vshape, dtype):
    """Several size-1 var dims and a 0-d var, which torch rejects, broadcast."""
    gen = torch.Generator().manual_seed(7)
    x = uniform((4, 3, 2, 2), -3, 3, dtype, gen)
    t = uniform((4, 3, 2, 2), -3, 3, dtype, gen)
    v = uniform(vshape, 0.1, 3, dtype, gen)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, t, v)
    for red in REDUCTIONS:
        for flags in SUBSETS:
            ours = run(gtorch.gaussian_nll_loss, [x, t, v], {"reduction": red}, flags)
            ref = run(lambda a, b, c, **k: F.gaussian_nll_loss(a, b, c.expand(a.shape), **k), [x, t, v], {"reduction": red}, flags)
            if dtype in DTYPES:
                assert_same(ours, ref, dtype)
            else:
                torch.testing.assert_close(ours[0], ref[0])
                for a, b in zip(ours[1], ref[1]):
                    assert (a is None) == (b is None)
                    if a is not None:
                        assert a.shape == b.shape and a.dtype == b.dtype
                        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)


# --------------------------------------------------------- gradcheck (float64)
GRADCHECK_CASES = [
    ((4, 3), (4, 3), (4, 3)),
    ((4, 3), (4, 3), (4, 1)),
    ((4, 3), (3,), (4,)),
    ((4, 3), (1, 3), (1, 3)),
    ((2, 3, 2), (2, 3, 2), (2, 1, 1)),
    ((5,), (), ()),
    ((4, 3), (4, 3), None),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "recompute"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", GRADCHECK_CASES, ids=str)
def test_gradcheck(shapes, reduction, full, fused, monkeypatch):
    monkeypatch.setattr(gtorch, "_FUSED_FORWARD", fused)
    gen = torch.Generator().manual_seed(11)
    xs, ts, vs = shapes
    x = uniform(xs, -2, 2, torch.float64, gen).requires_grad_()
    t = uniform(ts, -2, 2, torch.float64, gen).requires_grad_()
    v = 0.7 if vs is None else uniform(vs, 0.2, 2, torch.float64, gen).requires_grad_()

    def f(*a):
        return gtorch.gaussian_nll_loss(*a, full=full, reduction=reduction)

    inputs = (x, t, v)
    if vs is None:
        def f(a, b):  # noqa: F811 - float var
            return gtorch.gaussian_nll_loss(a, b, 0.7, full=full, reduction=reduction)

        inputs = (x, t)
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_double_backward_matches_torch():
    gen = torch.Generator().manual_seed(13)
    x0 = uniform((6, 4), -2, 2, torch.float64, gen)
    t0 = uniform((6, 4), -2, 2, torch.float64, gen)
    v0 = uniform((6, 1), 1e-8, 2, torch.float64, gen)  # some entries below eps
    v0[0] = 1e-9
    hess = []
    for fn in (gtorch.gaussian_nll_loss, F.gaussian_nll_loss):
        x, t, v = (a.clone().requires_grad_() for a in (x0, t0, v0))
        loss = fn(x, t, v, reduction="sum")
        gx, gv = torch.autograd.grad(loss, (x, v), create_graph=True)
        second = torch.autograd.grad(gx.square().sum() + gv.sum(), (x, t, v))
        hess.append((loss, gx, gv, *second))
    for a, b in zip(*hess):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


# ------------------------------------------------ autograd plumbing details
class Spy:
    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)


@pytest.fixture
def spies(monkeypatch):
    loss, lag = Spy(gtorch._np_loss), Spy(gtorch._np_loss_and_grad)
    monkeypatch.setattr(gtorch, "_np_loss", loss)
    monkeypatch.setattr(gtorch, "_np_loss_and_grad", lag)
    return loss, lag


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_copy_and_wrt(spies, reduction, dtype):
    loss_spy, lag_spy = spies
    x = torch.rand(8, 5, dtype=dtype, requires_grad=True)
    t = torch.rand(8, 5, dtype=dtype)
    v = (torch.rand(8, 1, dtype=dtype) + 0.1).requires_grad_()
    out = gtorch.gaussian_nll_loss(x, t, v, reduction=reduction)
    out.backward(torch.ones_like(out))
    calls = loss_spy.calls + lag_spy.calls
    assert calls
    for args, kwargs in calls:
        for a, tensor in zip(args[:3], (x, t, v)):
            assert isinstance(a, np.ndarray) and np.shares_memory(a, tensor.detach().numpy())
        assert kwargs["n_threads"] == torch.get_num_threads()
    assert len(lag_spy.calls) == 1
    assert lag_spy.calls[0][1]["wrt"] == ("input", "var")
    if reduction == "none":
        assert len(loss_spy.calls) == 1  # loss alone forward, gradients in backward
        assert lag_spy.calls[0][1]["grad_output"].shape == (8, 5)
    else:
        assert not loss_spy.calls  # one fused pass in forward


def test_parameter_var_uses_kernels(spies):
    """A learned homoscedastic nn.Parameter var is served by gnll."""
    loss_spy, lag_spy = spies
    x = torch.rand(16, 1, requires_grad=True)
    log_var = torch.nn.Parameter(torch.zeros(1, 1))
    var = torch.nn.Parameter(torch.full((1, 1), 0.5))
    for v in (var, log_var.exp()):
        out = gtorch.gaussian_nll_loss(x, x.detach() + 1, v)
        out.backward()
    assert len(lag_spy.calls) == 2
    expected = torch.autograd.grad(F.gaussian_nll_loss(x, x.detach() + 1, var), var)[0]
    torch.testing.assert_close(var.grad, expected)
    assert log_var.grad is not None


def test_no_grad_computes_loss_only(spies):
    loss_spy, lag_spy = spies
    x = torch.rand(4, 3, requires_grad=True)
    with torch.no_grad():
        out = gtorch.gaussian_nll_loss(x, x + 1, 0.5)
    assert out.grad_fn is None and not out.requires_grad
    out = gtorch.gaussian_nll_loss(x.detach(), x.detach() + 1, 0.5)
    assert out.grad_fn is None
    assert len(loss_spy.calls) == 2 and not lag_spy.calls
    with torch.inference_mode():
        torch.testing.assert_close(gtorch.gaussian_nll_loss(x, x + 1, 0.5), F.gaussian_nll_loss(x, x + 1, 0.5))


def test_set_num_threads_is_honoured(spies):
    loss_spy, _ = spies
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        gtorch.gaussian_nll_loss(torch.rand(10), torch.rand(10), 1.0)
    finally:
        torch.set_num_threads(old)
    assert loss_spy.calls[-1][1]["n_threads"] == 1


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "recompute"])
def test_retain_graph_and_accumulation(fused, monkeypatch):
    monkeypatch.setattr(gtorch, "_FUSED_FORWARD", fused)
    x0, t0, v0 = torch.rand(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64) + 0.1
    grads = []
    for fn in (gtorch.gaussian_nll_loss, F.gaussian_nll_loss):
        x, v = x0.clone().requires_grad_(), v0.clone().requires_grad_()
        loss = fn(x, t0, v)
        (3 * loss).backward(retain_graph=True)
        loss.backward(retain_graph=True)
        loss.backward()
        grads.append((x.grad, v.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_inplace_modification_between_forward_and_backward():
    x0 = torch.rand(5, 3, dtype=torch.float64)
    v0 = torch.rand(5, 3, dtype=torch.float64) + 0.1
    t = torch.rand(5, 3, dtype=torch.float64)
    # torch's backward uses its own copies: no error, gradients at the old values.
    x = x0.clone().requires_grad_()
    v = v0.clone()
    out = F.gaussian_nll_loss(x, t, v, reduction="none")
    v.add_(1.0)
    out.sum().backward()
    # gnll.torch reads the arguments again for "none": autograd's error (documented).
    x = x0.clone().requires_grad_()
    v = v0.clone()
    out = gtorch.gaussian_nll_loss(x, t, v, reduction="none")
    v.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    # "mean": the gradients of the loss that was returned (computed in forward).
    x = x0.clone().requires_grad_()
    v = v0.clone()
    out = gtorch.gaussian_nll_loss(x, t, v)
    v.add_(1.0)
    out.backward()
    expected = torch.autograd.grad(F.gaussian_nll_loss(x, t, v0), x)[0]
    torch.testing.assert_close(x.grad, expected)


def test_grad_output_scaling_and_nonscalar():
    x = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
    v = torch.rand(5, 1, dtype=torch.float64, requires_grad=True)
    w = torch.rand(5, 3, dtype=torch.float64)
    res = []
    for fn in (gtorch.gaussian_nll_loss, F.gaussian_nll_loss):
        a = torch.autograd.grad((fn(x, 0.0 * w, v, reduction="none") * w).sum(), (x, v))
        b = torch.autograd.grad(-0.25 * fn(x, w, v, reduction="sum"), (x, v))
        c = torch.autograd.grad(fn(x, w, v, reduction="none").sum(), (x, v))  # stride-0 grad_output
        d = torch.autograd.grad(fn(x, w, v, reduction="none")[1:, ::2].sum(), (x, v))
        res.append(a + b + c + d)
    for a, b in zip(*res):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------- fallbacks
@pytest.fixture
def no_gnll(monkeypatch):
    """Make any use of gnll's kernels fail, to prove that torch served a call."""

    def boom(*a, **k):
        raise AssertionError("gnll kernel used")

    monkeypatch.setattr(gtorch, "_np_loss", boom)
    monkeypatch.setattr(gtorch, "_np_loss_and_grad", boom)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fallback_low_precision(dtype, reduction, no_gnll):
    gen = torch.Generator().manual_seed(17)
    args = [uniform((5, 5), -9, 9, dtype, gen), uniform((5, 1), -9, 9, dtype, gen), uniform((5,), 0.1, 9, dtype, gen)]
    for flags in SUBSETS:
        ours = run(gtorch.gaussian_nll_loss, args, {"reduction": reduction}, flags)
        ref = run(F.gaussian_nll_loss, args, {"reduction": reduction}, flags)
        torch.testing.assert_close(ours[0], ref[0], rtol=0, atol=0)
        for a, b in zip(ours[1], ref[1]):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (torch.rand(4, 3), torch.rand(4, 3, dtype=torch.float64), torch.rand(4, 1) + 0.1),  # mixed dtypes
        lambda: (torch.rand(5, dtype=torch.float64), torch.rand(5), torch.tensor(0.5)),  # 0-d var, mixed
        lambda: (torch.arange(12).reshape(4, 3), torch.ones(4, 3, dtype=torch.int64), torch.rand(4, 1) + 0.1),  # integer input
        lambda: (torch.arange(12).reshape(4, 3), torch.ones(4, 3, dtype=torch.int64), 0.5),  # integer, float var
        lambda: (torch.rand(4, 3), 1.0, torch.rand(4, 3) + 0.1),  # Python float target
        lambda: (torch.rand(4, 3, dtype=torch.complex64), torch.rand(4, 3, dtype=torch.complex64), torch.rand(4, 3) + 0.1),
        lambda: (torch.rand(4, 3).to_sparse(), torch.rand(4, 3), 0.5),
    ],
    ids=["mixed", "0d-mixed", "int", "int-float-var", "float-target", "complex", "sparse"],
)
def test_fallback_other_inputs(make, no_gnll):
    args = make()
    ref, err_r = None, None
    try:
        ref = F.gaussian_nll_loss(*args, reduction="none")
    except Exception as e:  # noqa: BLE001
        err_r = e
    if err_r is not None:
        err = raised(gtorch.gaussian_nll_loss, *args, reduction="none")
        assert type(err) is type(err_r)
        return
    out = gtorch.gaussian_nll_loss(*args, reduction="none")
    assert out.dtype == ref.dtype
    torch.testing.assert_close(out, ref)


def test_fallback_meta_device(no_gnll):
    x = torch.empty(4, 3, device="meta", requires_grad=True)
    t = torch.empty(4, 3, device="meta")
    out = gtorch.gaussian_nll_loss(x, t, 0.5, reduction="none")
    ref = F.gaussian_nll_loss(x, t, 0.5, reduction="none")
    assert out.device.type == "meta" and out.shape == ref.shape and out.dtype == ref.dtype
    v = torch.empty(4, 3, device="meta")
    ref_err = raised(F.gaussian_nll_loss, x, t, v)
    ours_err = raised(gtorch.gaussian_nll_loss, x, t, v)
    assert type(ours_err) is type(ref_err) and str(ours_err) == str(ref_err)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fallback_cuda(no_gnll):
    x = torch.rand(4, 3, device="cuda", requires_grad=True)
    out = gtorch.gaussian_nll_loss(x, x.detach() * 2, torch.ones(4, 1, device="cuda"))
    out.backward()
    assert out.device.type == "cuda" and x.grad.device.type == "cuda"


def test_fallback_forward_ad(no_gnll):
    import torch.autograd.forward_ad as fwAD

    gen = torch.Generator().manual_seed(19)
    x, t, v = (uniform(s, 0.1, 2, torch.float64, gen) for s in ((4, 3), (4, 3), (4, 1)))
    tx, tv = torch.randn(4, 3, dtype=torch.float64, generator=gen), torch.randn(4, 1, dtype=torch.float64, generator=gen)
    res = []
    for fn in (gtorch.gaussian_nll_loss, F.gaussian_nll_loss):
        with fwAD.dual_level():
            out = fn(fwAD.make_dual(x, tx), t, fwAD.make_dual(v, tv), reduction="sum")
            res.append(fwAD.unpack_dual(out))
    torch.testing.assert_close(res[0].primal, res[1].primal)
    torch.testing.assert_close(res[0].tangent, res[1].tangent)


def test_fallback_torch_func(no_gnll):
    gen = torch.Generator().manual_seed(23)
    x, t, v = (uniform(s, 0.1, 2, torch.float64, gen) for s in ((3, 4, 2), (3, 4, 2), (3, 4, 1)))
    # (vmap fails inside torch's own function: its negative-var check is data-dependent.)
    ours = torch.func.grad(gtorch.gaussian_nll_loss, argnums=(0, 2))(x, t, v)
    ref = torch.func.grad(F.gaussian_nll_loss, argnums=(0, 2))(x, t, v)
    torch.testing.assert_close(ours, ref)
    _, jo = torch.func.jvp(lambda a: gtorch.gaussian_nll_loss(a, t, v), (x,), (t,))
    _, jr = torch.func.jvp(lambda a: F.gaussian_nll_loss(a, t, v), (x,), (t,))
    torch.testing.assert_close(jo, jr)


def test_fallback_torch_function_subclass(no_gnll):
    class Tagged(torch.Tensor):
        pass

    x = torch.rand(4, 3).as_subclass(Tagged)
    out = gtorch.gaussian_nll_loss(x, torch.rand(4, 3), 0.5)
    assert isinstance(out, Tagged)

    class Counting(torch.overrides.TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            Counting.calls += 1
            return func(*args, **(kwargs or {}))

    with Counting():
        out = gtorch.gaussian_nll_loss(torch.rand(4, 3), torch.rand(4, 3), torch.rand(4, 3))
    assert Counting.calls > 0


def test_fallback_torch_compile_eager_backend(no_gnll):
    """Under torch.compile tracing the torch path is traced (no C++ compiler needed)."""
    torch._dynamo.reset()
    fn = torch.compile(gtorch.gaussian_nll_loss, backend="eager")
    x = torch.rand(4, 3, requires_grad=True)
    t, v = torch.rand(4, 3), torch.rand(4, 1) + 0.1
    out = fn(x, t, v)
    out.backward()
    torch.testing.assert_close(out, F.gaussian_nll_loss(x, t, v))
    assert x.grad is not None


def test_torch_compile_inductor(no_gnll):
    """The default inductor backend traces torch's path (needs a C++ compiler; ~5 s)."""
    import shutil

    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("inductor needs a C++ compiler")
    torch._dynamo.reset()
    model = torch.nn.Linear(3, 2)
    loss_fn = gtorch.GaussianNLLLoss()

    def step(x, y):
        out = model(x)
        return loss_fn(out[:, :1], y, torch.nn.functional.softplus(out[:, 1:]) + 1e-3)

    x, y = torch.rand(16, 3), torch.rand(16, 1)
    out = model(x)
    expected = torch.nn.GaussianNLLLoss()(out[:, :1], y, torch.nn.functional.softplus(out[:, 1:]) + 1e-3)
    compiled = torch.compile(step)
    torch.testing.assert_close(compiled(x, y), expected)


# --------------------------------------------------------------- nn.Module
def test_module_basics():
    m = gtorch.GaussianNLLLoss()
    assert repr(m) == "GaussianNLLLoss(full=False, eps=1e-06, reduction='mean')"
    assert repr(gtorch.GaussianNLLLoss(full=True, eps=1e-3, reduction="none")) == (
        "GaussianNLLLoss(full=True, eps=0.001, reduction='none')"
    )
    assert m.state_dict() == {} and list(m.parameters()) == [] and list(m.buffers()) == []
    m.load_state_dict(torch.nn.GaussianNLLLoss().state_dict())
    m.load_state_dict({})
    assert isinstance(m, torch.nn.GaussianNLLLoss)
    with pytest.raises(TypeError):
        gtorch.GaussianNLLLoss(True)
    with pytest.raises(ValueError, match="abc is not valid"):
        gtorch.GaussianNLLLoss(reduction="abc")
    x, t, v = torch.rand(4, 3), torch.rand(4, 3), torch.rand(4, 1)
    for kw in ({}, {"full": True}, {"eps": 0.5, "reduction": "sum"}, {"reduction": "none"}):
        torch.testing.assert_close(gtorch.GaussianNLLLoss(**kw)(x, t, v), torch.nn.GaussianNLLLoss(**kw)(x, t, v))
    # Changing the attribute later is honoured and validated at call time.
    m.reduction = "abc"
    with pytest.raises(ValueError, match="abc is not valid"):
        m(x, t, v)


def test_module_pickles():
    import pickle

    m = pickle.loads(pickle.dumps(gtorch.GaussianNLLLoss(full=True, eps=1e-3)))
    assert (m.full, m.eps, m.reduction) == (True, 1e-3, "mean")


class TwoHeaded(torch.nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(d_in, 32), torch.nn.Tanh())
        self.mean = torch.nn.Linear(32, d_out)
        self.var = torch.nn.Sequential(torch.nn.Linear(32, d_out), torch.nn.Softplus())

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), self.var(h) + 1e-4


@pytest.mark.parametrize("var_kind", ["hetero", "homo"])
def test_training_loop_reduces_loss(var_kind):
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 256).unsqueeze(1)
    y = torch.sin(2 * x) + (0.1 + 0.2 * x.abs()) * torch.randn_like(x)
    model = TwoHeaded(1, 1)
    log_var = torch.nn.Parameter(torch.zeros(1))  # homoscedastic: one learned variance
    opt = torch.optim.Adam([*model.parameters(), log_var], lr=0.02)
    loss_fn = gtorch.GaussianNLLLoss()
    losses = []
    for _ in range(150):
        opt.zero_grad()
        mean, var = model(x)
        if var_kind == "homo":
            var = log_var.exp().expand(1, 1)
        loss = loss_fn(mean, y, var)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5
    # The same step with torch's loss gives the same gradients.
    opt.zero_grad()
    mean, var = model(x)
    if var_kind == "homo":
        var = log_var.exp().expand(1, 1)
    g1 = torch.autograd.grad(loss_fn(mean, y, var), list(model.parameters()), allow_unused=True)
    mean, var = model(x)
    if var_kind == "homo":
        var = log_var.exp().expand(1, 1)
    g2 = torch.autograd.grad(torch.nn.GaussianNLLLoss()(mean, y, var), list(model.parameters()), allow_unused=True)
    for a, b in zip(g1, g2):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# ---- the per-call path for same-shape contiguous tensors -------------------
# gnll.torch calls the kernel directly for the usual training call; it must
# give exactly what the general NumPy path gives (which the parity tests
# compare with torch), and torch's error for a negative var.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("flags", [f for f in SUBSETS if any(f)])
@pytest.mark.parametrize("shape", [(1,), (5, 1), (7, 3), (2, 3, 4), (40000,)])
def test_same_shape_path_equals_the_general_path(dtype, reduction, full, flags, shape):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, dtype=dtype, generator=gen)
    t = torch.randn(shape, dtype=dtype, generator=gen)
    v = uniform(shape, 0.0, 2.0, dtype, gen)
    v.view(-1)[0] = 0.0  # below eps: the clamp's straight-through gradient
    leaves = [a.clone().requires_grad_(f) for a, f in zip((x, t, v), flags)]
    loss = gtorch.gaussian_nll_loss(*leaves, full=full, reduction=reduction)
    loss.backward()
    wrt = tuple(n for n, f in zip(("input", "target", "var"), flags) if f)
    ref_loss, ref = gnll.gaussian_nll_loss_and_grad(
        x.numpy(), t.numpy(), v.numpy(), full=full, reduction=reduction, wrt=wrt)
    assert loss.item() == ref_loss
    for leaf, name in zip(leaves, ("input", "target", "var")):
        if leaf.requires_grad:
            np.testing.assert_array_equal(leaf.grad.numpy(), getattr(ref, name))


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_shape_path_reports_a_negative_var_as_torch_does(dtype):
    x = torch.zeros(4, 2, dtype=dtype, requires_grad=True)
    v = torch.ones(4, 2, dtype=dtype)
    v[2, 1] = -1.0
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        F.gaussian_nll_loss(x, torch.zeros(4, 2, dtype=dtype), v)
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        gtorch.gaussian_nll_loss(x, torch.zeros(4, 2, dtype=dtype), v)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nan_eps_gives_torchs_nan_results(dtype):
    results = []
    for fn in (F.gaussian_nll_loss, gtorch.gaussian_nll_loss):
        m = torch.zeros(3, dtype=dtype, requires_grad=True)
        v = torch.ones(3, dtype=dtype, requires_grad=True)
        loss = fn(m, torch.ones(3, dtype=dtype), v, eps=float("nan"))
        loss.backward()
        results.append((loss.detach(), m.grad, v.grad))
    for ours, theirs in zip(results[1], results[0]):
        torch.testing.assert_close(ours, theirs, equal_nan=True)
    with pytest.raises(ValueError, match="eps must not be NaN"):  # gnll's options
        gtorch.gaussian_nll_loss(torch.zeros(3, dtype=dtype), torch.ones(3, dtype=dtype),
                                 torch.ones(3, dtype=dtype), eps=float("nan"), beta=0.5)
