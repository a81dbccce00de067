"""The result-array cache (gnll.set_buffer_cache, gnll/_buffers.py).

What it promises: an array is reused only once nothing refers to it, so a
result the caller still holds -- directly, through a view, a memoryview or a
torch tensor -- never changes; reused memory gives the same values as fresh
memory; the cache's size is bounded; and it can be turned off.
"""
import gc
import threading
import time

import numpy as np
import pytest

import gnll
from gnll import _buffers

N = 300_000  # 2.4 MB in float64, 1.2 MB in float32: above the 64 KiB floor


def _address(a):
    return a.__array_interface__["data"][0]


def _data(seed, n=N, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype),
            rng.uniform(0.5, 2.0, size=n).astype(dtype))


def _reference_grads(x, t, v):
    """d/dinput and d/dvar of the mean loss, in float64."""
    x, t, v = (np.asarray(a, np.float64) for a in (x, t, v))
    r = x - t
    return r / v / x.size, 0.5 * (1.0 / v - r * r / (v * v)) / x.size


@pytest.fixture(autouse=True)
def fresh_cache():
    previous = gnll.set_buffer_cache(0)  # start empty
    gnll.set_buffer_cache(previous)
    yield
    gnll.set_buffer_cache(0)
    gnll.set_buffer_cache(previous)


def test_a_dropped_result_is_reused():
    x, t, v = _data(0)
    g = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    first = {_address(g.input), _address(g.var)}
    del g
    g = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    assert {_address(g.input), _address(g.var)} == first  # in either order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_memory_gives_the_values_of_fresh_memory(dtype):
    for seed in range(3):  # stale contents of the previous call must not leak
        x, t, v = _data(seed, dtype=dtype)
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v)
        gx, gv = _reference_grads(x, t, v)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g.input, gx, rtol=tol, atol=tol * np.abs(gx).max())
        np.testing.assert_allclose(g.var, gv, rtol=tol, atol=tol * np.abs(gv).max())
        del g


def _holders():
    return {
        "array": lambda a: a,
        "view": lambda a: a[::2],
        "reshaped": lambda a: a.reshape(-1, 100),
        "memoryview": memoryview,
        "frombuffer": lambda a: np.frombuffer(memoryview(a), dtype=a.dtype),
    }


@pytest.mark.parametrize("how", list(_holders()))
def test_a_result_still_referenced_is_never_reused(how):
    x, t, v = _data(1)
    g = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    held = _holders()[how](g.input)
    expected = np.array(held, copy=True)
    address = _address(g.input)
    del g
    gc.collect()
    x2, t2, v2 = _data(2)
    g2 = gnll.gaussian_nll_loss_and_grad(x2, t2, v2)[1]
    assert _address(g2.input) != address
    np.testing.assert_array_equal(np.asarray(held), expected)


def test_a_torch_tensor_sharing_a_result_blocks_reuse():
    torch = pytest.importorskip("torch")
    x, t, v = _data(3)
    g = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    tensor = torch.from_numpy(g.var)
    expected = tensor.clone()
    address = _address(g.var)
    del g
    g2 = gnll.gaussian_nll_loss_and_grad(*_data(4))[1]
    assert _address(g2.var) != address
    assert torch.equal(tensor, expected)


def test_the_loss_per_element_and_curvature_come_from_the_cache_too():
    x, t, v = _data(5)
    loss = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    address = _address(loss)
    del loss
    again = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    assert _address(again) == address
    expected = 0.5 * (np.log(v) + (x - t) ** 2 / v)
    np.testing.assert_allclose(again, expected, rtol=1e-13, atol=1e-15)
    del again
    c = gnll.gaussian_nll_curvature(x, t, v, reduction="none")
    np.testing.assert_allclose(np.asarray(c[0]), 1.0 / v, rtol=1e-13)


def test_small_results_bypass_the_cache():
    x, t, v = _data(6, n=1000)
    gnll.gaussian_nll_loss_and_grad(x, t, v)
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] == 0


def test_mid_size_results_use_the_cache():
    # 80 kB arrays: a loop of calls that allocated them afresh made glibc
    # return its heap top to the system and fault the pages in again
    x, t, v = _data(8, n=10_000)
    g = gnll.gaussian_nll_loss_and_grad(x, t, v, reduction="none")
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] == 4 * x.nbytes
    del g


def test_off_means_new_memory_every_call_and_frees_the_cache():
    x, t, v = _data(7)
    g = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    del g
    # d/dinput, d/dtarget and d/dvar
    assert gnll.show_config(mode="dicts")["buffers"]["idle_bytes"] == 3 * x.nbytes
    previous = gnll.set_buffer_cache(0)
    assert previous == 512 << 20
    info = gnll.show_config(mode="dicts")["buffers"]
    assert info == {"max_bytes": 0, "held_bytes": 0, "idle_bytes": 0}
    keep = gnll.gaussian_nll_loss_and_grad(x, t, v)[1]
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] == 0


def test_the_cache_is_bounded_in_bytes_and_entries():
    x, t, v = _data(8)
    gnll.set_buffer_cache(5 * x.nbytes // 2)  # room for two arrays, not three
    held = [gnll.gaussian_nll_loss_and_grad(x, t, v, wrt=("input", "var"))[1]
            for _ in range(3)]
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] <= 5 * x.nbytes // 2
    del held
    gnll.set_buffer_cache(1 << 40)
    held = [gnll.gaussian_nll_loss_and_grad(x, t, v)[1] for _ in range(10)]
    assert len(_buffers._entries) == _buffers.MAX_ENTRIES
    # forgetting an entry leaves the caller's array alone
    for g in held:
        gx, gv = _reference_grads(x, t, v)
        np.testing.assert_allclose(g.input, gx, rtol=1e-12)
    del held, g
    info = gnll.show_config(mode="dicts")["buffers"]
    assert info["idle_bytes"] == info["held_bytes"] == _buffers.MAX_ENTRIES * x.nbytes


def test_lowering_the_limit_frees_at_once():
    x, t, v = _data(9)
    gnll.gaussian_nll_loss_and_grad(x, t, v)
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] == 3 * x.nbytes
    gnll.set_buffer_cache(x.nbytes)
    assert gnll.show_config(mode="dicts")["buffers"]["held_bytes"] <= x.nbytes


@pytest.mark.parametrize("bad", [-1, 1.5, "1", None, True, np.float64(3.0)])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match="max_bytes must be a non-negative integer"):
        gnll.set_buffer_cache(bad)
    assert gnll.set_buffer_cache(512 << 20) == 512 << 20  # unchanged


def test_concurrent_callers_never_share_a_result():
    datasets = [_data(20 + k) for k in range(4)]
    expected = [_reference_grads(*d) for d in datasets]
    errors = []

    def work(k):
        try:
            for _ in range(15):
                g = gnll.gaussian_nll_loss_and_grad(*datasets[k], n_threads=1)[1]
                np.testing.assert_allclose(g.input, expected[k][0], rtol=1e-12)
                np.testing.assert_allclose(g.var, expected[k][1], rtol=1e-12,
                                           atol=1e-12 * np.abs(expected[k][1]).max())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_a_call_from_a_finaliser_during_a_cache_edit_does_not_hang():
    """The garbage collector may run a __del__ that calls gnll while the
    cache's lock is held by the same thread: that call gets fresh memory."""
    x, t, v = _data(30)
    expected = gnll.gaussian_nll_loss(x, t, v, reduction="none")
    seen = []

    class CallsGnll:
        def __del__(self):
            seen.append(gnll.gaussian_nll_loss(x, t, v, reduction="none"))

    _buffers._lock.acquire()  # as if this thread were inside take()
    try:
        obj = CallsGnll()
        obj.cycle = obj
        del obj
        gc.collect()  # runs __del__ here, with the lock held
    finally:
        _buffers._lock.release()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], expected)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_can_use_the_cache_although_the_parent_held_its_lock():
    import os

    x, t, v = _data(31)
    _buffers._lock.acquire()  # as if another thread were inside take()
    try:
        pid = os.fork()
        if pid == 0:  # the child: set_buffer_cache must not wait forever
            try:
                gnll.set_buffer_cache(1 << 30)
                gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=1)
                os._exit(0)
            except BaseException:
                os._exit(1)
    finally:
        _buffers._lock.release()
    deadline = time.monotonic() + 60
    while True:  # a child stuck on the lock fails the test instead of hanging it
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the cache's lock")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
