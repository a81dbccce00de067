#!/usr/bin/env python
"""Where does gnll's time go?  A small profile in nanoseconds per element.

For each dtype and size it prints, for 1 thread and for the default thread
count, the wall time and the process CPU time per element of

* ``np.copyto`` of one array (the memory yardstick: one read, one write),
* allocating and filling two new arrays (the first-touch page faults that a
  call returning two gradients pays),
* ``gnll.gaussian_nll_loss`` (reads three arrays, writes nothing),
* ``gnll.gaussian_nll_loss_and_grad(..., wrt=("input", "var"))`` (reads three,
  writes two new arrays),
* and the same loss + gradients written with ``out=`` into arrays that
  already exist (no page faults).

Sizes that fit in the L2 cache show the compute cost; 10M shows the
memory-bound regime.  If the loss costs the same ns/element in cache and at
10M, the kernel is compute-bound, not memory-bound.

    python benchmarks/profile_kernel.py [--sizes 32768,10000000] [--repeats 7]
"""
import argparse
import os
import time

import numpy as np


def measure(fn, n, repeats, min_time=0.05):
    """Median wall and CPU seconds per call, normalised to ns per element."""
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_time or number >= 1 << 16:
            break
        number *= 4
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(number):
            fn()
        walls.append((time.perf_counter() - t0) / number)
        cpus.append((time.process_time() - c0) / number)
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2] / n * 1e9, cpus[len(cpus) // 2] / n * 1e9


def main():
    import gnll

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="32768,10000000")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    cfg = gnll.show_config(mode="dicts")
    default_threads = cfg.get("openmp", {}).get("default_n_threads", None)
    print(f"gnll {gnll.__version__}, SIMD path "
          f"{cfg.get('simd', {}).get('in_use', '?')}, default threads "
          f"{default_threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'dtype':8} {'N':>10} {'what':44} {'thr':>3} "
          f"{'wall ns/el':>10} {'cpu ns/el':>10}")
    for dt in (np.float64, np.float32):
        for n in sizes:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(n).astype(dt)
            y = rng.standard_normal(n).astype(dt)
            v = rng.uniform(0.1, 2.0, n).astype(dt)
            dst = np.zeros_like(x)
            gx, gv = np.zeros_like(x), np.zeros_like(x)

            def alloc2():
                a, b = np.empty_like(x), np.empty_like(x)
                a.fill(0)
                b.fill(0)

            rows = [("np.copyto (1 read + 1 write)", None,
                     lambda: np.copyto(dst, x)),
                    ("alloc + fill 2 new arrays (page faults)", None, alloc2),
                    ("fill 2 existing arrays", None,
                     lambda: (gx.fill(0), gv.fill(0)))]
            for nt in (1, None):
                rows.append(("gnll loss only", nt,
                             lambda nt=nt: gnll.gaussian_nll_loss(
                                 x, y, v, n_threads=nt)))
                rows.append(("gnll loss + grads (input, var)", nt,
                             lambda nt=nt: gnll.gaussian_nll_loss_and_grad(
                                 x, y, v, wrt=("input", "var"), n_threads=nt)))
                rows.append(("gnll loss + grads, out= reused buffers", nt,
                             lambda nt=nt: gnll.gaussian_nll_loss_and_grad(
                                 x, y, v, wrt=("input", "var"), n_threads=nt,
                                 out=(gx, None, gv))))
            for what, nt, fn in rows:
                wall, cpu = measure(fn, n, args.repeats)
                thr = "-" if nt is None and what.startswith(("np.", "alloc",
                                                              "fill")) \
                    else str(nt or default_threads)
                print(f"{np.dtype(dt).name:8} {n:>10,} {what:44} {thr:>3} "
                      f"{wall:10.3f} {cpu:10.3f}")


if __name__ == "__main__":
    main()
