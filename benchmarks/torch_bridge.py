#!/usr/bin/env python
"""Time gnll.torch against torch's own Gaussian NLL loss, on the CPU.

Run ``python benchmarks/torch_bridge.py`` (``--help`` for the options). Two
parts, both reporting medians (and minima) over ``--repeats`` rounds, with the
implementations timed in round-robin order inside each round so that a noisy
machine disturbs them alike:

1. **Loss forward + backward** on float32 tensors of 1M, 4M and 16M elements
   (``--sizes``): ``input`` and ``var`` require grad, ``target`` does not,
   ``reduction="mean"``, then ``loss.backward()``. Compared: torch's
   ``F.gaussian_nll_loss``; gnll.torch as shipped (gradients computed in the
   forward pass, one fused pass); gnll.torch recomputing the gradients in the
   backward pass instead (the alternative strategy, ``_FUSED_FORWARD =
   False``). Also a per-row variance and float64 at 4M.

2. **A training step** of a small two-headed MLP (mean head and softplus
   variance head, two hidden layers of 64 (``--hidden``), Adam) at batch 4096 x 1 output
   and 256 x 64 outputs. "step" is the whole step (zero_grad, forward, loss,
   backward, optimizer step). "loss part" is the loss alone, forward and
   backward, on tensors shaped like the model's outputs. "loss share" is the
   step minus the same step with the loss replaced by a trivial sum (so the
   shared cost of starting the backward pass is not counted).

The ratios are torch's time divided by gnll's: above 1 means gnll is faster.
Wall-clock medians are the headline; the process CPU time per call is shown
too, because on a shared machine it is far less disturbed by other processes
(with ``--threads 1`` it is the uncontended time of the one busy thread; with
more threads it adds up the threads, spin-waiting included). The script only
reports; it never fails because of a timing.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import gnll
import gnll.torch as gtorch


def parse_size(text):
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def calibrate(fn, target_seconds):
    """Number of calls that takes about ``target_seconds``."""
    fn()
    n, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= target_seconds / 4 or n >= 1 << 16:
            break
        n *= 4
    return max(1, round(n * target_seconds / max(elapsed, 1e-9)))


def race(fns, repeats, block_seconds):
    """Median and minimum seconds per call for each of ``fns`` (a dict)."""
    loops = {k: calibrate(f, block_seconds) for k, f in fns.items()}
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            n = loops[k]
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                f()
            times[k].append((time.perf_counter() - t0) / n)
            cpu[k].append((time.process_time() - c0) / n)
    return {k: (statistics.median(v), min(v), statistics.median(cpu[k])) for k, v in times.items()}


def fmt(seconds):
    if seconds >= 1e-1:
        return f"{seconds:8.3f} s "
    if seconds >= 1e-4:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds * 1e6:8.1f} us"


def report(title, results, baseline="torch"):
    print(f"\n{title}")
    base, base_cpu = results[baseline][0], results[baseline][2]
    for name, (med, low, cpu) in results.items():
        ratio = "" if name == baseline else (
            f"   torch/gnll = {base / med:5.1f}x (CPU time {base_cpu / cpu:5.1f}x)"
        )
        print(f"  {name:<22} median {fmt(med)}  (min {fmt(low)}, CPU {fmt(cpu)}){ratio}")


def set_fused(flag):
    gtorch._FUSED_FORWARD = flag


# ------------------------------------------------------------ part 1: the loss
def loss_case(shape, var_shape, dtype, repeats, block_seconds):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_()
    t = torch.randn(shape, generator=gen, dtype=dtype)
    v = (torch.rand(var_shape, generator=gen, dtype=dtype) + 0.1).requires_grad_()

    def step(loss_fn, fused=True):
        def run():
            set_fused(fused)
            x.grad = v.grad = None
            loss_fn(x, t, v).backward()

        return run

    res = race(
        {
            "torch": step(F.gaussian_nll_loss),
            "gnll (fused fwd)": step(gtorch.gaussian_nll_loss, True),
            "gnll (recompute bwd)": step(gtorch.gaussian_nll_loss, False),
        },
        repeats,
        block_seconds,
    )
    set_fused(True)
    return res


# ------------------------------------------------------ part 2: training step
class TwoHeaded(torch.nn.Module):
    def __init__(self, d_in, d_out, hidden=64):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(d_in, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Tanh(),
        )
        self.mean = torch.nn.Linear(hidden, d_out)
        self.var = torch.nn.Sequential(torch.nn.Linear(hidden, d_out), torch.nn.Softplus())

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), self.var(h) + 1e-6


def training_case(batch, d_in, d_out, hidden, repeats, block_seconds):
    torch.manual_seed(0)
    x = torch.randn(batch, d_in)
    y = torch.randn(batch, d_out)
    models = {}

    def make_step(loss_fn):
        model = TwoHeaded(d_in, d_out, hidden)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        models[loss_fn] = model

        def run():
            opt.zero_grad(set_to_none=True)
            mean, var = model(x)
            loss_fn(mean, y, var).backward()
            opt.step()

        return run

    def trivial_loss(mean, y, var):
        return mean.sum() + var.sum()

    mean0, var0 = TwoHeaded(d_in, d_out, hidden)(x)
    m = mean0.detach().requires_grad_()
    v = var0.detach().requires_grad_()

    def loss_only(loss_fn):
        def run():
            m.grad = v.grad = None
            loss_fn(m, y, v).backward()

        return run

    res = race(
        {
            "torch": make_step(torch.nn.GaussianNLLLoss()),
            "gnll": make_step(gtorch.GaussianNLLLoss()),
            "no loss": make_step(trivial_loss),
            "torch loss part": loss_only(F.gaussian_nll_loss),
            "gnll loss part": loss_only(gtorch.gaussian_nll_loss),
        },
        repeats,
        block_seconds,
    )
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1M,4M,16M", help="loss sizes (default 1M,4M,16M)")
    p.add_argument("--repeats", type=int, default=7, help="rounds per case (default 7)")
    p.add_argument("--block", type=float, default=0.1, help="seconds per timed block (default 0.1)")
    p.add_argument(
        "--threads", type=int, default=None,
        help="torch.set_num_threads(k) first; gnll.torch follows torch's setting (default: torch's)",
    )
    p.add_argument("--hidden", type=int, default=64, help="MLP hidden width (default 64)")
    p.add_argument("--skip-loss", action="store_true", help="skip part 1")
    p.add_argument("--skip-training", action="store_true", help="skip part 2")
    args = p.parse_args(argv)
    if args.repeats < 5:
        p.error("--repeats must be at least 5")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = gnll.show_config(mode="dicts")
    print(f"python {platform.python_version()}, torch {torch.__version__}, gnll {gnll.__version__}")
    omp = cfg.get("openmp", {})
    print(
        f"torch threads {torch.get_num_threads()} (gnll.torch uses the same), CPUs {os.cpu_count()}, "
        f"gnll OpenMP {'on' if omp.get('enabled') else 'off'}, SIMD {cfg.get('simd', {}).get('in_use')}"
    )
    if hasattr(os, "getloadavg"):
        print("load average at start: %.2f %.2f %.2f" % os.getloadavg())

    if not args.skip_loss:
        print("\n== Part 1: loss forward + backward (input and var require grad, reduction='mean')")
        for size in [parse_size(s) for s in args.sizes.split(",")]:
            res = loss_case((size,), (size,), torch.float32, args.repeats, args.block)
            report(f"{size:,} elements, float32, var same shape", res)
        mid = parse_size("4M")
        res = loss_case((mid // 64, 64), (mid // 64, 1), torch.float32, args.repeats, args.block)
        report(f"{mid:,} elements ({mid // 64} x 64), float32, var one per row", res)
        res = loss_case((mid,), (mid,), torch.float64, args.repeats, args.block)
        report(f"{mid:,} elements, float64, var same shape", res)

    if not args.skip_training:
        print(f"\n== Part 2: training step of a two-headed MLP (2 hidden layers of {args.hidden}, Adam)")
        for batch, d_in, d_out in [(4096, 8, 1), (256, 32, 64)]:
            res = training_case(batch, d_in, d_out, args.hidden, args.repeats, args.block)
            print(f"\nbatch {batch} x {d_out} outputs ({d_in} inputs)")
            for name in res:
                med, low, cpu = res[name]
                print(f"  {name:<16} median {fmt(med)}  (min {fmt(low)}, CPU {fmt(cpu)})")
            print(
                f"  whole step:  torch/gnll = {res['torch'][0] / res['gnll'][0]:.2f}x"
                f" (CPU time {res['torch'][2] / res['gnll'][2]:.2f}x)"
            )
            print(
                f"  loss part:   torch/gnll = "
                f"{res['torch loss part'][0] / res['gnll loss part'][0]:.2f}x"
                f" (CPU time {res['torch loss part'][2] / res['gnll loss part'][2]:.2f}x)"
            )
            for label, i in (("wall", 0), ("CPU time", 2)):
                t_share = res["torch"][i] - res["no loss"][i]
                g_share = res["gnll"][i] - res["no loss"][i]
                if t_share > 0 and g_share > 0:
                    verdict = f"torch/gnll = {t_share / g_share:.2f}x"
                else:
                    verdict = "(within noise of zero)"
                print(
                    f"  loss share of the step ({label}): torch {fmt(t_share)}, "
                    f"gnll {fmt(g_share)}, {verdict}"
                )

    if hasattr(os, "getloadavg"):
        print("\nload average at end: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
