"""Build and run-time configuration: :func:`show_config`."""
import os
import platform

import numpy as np

from . import _buffers, _core
from ._loss import USABLE_CPUS, default_n_threads

# GNLL_SIMD_PATH forces an instruction-set path at import (for testing and
# for comparing paths), e.g. GNLL_SIMD_PATH=baseline.
_forced = os.environ.get("GNLL_SIMD_PATH")
if _forced:
    _core.set_simd_path(_forced)
else:
    for _name, _ok in reversed(_core.simd_paths()):
        if _ok:
            _core.set_simd_path(_name)
            break


def show_config(mode="stdout"):
    """Show how gnll was built and how it will run.

    Parameters
    ----------
    mode : {'stdout', 'dicts'}, optional
        Print a readable report (default), or return it as a dict.

    Returns
    -------
    dict or None
        With ``mode='dicts'``: keys ``version``, ``python``, ``numpy``,
        ``openmp`` (enabled, max_threads, usable_cpus, default_n_threads),
        ``compiler``, ``simd`` (paths: {name: supported}, in_use,
        vector_log, float32_in_float: whether float32 data are computed in
        float), ``kernel`` (chunk, parallel_threshold) and ``buffers`` (the
        result-array cache of :func:`gnll.set_buffer_cache`: max_bytes,
        held_bytes, idle_bytes).

    Raises
    ------
    ValueError
        If `mode` is not 'stdout' or 'dicts'.

    Examples
    --------
    >>> import gnll
    >>> config = gnll.show_config(mode="dicts")
    >>> sorted(config)
    ['buffers', 'compiler', 'kernel', 'numpy', 'openmp', 'python', 'simd', 'version']
    >>> config["simd"]["in_use"] in config["simd"]["paths"]
    True
    """
    from . import __version__

    config = {
        "version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openmp": {
            "enabled": _core.openmp_enabled(),
            "max_threads": _core.max_threads(),
            "usable_cpus": USABLE_CPUS,
            "default_n_threads": default_n_threads(),
        },
        "compiler": _core.compiler(),
        "simd": {
            "paths": dict(_core.simd_paths()),
            "in_use": _core.get_simd_path(),
            "vector_log": _core.vector_log(),
            "float32_in_float": _core.float32_in_float(),
            "machine": platform.machine(),
        },
        "kernel": {
            "chunk": _core.CHUNK,
            "parallel_threshold": _core.PARALLEL_THRESHOLD,
        },
        "buffers": _buffers.cache_info(),
    }
    if mode == "dicts":
        return config
    if mode != "stdout":
        raise ValueError(f"mode must be 'stdout' or 'dicts', not {mode!r}")
    omp, simd = config["openmp"], config["simd"]
    paths = ", ".join(
        f"{name}{'' if ok else ' (unsupported by this CPU)'}"
        for name, ok in simd["paths"].items()
    )
    print(f"gnll {config['version']} (Python {config['python']}, NumPy {config['numpy']})")
    print(f"  compiler:      {config['compiler']}")
    print(f"  OpenMP:        {'enabled' if omp['enabled'] else 'DISABLED (single-threaded build)'}")
    print(f"  threads:       {omp['default_n_threads']} by default "
          f"(OpenMP max {omp['max_threads']}, usable CPUs {omp['usable_cpus']})")
    print(f"  SIMD paths:    {paths}")
    print(f"  SIMD in use:   {simd['in_use']} on {simd['machine']}")
    log = "glibc libmvec" if simd["vector_log"] else "no (scalar log)"
    if simd["in_use"] == "x86-64-v4":
        log = "gnll's own AVX-512 log"
    print(f"  vector log:    {log}")
    print(f"  float32 data:  computed in "
          f"{'float (FMA path)' if simd['float32_in_float'] else 'double'}")
    print(f"  kernel:        chunk {config['kernel']['chunk']} elements, "
          f"threads from {config['kernel']['parallel_threshold']} elements")
    buffers = config["buffers"]
    print(f"  buffer cache:  {buffers['held_bytes'] / 2**20:.1f} MiB held "
          f"({buffers['idle_bytes'] / 2**20:.1f} MiB idle), "
          f"limit {buffers['max_bytes'] / 2**20:.0f} MiB")
    return None
