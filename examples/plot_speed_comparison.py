r"""
How fast is gnll? A timing comparison
=====================================

gnll computes the loss and its gradients in one fused pass over the data,
in compiled code, using several threads for large inputs. The
straightforward NumPy way to do the same work evaluates one array
expression after another, each reading and writing whole temporary arrays.
This example times both, and PyTorch's ``gaussian_nll_loss`` with
``backward()`` when PyTorch is installed, for one training step's worth of
work: the mean loss and its gradients with respect to the mean and the
variance, in float32.

**Timings depend on the machine** (CPU, number of cores, memory bandwidth,
other load, thread settings) and vary from run to run; the numbers on this
page were measured while the documentation was built and are only
indicative. The project's benchmark suite gives careful measurements.
"""

import os
import platform
import time

import matplotlib.pyplot as plt
import numpy as np

import gnll

# %%
# The contenders
# --------------
# All of them return the mean loss, :math:`\partial L/\partial\mu` and
# :math:`\partial L/\partial\sigma^2` for float32 inputs with the default
# ``eps = 1e-6`` clamp. gnll runs twice: with its default number of threads
# and restricted to one thread, which separates the gain of the fused pass
# from the gain of using several cores.

EPS = 1e-6


def with_gnll(mu, y, var):
    loss, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, wrt=("input", "var"))
    return loss, g.input, g.var


def with_gnll_1thread(mu, y, var):
    loss, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, wrt=("input", "var"), n_threads=1)
    return loss, g.input, g.var


def with_numpy(mu, y, var):
    n = mu.size
    v = np.maximum(var, EPS)
    r = mu - y
    r2_over_v = r * r / v
    loss = 0.5 * np.mean(np.log(v) + r2_over_v)
    return loss, r / v / n, 0.5 * (1.0 - r2_over_v) / v / n


contenders = {"gnll": with_gnll, "gnll, n_threads=1": with_gnll_1thread,
              "NumPy, naive": with_numpy}

try:
    import torch

    def with_torch(mu, y, var):
        m = torch.from_numpy(mu).requires_grad_()
        v = torch.from_numpy(var).requires_grad_()
        loss = torch.nn.functional.gaussian_nll_loss(m, torch.from_numpy(y), v, eps=EPS)
        loss.backward()
        return loss.item(), m.grad.numpy(), v.grad.numpy()

    contenders[f"PyTorch {torch.__version__}"] = with_torch
except ImportError:
    print("PyTorch is not installed; timing gnll and NumPy only.")

# %%
# The same answers first
# ----------------------
# Speed means nothing without agreement, so every contender is checked
# against the others before any timing.

rng = np.random.default_rng(0)


def make(n):
    mu = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    var = rng.uniform(0.1, 2.0, n).astype(np.float32)
    return mu, y, var


arrays = make(10_000)
reference = with_numpy(*[a.astype(np.float64) for a in arrays])
for name, fn in contenders.items():
    for got, want in zip(fn(*arrays), reference):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-9)
print("all contenders agree with a float64 NumPy reference")

# %%
# Timing
# ------
# For each size, each function is called repeatedly for about 0.05 s; the
# best of three such rounds is kept (the least disturbed by other activity
# on the machine).


def best_time(fn, args, budget=0.05, rounds=3):
    fn(*args)  # warm-up
    t0 = time.perf_counter()
    fn(*args)
    reps = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


sizes = [1_000, 10_000, 100_000, 1_000_000, 4_000_000]
times = {name: [] for name in contenders}
for n in sizes:
    args = make(n)
    for name, fn in contenders.items():
        times[name].append(best_time(fn, args))

print(f"\nmachine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
      f"Python {platform.python_version()}, NumPy {np.__version__}")
gnll.show_config()
print("\ntime per call in microseconds")
print(f"{'n':>10s} " + " ".join(f"{name:>20s}" for name in contenders))
for i, n in enumerate(sizes):
    print(f"{n:>10d} " + " ".join(f"{1e6 * times[name][i]:>20.1f}" for name in contenders))

# %%
# What to look at: for small arrays every method is dominated by fixed
# per-call costs (argument checking, dispatch, PyTorch's autograd
# bookkeeping), so the differences there say little. For large arrays the
# work is dominated by passes over memory: the naive NumPy version makes
# many of them and allocates temporaries, while gnll makes one pass and can
# use several cores. The right panel shows the speed-up over naive NumPy
# (above 1 means faster). On a machine busy with other work, multi-threaded
# timings suffer most, because every thread has to get a turn on a core;
# the one-thread line is the more robust one then.

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
markers = ["o", "D", "s", "^"]
for (name, t), mk in zip(times.items(), markers):
    axes[0].loglog(sizes, np.array(t) * 1e3, marker=mk, lw=2, label=name)
    axes[1].loglog(sizes, np.array(times["NumPy, naive"]) / np.array(t), marker=mk, lw=2,
                   label=name)
axes[0].set_xlabel("number of elements")
axes[0].set_ylabel("time per call (ms, log scale)")
axes[0].set_title("Loss + gradients w.r.t. mean and variance, float32")
axes[0].legend()
axes[0].grid(alpha=0.3, which="both")
axes[1].axhline(1.0, color="k", lw=1)
axes[1].set_xlabel("number of elements")
axes[1].set_ylabel("speed-up over naive NumPy (×, log scale)")
axes[1].set_title("Higher is faster (timings vary by machine)")
axes[1].legend()
axes[1].grid(alpha=0.3, which="both")

plt.show()
