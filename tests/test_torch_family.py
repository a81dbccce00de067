"""Tests for the loss-family options of gnll.torch (skipped without torch).

``log_var=``, ``std=``, ``beta=``, ``weight=`` and ``clamp_grad=`` on
:func:`gnll.torch.gaussian_nll_loss` and :class:`gnll.torch.GaussianNLLLoss`:
the fast path (gnll's kernels), the fallback (a torch expression) and gnll's
NumPy API must give the same values, gradients and errors.
"""

import itertools
import pickle

import numpy as np
import pytest

import gnll

torch = pytest.importorskip("torch")
F = torch.nn.functional
gtorch = pytest.importorskip("gnll.torch")

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning")

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["none", "mean", "sum"]
EPS = 1e-2  # large enough that every case has clamped entries

# (input shape, variance-parameter shape, target shape, weight shape)
SHAPES = {
    "full": ((4, 3), (4, 3), (4, 3), (4, 3)),
    "rows": ((4, 3), (4, 1), (4, 3), (4, 1)),
    "per_row_1d": ((4, 3), (4,), (3,), (3,)),
    "scalar_0d": ((2, 3, 2), (), (2, 3, 2), (1, 3, 1)),
    "python_float": ((5, 2), None, (5, 2), ()),
    "size1_dims": ((2, 3, 2, 2), (2, 3, 1, 1), (2, 3, 2, 2), (2, 3, 2, 2)),
}

# name of the variance parameter and the options
OPTIONS = {
    "log_var": ("log_var", {}),
    "std": ("std", {}),
    "var_beta": ("var", {"beta": 0.5}),
    "var_weight": ("var", {"weight": True}),
    "var_zero": ("var", {"clamp_grad": "zero"}),
    "var_full_beta1": ("var", {"beta": 1.0, "full": True}),
    "log_var_beta_weight": ("log_var", {"beta": 0.5, "weight": True}),
    "log_var_zero_full": ("log_var", {"clamp_grad": "zero", "full": True}),
    "std_zero_beta_weight": ("std", {"beta": 0.75, "weight": True, "clamp_grad": "zero"}),
}


def tol(dtype):
    if dtype == torch.float64:
        return dict(rtol=1e-10, atol=1e-12)
    return dict(rtol=3e-5, atol=3e-5)


def make_case(shape_id, name, dtype, seed, with_weight):
    """input, target, variance parameter, weight (or None)."""
    xs, ps, ts, ws = SHAPES[shape_id]
    gen = torch.Generator().manual_seed(seed)

    def u(shape, lo, hi):
        return (torch.rand(shape, dtype=torch.float64, generator=gen) * (hi - lo) + lo).to(dtype)

    x, t = u(xs, -2, 2), u(ts, -2, 2)
    lo, hi = {"var": (0.0, 2.0), "std": (0.0, 1.5), "log_var": (-7.0, 1.5)}[name]
    if ps is None:
        p = 0.005 if name != "log_var" else -5.0  # clamped: eps is 1e-2
    else:
        p = u(ps, lo, hi)
        if p.numel() > 1:
            p.view(-1)[0] = 0.0 if name != "log_var" else -20.0  # clamped
            p.view(-1)[-1] = 1.0
    w = u(ws, 0.0, 2.0) if with_weight else None
    if w is not None and w.numel() > 1:
        w.view(-1)[0] = 0.0
    return x, t, p, w


def grads_of(loss, args, grad_out):
    wanted = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    got = iter(torch.autograd.grad(loss, wanted, grad_out)) if wanted else iter(())
    return [next(got) if isinstance(a, torch.Tensor) and a.requires_grad else None for a in args]


def call(fn, x, t, p, w, name, opts, reduction, flags, grad_out=None):
    """Loss and gradients (input, target, parameter) through ``fn``."""
    args = []
    for a, f in zip((x, t, p), flags):
        if isinstance(a, torch.Tensor):
            a = a.detach().clone().requires_grad_(f)
        args.append(a)
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if w is not None:
        kw["weight"] = w
    loss = fn(args[0], args[1], reduction=reduction, eps=EPS, **{name: args[2]}, **kw)
    g = torch.ones_like(loss) if grad_out is None else grad_out
    return loss, grads_of(loss, args, g)


def numpy_reference(x, t, p, w, name, opts, reduction, grad_out):
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if w is not None:
        kw["weight"] = w.numpy()
    pv = p.numpy() if isinstance(p, torch.Tensor) else p
    loss, g = gnll.gaussian_nll_loss_and_grad(
        x.numpy(), t.numpy(), reduction=reduction, eps=EPS,
        grad_output=grad_out.numpy(), **{name: pv}, **kw)
    return torch.from_numpy(np.asarray(loss)), [
        None if a is None else torch.from_numpy(np.asarray(a)) for a in g
    ]


@pytest.fixture
def counting(monkeypatch):
    """Count the calls of gnll's kernels made by gnll.torch."""
    calls = {"n": 0}
    loss, lag = gtorch._np_loss, gtorch._np_loss_and_grad

    def c_loss(*a, **k):
        calls["n"] += 1
        return loss(*a, **k)

    def c_lag(*a, **k):
        calls["n"] += 1
        return lag(*a, **k)

    monkeypatch.setattr(gtorch, "_np_loss", c_loss)
    monkeypatch.setattr(gtorch, "_np_loss_and_grad", c_lag)
    return calls


def forced_fallback(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("gnll kernel used")

    monkeypatch.setattr(gtorch, "_fast_path_ok", lambda *a: False)
    monkeypatch.setattr(gtorch, "_np_loss", boom)
    monkeypatch.setattr(gtorch, "_np_loss_and_grad", boom)


def assert_close(a, b, dtype):
    assert (a is None) == (b is None)
    if a is not None:
        assert a.dtype == b.dtype and a.shape == b.shape, (a, b)
        torch.testing.assert_close(a, b, equal_nan=True, **tol(dtype))


# ------------------------------------------------- fast == fallback == NumPy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("shape_id", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fast_fallback_numpy_agree(dtype, shape_id, option, reduction, counting, monkeypatch):
    name, opts = OPTIONS[option]
    seed = hash((shape_id, option, reduction)) % 2**31
    x, t, p, w = make_case(shape_id, name, dtype, seed, opts.get("weight", False))
    flags = (True, True, isinstance(p, torch.Tensor))
    gen = torch.Generator().manual_seed(seed + 1)
    fast = call(gtorch.gaussian_nll_loss, x, t, p, w, name, opts, reduction, flags)
    assert counting["n"] >= 1  # served by gnll's kernels
    grad_out = torch.ones_like(fast[0])
    if reduction == "none":  # a non-trivial upstream gradient, too
        grad_out = torch.rand(fast[0].shape, dtype=dtype, generator=gen)
        fast = call(gtorch.gaussian_nll_loss, x, t, p, w, name, opts, reduction, flags, grad_out)
    ref = numpy_reference(x, t, p, w, name, opts, reduction, grad_out)
    assert_close(fast[0], ref[0], dtype)
    for a, b in zip(fast[1], ref[1]):
        if a is not None:
            assert_close(a, b, dtype)
    forced_fallback(monkeypatch)
    slow = call(gtorch.gaussian_nll_loss, x, t, p, w, name, opts, reduction, flags, grad_out)
    assert_close(fast[0], slow[0], dtype)
    for a, b in zip(fast[1], slow[1]):
        assert_close(a, b, dtype)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)))
@pytest.mark.parametrize("option", ["log_var_beta_weight", "std_zero_beta_weight", "var_zero"])
def test_requires_grad_subsets(option, flags, fused, monkeypatch):
    monkeypatch.setattr(gtorch, "_FUSED_FORWARD", fused)
    name, opts = OPTIONS[option]
    x, t, p, w = make_case("rows", name, torch.float64, 5, opts.get("weight", False))
    for reduction in REDUCTIONS:
        ours = call(gtorch.gaussian_nll_loss, x, t, p, w, name, opts, reduction, flags)
        ref = call(
            lambda *a, **k: gtorch._torch_loss_ext(
                a[0], a[1], k.pop(name), name, k.pop("full", False), k.pop("eps"),
                k.pop("reduction"), k.pop("beta", 0.0), k.pop("weight", None),
                k.pop("clamp_grad", "straight_through") == "zero"),
            x, t, p, w, name, opts, reduction, flags)
        assert_close(ours[0].detach(), ref[0].detach(), torch.float64)
        for a, b in zip(ours[1], ref[1]):
            assert_close(a, b, torch.float64)


def test_clamped_entries_gradients():
    """Straight-through vs zero at the clamp, for each parameterisation."""
    x = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)
    t = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    cases = {  # below eps, at eps (0.01), above
        "var": [0.0, 0.01, 0.5],
        "std": [0.0, 0.05, 0.5],
        "log_var": [-9.0, float(np.log(0.01)), -0.5],
    }
    for name, p in cases.items():
        p = torch.tensor(p, dtype=torch.float64)
        grads = {}
        for mode in ("straight_through", "zero"):
            q = p.clone().requires_grad_()
            gtorch.gaussian_nll_loss(x, t, eps=0.01, clamp_grad=mode, reduction="sum",
                                     **{name: q}).backward()
            grads[mode] = q.grad
        assert torch.all(grads["zero"][:2] == 0)
        assert grads["zero"][2] == grads["straight_through"][2] != 0
        if name != "std":  # d/dstd at std=0 is 0 even straight-through
            assert torch.all(grads["straight_through"][:2] != 0)
        else:
            assert grads["straight_through"][1] != 0


@pytest.mark.parametrize("name", ["var", "log_var", "std"])
def test_beta_scales_gradients_by_stopgrad_variance(name):
    """β-NLL: every gradient is the plain one times the constant v**beta."""
    gen = torch.Generator().manual_seed(6)
    x, t = torch.randn(5, 3, dtype=torch.float64, generator=gen), torch.randn(5, 3, dtype=torch.float64, generator=gen)
    p = torch.rand(5, 3, dtype=torch.float64, generator=gen) + 0.3
    v = {"var": p, "std": p * p, "log_var": p.exp()}[name]
    grads = []
    for beta in (0.0, 0.7):
        a, c = x.clone().requires_grad_(), p.clone().requires_grad_()
        loss = gtorch.gaussian_nll_loss(a, t, reduction="none", beta=beta, **{name: c})
        grads.append(torch.autograd.grad(loss.sum(), (a, c)))
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g1, g0 * v ** 0.7)


# ------------------------------------------------------------------ gradcheck
GRADCHECK = {
    "log_var": ("log_var", {}),
    "std": ("std", {}),
    "beta": ("var", {"beta": 0.5}),
    "weight": ("var", {"weight": True}),
    "zero": ("var", {"clamp_grad": "zero"}),
    "log_var_all": ("log_var", {"beta": 1.0, "weight": True, "clamp_grad": "zero", "full": True}),
    "std_all": ("std", {"beta": 0.5, "weight": True, "clamp_grad": "zero"}),
}


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("vshape", [(3, 4), (3, 1), ()], ids=str)
@pytest.mark.parametrize("option", sorted(GRADCHECK))
def test_gradcheck_fast_path(option, vshape, reduction, fused, monkeypatch, counting):
    monkeypatch.setattr(gtorch, "_FUSED_FORWARD", fused)
    name, opts = GRADCHECK[option]
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    t = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    # away from the clamp: the loss is smooth there
    p = torch.rand(vshape, dtype=torch.float64, generator=gen) + 0.5
    if name == "log_var":
        p = p - 1.0
    # The β factor is not differentiated (stop-gradient), so the variance
    # parameter's gradient is not the loss's derivative: checked separately
    # (test_beta_scales_gradients_by_stopgrad_variance).
    p.requires_grad_(not opts.get("beta"))
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if opts.get("weight"):
        kw["weight"] = torch.rand(3, 4, dtype=torch.float64, generator=gen)

    def f(a, b, c):
        return gtorch.gaussian_nll_loss(a, b, reduction=reduction, eps=1e-3, **{name: c}, **kw)

    assert torch.autograd.gradcheck(f, (x, t, p))
    assert counting["n"] > 0
    if reduction == "mean" and not fused:
        # double backward (torch expressions recorded on the graph)
        assert torch.autograd.gradgradcheck(f, (x, t, p))


def test_double_backward_matches_fallback(monkeypatch):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    t = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    s = torch.randn(4, 1, dtype=torch.float64, generator=gen)
    w = torch.rand(4, 3, dtype=torch.float64, generator=gen)

    def second(fn):
        a, c = x.clone().requires_grad_(), s.clone().requires_grad_()
        loss = fn(a, t, log_var=c, beta=0.5, weight=w)
        ga, gc = torch.autograd.grad(loss, (a, c), create_graph=True)
        return torch.autograd.grad(ga.sum() + gc.sum(), (a, c))

    ours = second(gtorch.gaussian_nll_loss)
    forced_fallback(monkeypatch)
    ref = second(gtorch.gaussian_nll_loss)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------- module
def test_module_repr_and_call():
    m = gtorch.GaussianNLLLoss()
    assert repr(m) == "GaussianNLLLoss(full=False, eps=1e-06, reduction='mean')"
    m = gtorch.GaussianNLLLoss(beta=0.5)
    assert repr(m) == "GaussianNLLLoss(full=False, eps=1e-06, reduction='mean', beta=0.5)"
    m = gtorch.GaussianNLLLoss(full=True, reduction="sum", clamp_grad="zero")
    assert repr(m) == (
        "GaussianNLLLoss(full=True, eps=1e-06, reduction='sum', clamp_grad='zero')"
    )
    m = gtorch.GaussianNLLLoss(beta=1, clamp_grad="zero", eps=0.1)
    assert repr(m).endswith("beta=1.0, clamp_grad='zero')")
    assert m.state_dict() == {}
    m2 = pickle.loads(pickle.dumps(m))
    assert repr(m2) == repr(m)
    gen = torch.Generator().manual_seed(2)
    x, t = torch.randn(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    std = torch.rand(5, 1, generator=gen) + 0.1
    w = torch.rand(5, 1, generator=gen)
    got = m2(x, t, std=std, weight=w)
    ref = gnll.gaussian_nll_loss(x.numpy(), t.numpy(), std=std.numpy(), weight=w.numpy(),
                                 eps=0.1, beta=1.0, clamp_grad="zero")
    torch.testing.assert_close(got, torch.tensor(ref))
    # positional var still works, as torch's module
    torch.testing.assert_close(gtorch.GaussianNLLLoss()(x, t, std * std),
                               F.gaussian_nll_loss(x, t, std * std))


def test_module_training_with_log_var():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = gtorch.GaussianNLLLoss(beta=0.5)
    x = torch.randn(256, 3, dtype=torch.float64)
    y = x[:, :1] * 2.0 + 0.1 * torch.randn(256, 1, dtype=torch.float64)
    losses = []
    for _ in range(60):
        out = net(x)
        loss = loss_fn(out[:, :1], y, log_var=out[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------- errors
def outcome(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError) as e:
        return type(e), str(e)
    return None


ERROR_CASES = {
    "two_params": dict(var="v", log_var="v"),
    "three_params": dict(var="v", log_var="v", std="v"),
    "no_param": dict(),
    "negative_std": dict(std="neg"),
    "negative_var_with_beta": dict(var="neg", beta=0.5),
    "bad_clamp_grad": dict(var="v", clamp_grad="mlx"),
    "clamp_grad_none": dict(var="v", clamp_grad=None),
    "beta_inf": dict(var="v", beta=float("inf")),
    "beta_str": dict(var="v", beta="0.5"),
    "weight_negative": dict(var="v", weight="neg"),
    "weight_nan": dict(var="v", weight="nan"),
    "weight_shape": dict(var="v", weight="badshape"),
    "log_var_shape": dict(log_var="badshape"),
    "std_bad_reduction": dict(std="v", reduction="avg"),
    "target_shape": dict(std="v", target="badshape"),
}


@pytest.mark.parametrize("fallback", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors_as_numpy_api(case, dtype, fallback, monkeypatch):
    spec = dict(ERROR_CASES[case])
    values = {
        "v": np.full((3, 2), 0.5), "neg": np.array([[0.5, -1.0]] * 3),
        "nan": np.array([[1.0, np.nan]] * 3), "badshape": np.ones((2, 2)),
    }
    x, t = np.zeros((3, 2)), np.ones((3, 2))
    if spec.get("target") == "badshape":
        t = np.ones((2, 2))
    spec.pop("target", None)
    np_kw, t_kw = {}, {}
    for k, v in spec.items():
        if isinstance(v, str) and v in values:
            np_kw[k] = values[v]
            t_kw[k] = torch.tensor(values[v], dtype=dtype)
        else:
            np_kw[k] = t_kw[k] = v
    expected = outcome(gnll.gaussian_nll_loss, x, t, **np_kw)
    assert expected is not None
    if fallback:
        forced_fallback(monkeypatch)
    xt, tt = torch.tensor(x, dtype=dtype), torch.tensor(t, dtype=dtype)
    assert outcome(gtorch.gaussian_nll_loss, xt, tt, **t_kw) == expected
    # with gradients wanted, too
    xt.requires_grad_()
    assert outcome(gtorch.gaussian_nll_loss, xt, tt, **t_kw) == expected


@pytest.mark.parametrize("kw, exc", [
    (dict(clamp_grad="mlx"), ValueError),
    (dict(beta=float("nan")), ValueError),
    (dict(beta="1"), TypeError),
    (dict(reduction="avg"), ValueError),
])
def test_module_errors_at_construction(kw, exc):
    with pytest.raises(exc) as ours:
        gtorch.GaussianNLLLoss(**kw)
    with pytest.raises(exc) as ref:
        gnll.GaussianNLLLoss(**kw)
    if "reduction" not in kw:  # (torch's reduction message, kept by the bridge)
        assert str(ours.value) == str(ref.value)


def test_weight_requires_grad_is_an_error():
    x, t, v = torch.zeros(3), torch.ones(3), torch.ones(3)
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="weight requires grad.*weight.detach"):
        gtorch.gaussian_nll_loss(x, t, v, weight=w)
    with pytest.raises(ValueError, match="weight requires grad"):
        gtorch.gaussian_nll_loss(x.half(), t.half(), v.half(), weight=w)
    with torch.no_grad():  # no graph is recorded: harmless
        assert gtorch.gaussian_nll_loss(x, t, v, weight=w).item() == 0.5
    assert gtorch.gaussian_nll_loss(x, t, v, weight=w.detach()).item() == 0.5


# ------------------------------------------------------ defaults and inputs
def test_explicit_defaults_are_torch():
    gen = torch.Generator().manual_seed(4)
    x, t = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    v = torch.rand(4, 1, generator=gen).requires_grad_()
    for beta in (0.0, 0, -0.0):
        ours = gtorch.gaussian_nll_loss(x, t, v, beta=beta, clamp_grad="straight_through",
                                        weight=None, log_var=None, std=None)
        ref = F.gaussian_nll_loss(x, t, v)
        torch.testing.assert_close(ours, ref)
        g1, = torch.autograd.grad(ours, v)
        g2, = torch.autograd.grad(ref, v)
        torch.testing.assert_close(g1, g2)


def test_weight_dtypes_and_non_tensors():
    x = torch.zeros(2, 3, dtype=torch.float32)
    t = torch.ones(2, 3, dtype=torch.float32)
    ref = gnll.gaussian_nll_loss(x.numpy(), t.numpy(), 1.0, weight=np.array([1.0, 2.0, 0.0]))
    for w in ([1, 2, 0], torch.tensor([1, 2, 0]), torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64),
              np.array([1.0, 2.0, 0.0])):
        got = gtorch.gaussian_nll_loss(x, t, 1.0, weight=w)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, torch.tensor(ref))


def test_all_zero_weights_mean_is_nan():
    x, t = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for fn in (lambda: gtorch.gaussian_nll_loss(x, t, 1.0, weight=torch.zeros(3, dtype=torch.float64)),
               lambda: gtorch._torch_loss_ext(x, t, 1.0, "var", False, 1e-6, "mean", 0.0,
                                              torch.zeros(3, dtype=torch.float64), False)):
        assert torch.isnan(fn())


def test_int_and_numpy_scalar_parameters():
    x, t = torch.zeros(2, 2, dtype=torch.float32), torch.ones(2, 2, dtype=torch.float32)
    for std in (2, 2.0, np.float64(2.0)):
        got = gtorch.gaussian_nll_loss(x, t, std=std)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, gtorch.gaussian_nll_loss(x, t, 4.0))
    got = gtorch.gaussian_nll_loss(x, t, log_var=0)
    torch.testing.assert_close(got, torch.tensor(0.5))


def test_no_grad_computes_loss_only(monkeypatch):
    seen = []
    lag = gtorch._np_loss_and_grad
    monkeypatch.setattr(gtorch, "_np_loss_and_grad",
                        lambda *a, **k: seen.append(1) or lag(*a, **k))
    s = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        out = gtorch.gaussian_nll_loss(torch.zeros(3), torch.ones(3), log_var=s, beta=0.5)
    assert not out.requires_grad and not seen
    assert out.item() == 0.5


# ---------------------------------------------------------------- fallbacks
def test_fallback_float16_close_to_float32():
    gen = torch.Generator().manual_seed(8)
    x, t = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    s = torch.randn(6, 1, generator=gen)
    w = torch.rand(6, 4, generator=gen)
    for reduction in REDUCTIONS:
        ref = gtorch.gaussian_nll_loss(x, t, log_var=s, beta=0.5, weight=w, reduction=reduction)
        got = gtorch.gaussian_nll_loss(x.half(), t.half(), log_var=s.half(), beta=0.5,
                                       weight=w.half(), reduction=reduction)
        assert got.dtype == torch.float16
        torch.testing.assert_close(got.float(), ref, rtol=1e-2, atol=1e-2)


def test_fallback_forward_ad_matches_backward():
    import torch.autograd.forward_ad as fwAD

    gen = torch.Generator().manual_seed(9)
    x, t = torch.randn(4, 3, dtype=torch.float64, generator=gen), torch.randn(4, 3, dtype=torch.float64, generator=gen)
    std = torch.rand(4, 1, dtype=torch.float64, generator=gen) + 0.2
    w = torch.rand(4, 3, dtype=torch.float64, generator=gen)
    tx, ts = torch.randn_like(x), torch.randn_like(std)
    kw = dict(beta=0.5, weight=w, clamp_grad="zero", reduction="sum")
    with fwAD.dual_level():
        out = gtorch.gaussian_nll_loss(fwAD.make_dual(x, tx), t, std=fwAD.make_dual(std, ts), **kw)
        primal, tangent = fwAD.unpack_dual(out)
    a, c = x.clone().requires_grad_(), std.clone().requires_grad_()
    loss = gtorch.gaussian_nll_loss(a, t, std=c, **kw)
    ga, gc = torch.autograd.grad(loss, (a, c))
    torch.testing.assert_close(primal, loss.detach())
    torch.testing.assert_close(tangent, (ga * tx).sum() + (gc * ts).sum())


def test_fallback_torch_func_grad():
    gen = torch.Generator().manual_seed(10)
    x, t = torch.randn(3, 4, dtype=torch.float64, generator=gen), torch.randn(3, 4, dtype=torch.float64, generator=gen)
    s = torch.randn(3, 1, dtype=torch.float64, generator=gen)

    def f(a, c):
        return gtorch.gaussian_nll_loss(a, t, log_var=c, beta=0.5)

    ours = torch.func.grad(f, argnums=(0, 1))(x, s)
    a, c = x.clone().requires_grad_(), s.clone().requires_grad_()
    ref = torch.autograd.grad(f(a, c), (a, c))
    torch.testing.assert_close(ours, ref)


def test_fallback_meta_device():
    out = gtorch.gaussian_nll_loss(torch.zeros(4, 3, device="meta"), torch.zeros(4, 3, device="meta"),
                                   log_var=torch.zeros(4, 1, device="meta"), reduction="none")
    assert out.shape == (4, 3) and out.device.type == "meta"


def test_import_gnll_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, gnll; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fallback_torch_compile_eager_backend(monkeypatch):
    """Under torch.compile the options are traced as torch expressions."""
    x = torch.rand(4, 3, dtype=torch.float64)
    t = torch.rand(4, 3, dtype=torch.float64)
    s = torch.rand(4, 1, dtype=torch.float64) - 0.5
    w = torch.rand(4, 3, dtype=torch.float64)
    kw = dict(beta=0.5, weight=w, clamp_grad="zero")

    def grads(fn):
        a, c = x.clone().requires_grad_(), s.clone().requires_grad_()
        out = fn(a, t, log_var=c, **kw)
        return (out, *torch.autograd.grad(out, (a, c)))

    ref = grads(gtorch.gaussian_nll_loss)

    def boom(*a, **k):
        raise AssertionError("gnll kernel used")

    monkeypatch.setattr(gtorch, "_np_loss", boom)
    monkeypatch.setattr(gtorch, "_np_loss_and_grad", boom)
    torch._dynamo.reset()
    got = grads(torch.compile(gtorch.gaussian_nll_loss, backend="eager"))
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b)


def test_non_tensor_input_with_options_is_a_clear_error():
    with pytest.raises(TypeError):
        gtorch.gaussian_nll_loss([0.0, 1.0], torch.ones(2), log_var=torch.zeros(2),
                                 weight=[1.0, 1.0])


def test_weight_modified_in_place_before_backward():
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    w = torch.ones(3, dtype=torch.float64)
    loss = gtorch.gaussian_nll_loss(x, torch.ones(3, dtype=torch.float64), 1.0, weight=w,
                                    reduction="none")
    w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.sum().backward()
