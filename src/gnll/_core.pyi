# Type stubs for the compiled module gnll._core (see _core.pyx).
# Array arguments are 1-D C-contiguous float32 or float64 arrays of one dtype
# (the C types are given in comments).
import numpy as np
import numpy.typing as npt

CHUNK: int
PARALLEL_THRESHOLD: int

def openmp_enabled() -> bool: ...
def max_threads() -> int: ...
def compiler() -> str: ...
def simd_paths() -> list[tuple[str, bool]]: ...
def get_simd_path() -> str: ...
def set_simd_path(name: str) -> None: ...
def vector_log() -> bool: ...
def float32_in_float() -> bool: ...
def total(
    a: npt.NDArray[np.floating],  # const floating[::1]
    n_threads: int = ...,
) -> float: ...
def elementwise(
    x: npt.NDArray[np.floating],  # const floating[::1]
    y: npt.NDArray[np.floating],  # const floating[::1]
    v: npt.NDArray[np.floating],  # const floating[::1]
    eps: float,
    c: float,
    loss: npt.NDArray[np.floating] | None = ...,  # floating[::1]
    gx: npt.NDArray[np.floating] | None = ...,
    gy: npt.NDArray[np.floating] | None = ...,
    gv: npt.NDArray[np.floating] | None = ...,
    gout: npt.NDArray[np.floating] | None = ...,  # const floating[::1]
    gscale: float = ...,
    n_threads: int = ...,
    w: npt.NDArray[np.floating] | None = ...,  # const floating[::1], weights
    param: int = ...,  # 0 var, 1 log_var, 2 std
    beta: float = ...,
    zero_grad: int = ...,
    log_eps: float = ...,
    weight_total: npt.NDArray[np.float64] | None = ...,  # double[::1], 1 element: sum(w)
) -> tuple[float, bool]: ...
def per_row(
    x: npt.NDArray[np.floating],  # const floating[::1], rows * cols
    y: npt.NDArray[np.floating],  # const floating[::1], rows * cols
    v: npt.NDArray[np.floating],  # const floating[::1], rows
    cols: int,
    eps: float,
    c: float,
    loss: npt.NDArray[np.floating] | None = ...,
    gx: npt.NDArray[np.floating] | None = ...,
    gy: npt.NDArray[np.floating] | None = ...,
    gv_rows: npt.NDArray[np.float64] | None = ...,  # double[::1], rows
    gout: npt.NDArray[np.floating] | None = ...,
    gscale: float = ...,
    n_threads: int = ...,
    w: npt.NDArray[np.floating] | None = ...,  # const floating[::1], weights
    param: int = ...,  # 0 var, 1 log_var, 2 std
    beta: float = ...,
    zero_grad: int = ...,
    log_eps: float = ...,
) -> tuple[float, bool]: ...
def curvature(
    x: npt.NDArray[np.floating],  # const floating[::1]
    y: npt.NDArray[np.floating],
    p: npt.NDArray[np.floating],
    h_mm: npt.NDArray[np.floating],  # floating[::1] outputs
    h_pp: npt.NDArray[np.floating],
    h_mp: npt.NDArray[np.floating],
    eps: float,
    log_eps: float = ...,
    param: int = ...,  # 0 var, 1 log_var, 2 std
    beta: float = ...,
    zero_grad: int = ...,
    fisher: int = ...,
    scale: float = ...,
    w: npt.NDArray[np.floating] | None = ...,
    n_threads: int = ...,
) -> None: ...
