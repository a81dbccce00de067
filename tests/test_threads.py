"""Threads: determinism across thread counts, threadpoolctl, concurrency, OpenMP build."""

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gnll
from reference import assert_grads_match, assert_loss_matches

N_BIG = 1_000_003  # spans many fixed-size chunks, with a ragged last chunk
THREAD_COUNTS = (1, 2, 3, 4, 8)


def _openmp_section():
    config = gnll.show_config(mode="dicts")
    assert isinstance(config, dict)
    omp = config.get("openmp")
    assert isinstance(omp, dict), f"show_config(mode='dicts') has no 'openmp' dict: {config}"
    return omp


@pytest.fixture(scope="module")
def big_data():
    rng = np.random.default_rng(12345)
    x = rng.normal(size=N_BIG)
    t = rng.normal(size=N_BIG)
    v = rng.uniform(0.05, 3.0, size=N_BIG)
    return x, t, v


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions_bitwise_identical_across_thread_counts(big_data, dtype, reduction):
    x, t, v = (a.astype(dtype) for a in big_data)
    results = {k: gnll.gaussian_nll_loss(x, t, v, reduction=reduction, n_threads=k)
               for k in THREAD_COUNTS}
    results["default"] = gnll.gaussian_nll_loss(x, t, v, reduction=reduction)
    results["repeat"] = gnll.gaussian_nll_loss(x, t, v, reduction=reduction, n_threads=4)
    bits = {k: np.asarray(r).tobytes() for k, r in results.items()}
    assert len(set(bits.values())) == 1, results
    assert_loss_matches(results[1], x, t, v, reduction=reduction, dtype=dtype)


@pytest.mark.parametrize("var_kind", ["same", "Nx1", "scalar"])
def test_gradients_and_none_identical_across_thread_counts(big_data, var_kind):
    x, t, v = big_data
    # strided (1000, 999) views spanning many chunks
    x, t = x[:10**6].reshape(1000, 1000)[:, :999], t[:10**6].reshape(1000, 1000)[:, :999]
    v = {"same": v[: x.size].reshape(x.shape), "Nx1": v[:1000, None], "scalar": 0.7}[var_kind]
    ref_loss, ref_g = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=1)
    ref_none = gnll.gaussian_nll_loss(x, t, v, reduction="none", n_threads=1)
    for k in THREAD_COUNTS[1:]:
        loss, g = gnll.gaussian_nll_loss_and_grad(x, t, v, n_threads=k)
        assert np.asarray(loss).tobytes() == np.asarray(ref_loss).tobytes()
        for a, b in zip(g, ref_g):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(
            gnll.gaussian_nll_loss(x, t, v, reduction="none", n_threads=k), ref_none)
    assert_grads_match(ref_g, x, t, v)


def test_threadpoolctl_limit_is_honoured(big_data):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, t, v = big_data
    free = gnll.gaussian_nll_loss(x, t, v)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        limited = gnll.gaussian_nll_loss(x, t, v)
        omp = _openmp_section()
        if omp.get("enabled"):
            # what gnll would use by default now follows the limit
            assert omp.get("default_n_threads", 1) == 1, omp
    assert np.asarray(free).tobytes() == np.asarray(limited).tobytes()


def test_concurrent_calls_from_python_threads():
    rng = np.random.default_rng(7)
    jobs = []
    for i in range(16):
        n = 50_000 + 7919 * i
        x = rng.normal(size=n).astype(np.float32 if i % 2 else np.float64)
        t = rng.normal(size=n).astype(x.dtype)
        v = rng.uniform(0.1, 2.0, size=n).astype(x.dtype)
        jobs.append((x, t, v, ("mean", "sum", "none")[i % 3]))
    expected = [gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=r, n_threads=1)
                for x, t, v, r in jobs]

    def run(i):
        x, t, v, r = jobs[i]
        out = []
        for _ in range(3):
            out.append(gnll.gaussian_nll_loss_and_grad(x, t, v, reduction=r,
                                                       n_threads=(i % 3) + 1))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(len(jobs))))
    for (x, t, v, r), exp, outs in zip(jobs, expected, results):
        for loss, g in outs:
            np.testing.assert_array_equal(loss, exp[0])
            for a, b in zip(g, exp[1]):
                np.testing.assert_array_equal(a, b)
        assert_loss_matches(exp[0], x, t, v, reduction=r, dtype=x.dtype)


def test_openmp_enabled():
    """The installed module really has OpenMP.

    CI sets GNLL_REQUIRE_OPENMP=1, so that a silent serial build fails there;
    elsewhere a build without OpenMP (e.g. Apple clang without libomp) is
    legitimate and the test is skipped with the reason.
    """
    omp = _openmp_section()
    assert "enabled" in omp, omp
    if not omp["enabled"]:
        if os.environ.get("GNLL_REQUIRE_OPENMP") == "1":
            pytest.fail("gnll was built without OpenMP but GNLL_REQUIRE_OPENMP=1")
        pytest.skip("gnll was built without OpenMP (serial build)")
    assert omp["enabled"] is True


def test_show_config_prints_and_returns_none(capsys):
    assert gnll.show_config() is None
    out = capsys.readouterr().out
    assert gnll.__version__ in out
    # the contract: version, OpenMP on/off, threads, compiler and SIMD information
    for word in ("OpenMP", "thread", "compiler", "SIMD"):
        assert word.lower() in out.lower(), (word, out)


def test_show_config_dict_contents():
    config = gnll.show_config(mode="dicts")
    assert config["version"] == gnll.__version__
    assert config.get("compiler") and config.get("simd"), config
    omp = config["openmp"]
    assert isinstance(omp["enabled"], bool)
    for key in ("max_threads", "usable_cpus", "default_n_threads"):
        if key in omp:
            assert isinstance(omp[key], int) and omp[key] >= 1, (key, omp)
    if "default_n_threads" in omp and "usable_cpus" in omp:
        assert omp["default_n_threads"] <= omp["usable_cpus"]


def test_show_config_bad_mode():
    with pytest.raises(ValueError):
        gnll.show_config(mode="yaml")


def test_omp_num_threads_is_honoured_by_default():
    """n_threads=None follows OMP_NUM_THREADS (read when OpenMP starts)."""
    import subprocess
    import sys

    if not _openmp_section()["enabled"]:
        pytest.skip("gnll was built without OpenMP (serial build)")
    code = ("import gnll; c = gnll.show_config(mode='dicts')['openmp']; "
            "print(c['default_n_threads'])")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == "1", out
    # ... capped at the CPUs this process may use
    env = dict(os.environ, OMP_NUM_THREADS="256")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    usable = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count())
    assert 1 <= int(out.stdout.strip()) <= usable, (out.stdout, usable)


_FORK_SCRIPT = r"""
import multiprocessing as mp
import numpy as np
import gnll

x = np.random.default_rng(0).normal(size=1_000_003)
expected = gnll.gaussian_nll_loss(x, 0.5 * x, 1.0, n_threads=2)  # parent's OpenMP team


def child(q):
    a = gnll.gaussian_nll_loss(x, 0.5 * x, 1.0)  # default n_threads
    b = gnll.gaussian_nll_loss(x, 0.5 * x, 1.0, n_threads=2)  # explicit
    q.put(float(a) if a == b else float("nan"))


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    p.join(10)
    if p.is_alive():
        p.kill()
        print("HANG")
    else:
        print("OK" if q.get(timeout=5) == float(expected) else "WRONG")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_after_parallel_parent_does_not_hang(tmp_path):
    """multiprocessing's 'fork' start method (Linux default before Python 3.14,
    also PyTorch DataLoader workers) must not deadlock in gnll.

    GNU libgomp is not fork-safe: a forked child that starts a parallel
    region after the parent used one deadlocks, so gnll computes serially in
    such children; the result must still be bitwise the parent's.
    """
    import subprocess
    import sys

    if not _openmp_section()["enabled"]:
        pytest.skip("gnll was built without OpenMP (serial build)")
    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert out.stdout.strip() == "OK", (out.stdout, out.stderr[-2000:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n", [0, 1, 15, 8193, 100_003])
def test_total_is_accurate_and_thread_independent(dtype, n):
    """The weights' total (the "mean" denominator with weight=) is an
    accurate double sum, the same bits for every thread count."""
    from gnll import _core
    a = np.random.default_rng(n).uniform(0, 3, n).astype(dtype)
    exact = math.fsum(a.astype(np.float64).tolist())
    got = [_core.total(a, k) for k in (1, 2, 3, 8)]
    assert len(set(got)) == 1
    assert abs(got[0] - exact) <= 1e-13 * max(exact, 1.0)
    b = a.copy()
    if n:
        b[n // 2] = np.nan
        assert math.isnan(_core.total(b, 2))
