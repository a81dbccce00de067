# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True, nonecheck=False
"""Compiled core of gnll: OpenMP-parallel drivers over the C block kernels.

The per-element formulas live in ``_kernels.c`` (they need run-time SIMD
dispatch, which Cython cannot emit); this module splits the work into
fixed-size chunks, runs the chunks on an OpenMP team with the GIL released,
and combines the chunk results in chunk order.  Chunk boundaries depend only
on the array sizes, never on the thread count, so every reduction is
bit-for-bit identical for any ``n_threads``.

Everything else (validation, dtype choice, broadcasting, allocation) is done
by the Python layer in ``gnll._loss``.

Math (per element, v = max(var, eps), r = input - target)::

    loss      = 0.5 * (log v + r**2 / v)   [+ 0.5 * log(2 pi) if full]
    d/dinput  =  g * r / v
    d/dtarget = -g * r / v
    d/dvar    =  g * 0.5 * (1/v - r**2 / v**2)

with g the upstream gradient times the reduction's scale (1/N for "mean").

The optional arguments of the drivers (``w``, ``param``, ``beta``,
``zero_grad``, ``log_eps``) select the extended kernels instead: the
log-variance and standard-deviation parameterisations, beta-NLL, sample
weights and the zero clamp-gradient mode (formulas in ``_kernels.h``).  With
their defaults the plain var kernels run, exactly as before.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

cdef extern from "_kernels.h" nogil:
    ctypedef struct gnll_block_result:
        int stream
        double loss_sum
        int any_negative
        double weight_sum

    void gnll_block_f64(const double *x, const double *y, const double *v,
                        Py_ssize_t n, double eps, double c, double *loss,
                        double *gx, double *gy, double *gv,
                        const double *gout, double gscale,
                        gnll_block_result *res)
    void gnll_block_f32(const float *x, const float *y, const float *v,
                        Py_ssize_t n, double eps, double c, float *loss,
                        float *gx, float *gy, float *gv, const float *gout,
                        double gscale, gnll_block_result *res)
    void gnll_rows_f64(const double *x, const double *y, const double *v,
                       Py_ssize_t rows, Py_ssize_t cols, double eps, double c,
                       double *loss, double *gx, double *gy, double *gv_rows,
                       const double *gout, double gscale,
                       gnll_block_result *res)
    void gnll_rows_f32(const float *x, const float *y, const float *v,
                       Py_ssize_t rows, Py_ssize_t cols, double eps, double c,
                       float *loss, float *gx, float *gy, double *gv_rows,
                       const float *gout, double gscale,
                       gnll_block_result *res)
    ctypedef struct gnll_options:
        double eps
        double log_eps
        double c
        double beta
        int param
        int zero_clamp_grad

    void gnll_xblock_f64(const double *x, const double *y, const double *p,
                         const double *w, Py_ssize_t n,
                         const gnll_options *opt, double *loss, double *gx,
                         double *gy, double *gp, const double *gout,
                         double gscale, gnll_block_result *res)
    void gnll_xblock_f32(const float *x, const float *y, const float *p,
                         const float *w, Py_ssize_t n,
                         const gnll_options *opt, float *loss, float *gx,
                         float *gy, float *gp, const float *gout,
                         double gscale, gnll_block_result *res)
    void gnll_xrows_f64(const double *x, const double *y, const double *p,
                        const double *w, Py_ssize_t rows, Py_ssize_t cols,
                        const gnll_options *opt, double *loss, double *gx,
                        double *gy, double *gp_rows, const double *gout,
                        double gscale, gnll_block_result *res)
    void gnll_xrows_f32(const float *x, const float *y, const float *p,
                        const float *w, Py_ssize_t rows, Py_ssize_t cols,
                        const gnll_options *opt, float *loss, float *gx,
                        float *gy, double *gp_rows, const float *gout,
                        double gscale, gnll_block_result *res)
    void gnll_xcurv_f64(const double *x, const double *y, const double *p,
                        const double *w, Py_ssize_t n,
                        const gnll_options *opt, int fisher, double scale,
                        double *h_mm, double *h_pp, double *h_mp)
    void gnll_xcurv_f32(const float *x, const float *y, const float *p,
                        const float *w, Py_ssize_t n,
                        const gnll_options *opt, int fisher, double scale,
                        float *h_mm, float *h_pp, float *h_mp)
    double gnll_sum_f64(const double *a, Py_ssize_t n)
    double gnll_sum_f32(const float *a, Py_ssize_t n)
    int gnll_n_paths()
    const char *gnll_path_name(int path)
    int gnll_path_supported(int path)
    int gnll_get_path()
    int gnll_set_path(int path)
    int gnll_vector_log()
    int gnll_float32_in_float()

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define GNLL_HAVE_OPENMP 1
    #else
    #define GNLL_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    #ifndef GNLL_COMPILER
    #define GNLL_COMPILER "unknown"
    #endif
    """
    int GNLL_HAVE_OPENMP
    const char *GNLL_COMPILER
    int omp_get_max_threads() nogil

# Elements per chunk: the unit of parallel work and of partial sums.
CHUNK = 8192
cdef Py_ssize_t _CHUNK = CHUNK
# Below this many elements one thread is faster than waking a team.
# Measured (2-core VM, float64 and float32 loss + 2 gradients, medians):
# 2 threads vs 1 at 24,576 elements 0.84x (slower), 32,768 1.2x, 65,536 1.9x.
PARALLEL_THRESHOLD = 32768
cdef Py_ssize_t _PARALLEL_THRESHOLD = PARALLEL_THRESHOLD
# From this many elements outputs are written with non-temporal stores: they
# are far larger than the caches, so reading each output line before it is
# overwritten would only cost bandwidth (measured: float64 loss + 2 gradients
# at 10M elements, 37 -> 28 ms on one thread).
STREAM_THRESHOLD = 1 << 20
cdef Py_ssize_t _STREAM_THRESHOLD = STREAM_THRESHOLD


def openmp_enabled():
    """True when the module was compiled with OpenMP."""
    return bool(GNLL_HAVE_OPENMP)


def max_threads():
    """OpenMP's current default team size (1 without OpenMP)."""
    return omp_get_max_threads()


def compiler():
    """The compiler that built the kernels, as "<id> <version>"."""
    return GNLL_COMPILER.decode()


def simd_paths():
    """[(name, supported_by_this_cpu), ...] for every compiled path."""
    return [(gnll_path_name(i).decode(), bool(gnll_path_supported(i)))
            for i in range(gnll_n_paths())]


def get_simd_path():
    """Name of the instruction-set path in use."""
    return gnll_path_name(gnll_get_path()).decode()


def set_simd_path(name):
    """Select an instruction-set path by name; ValueError if unavailable."""
    for i in range(gnll_n_paths()):
        if gnll_path_name(i).decode() == name:
            if gnll_set_path(i) == 0:
                return
            raise ValueError(f"SIMD path {name!r} is not supported by this CPU")
    names = [p for p, _ in simd_paths()]
    raise ValueError(f"unknown SIMD path {name!r}; compiled paths: {names}")


def vector_log():
    """True when log is vectorised through glibc's libmvec."""
    return bool(gnll_vector_log())


def float32_in_float():
    """True if the selected SIMD path evaluates float32 data in float (the
    paths with FMA), False if it widens them to double."""
    return bool(gnll_float32_in_float())


# GNU OpenMP cannot start a thread team in a process forked from one that
# had a team (the child waits forever for the parent's threads).  A forked
# child of a process that ran gnll in parallel therefore runs serially.
cdef int _team_started = 0
cdef int _serial_only = 0


def _after_fork_in_child():
    """os.register_at_fork hook: go serial if the parent started a team."""
    global _serial_only
    if _team_started:
        _serial_only = 1


def serial_only():
    """True in a forked child whose parent ran OpenMP threads."""
    return bool(_serial_only)


cdef int _team_size(Py_ssize_t n, Py_ssize_t n_units, int n_threads) noexcept nogil:
    global _team_started
    if n < _PARALLEL_THRESHOLD or n_units < 2 or n_threads < 2 or _serial_only:
        return 1
    _team_started = 1
    if n_threads > n_units:
        return <int>n_units
    return n_threads


cdef inline void _block(const floating *x, const floating *y,
                        const floating *v, Py_ssize_t n, double eps, double c,
                        floating *loss, floating *gx, floating *gy,
                        floating *gv, const floating *gout, double gscale,
                        gnll_block_result *res) noexcept nogil:
    if floating is double:
        gnll_block_f64(x, y, v, n, eps, c, loss, gx, gy, gv, gout, gscale, res)
    else:
        gnll_block_f32(x, y, v, n, eps, c, loss, gx, gy, gv, gout, gscale, res)


cdef inline void _rows(const floating *x, const floating *y,
                       const floating *v, Py_ssize_t rows, Py_ssize_t cols,
                       double eps, double c, floating *loss, floating *gx,
                       floating *gy, double *gv_rows, const floating *gout,
                       double gscale, gnll_block_result *res) noexcept nogil:
    if floating is double:
        gnll_rows_f64(x, y, v, rows, cols, eps, c, loss, gx, gy, gv_rows,
                      gout, gscale, res)
    else:
        gnll_rows_f32(x, y, v, rows, cols, eps, c, loss, gx, gy, gv_rows,
                      gout, gscale, res)


cdef inline void _xblock(const floating *x, const floating *y,
                         const floating *v, const floating *w, Py_ssize_t n,
                         const gnll_options *o, floating *loss, floating *gx,
                         floating *gy, floating *gv, const floating *gout,
                         double gscale, gnll_block_result *res) noexcept nogil:
    if floating is double:
        gnll_xblock_f64(x, y, v, w, n, o, loss, gx, gy, gv, gout, gscale, res)
    else:
        gnll_xblock_f32(x, y, v, w, n, o, loss, gx, gy, gv, gout, gscale, res)


cdef inline void _xrows(const floating *x, const floating *y,
                        const floating *v, const floating *w, Py_ssize_t rows,
                        Py_ssize_t cols, const gnll_options *o, floating *loss,
                        floating *gx, floating *gy, double *gv_rows,
                        const floating *gout, double gscale,
                        gnll_block_result *res) noexcept nogil:
    if floating is double:
        gnll_xrows_f64(x, y, v, w, rows, cols, o, loss, gx, gy, gv_rows, gout,
                       gscale, res)
    else:
        gnll_xrows_f32(x, y, v, w, rows, cols, o, loss, gx, gy, gv_rows, gout,
                       gscale, res)


cdef inline floating *_ptr(floating[::1] a) noexcept:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef inline const floating *_cptr(const floating[::1] a) noexcept:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


def elementwise(const floating[::1] x, const floating[::1] y,
                const floating[::1] v, double eps, double c,
                floating[::1] loss=None, floating[::1] gx=None,
                floating[::1] gy=None, floating[::1] gv=None,
                const floating[::1] gout=None, double gscale=1.0,
                int n_threads=1, const floating[::1] w=None, int param=0,
                double beta=0.0, int zero_grad=0, double log_eps=0.0,
                double[::1] weight_total=None):
    """Loss and gradients where input, target and var all have n elements.

    Fills the given output arrays (each None or of length n) and returns
    ``(loss_sum, any_negative)``: the sum of all per-element losses in double
    precision, and whether some var entry is negative.  ``w`` (weights, None
    or of length n), ``param`` (0 var, 1 log_var, 2 std), ``beta``,
    ``zero_grad`` and ``log_eps`` select the extended kernels.  With ``w``,
    ``weight_total[0]`` (if given) receives the sum of the weights, equal to
    ``total(w)``'s, taken in the same pass.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t n_units = (n + _CHUNK - 1) // _CHUNK
    cdef Py_ssize_t u, start, size
    cdef int team = _team_size(n, n_units, n_threads)
    cdef const floating *px = _cptr(x)
    cdef const floating *py = _cptr(y)
    cdef const floating *pv = _cptr(v)
    cdef const floating *pgo = _cptr(gout)
    cdef floating *pl = _ptr(loss)
    cdef floating *pgx = _ptr(gx)
    cdef floating *pgy = _ptr(gy)
    cdef floating *pgv = _ptr(gv)
    cdef const floating *pw = _cptr(w)
    cdef gnll_block_result one
    cdef gnll_block_result *results
    cdef double total = 0.0
    cdef double wsum = 0.0
    cdef int negative = 0
    cdef gnll_options opt
    cdef bint ext = (w is not None or param != 0 or beta != 0.0
                     or zero_grad != 0)
    opt.eps = eps
    opt.log_eps = log_eps
    opt.c = c
    opt.beta = beta
    opt.param = param
    opt.zero_clamp_grad = zero_grad

    if y.shape[0] != n or v.shape[0] != n:
        raise ValueError("input, target and var must have the same length")
    if ((loss is not None and loss.shape[0] != n)
            or (gx is not None and gx.shape[0] != n)
            or (gy is not None and gy.shape[0] != n)
            or (gv is not None and gv.shape[0] != n)
            or (gout is not None and gout.shape[0] != n)
            or (w is not None and w.shape[0] != n)):
        raise ValueError("outputs must have the length of the input")
    if weight_total is not None:
        if w is None or weight_total.shape[0] != 1:
            raise ValueError("weight_total needs w, and has one element")
        weight_total[0] = 0.0
    if n == 0:
        return 0.0, False
    if n_units == 1:
        one.stream = 0
        with nogil:
            if ext:
                _xblock(px, py, pv, pw, n, &opt, pl, pgx, pgy, pgv, pgo,
                        gscale, &one)
            else:
                _block(px, py, pv, n, eps, c, pl, pgx, pgy, pgv, pgo, gscale,
                       &one)
        if weight_total is not None:
            weight_total[0] = wsum + one.weight_sum  # as total() adds
        return one.loss_sum, bool(one.any_negative)

    results = <gnll_block_result *>malloc(n_units * sizeof(gnll_block_result))
    if results == NULL:
        raise MemoryError()
    for u in range(n_units):
        results[u].stream = n >= _STREAM_THRESHOLD
    try:
        with nogil:
            for u in prange(n_units, schedule="static", num_threads=team):
                start = u * _CHUNK
                size = n - start if n - start < _CHUNK else _CHUNK
                if ext:
                    _xblock(px + start, py + start, pv + start,
                            pw + start if pw != NULL else NULL, size, &opt,
                            pl + start if pl != NULL else NULL,
                            pgx + start if pgx != NULL else NULL,
                            pgy + start if pgy != NULL else NULL,
                            pgv + start if pgv != NULL else NULL,
                            pgo + start if pgo != NULL else NULL,
                            gscale, &results[u])
                else:
                    _block(px + start, py + start, pv + start, size, eps, c,
                           pl + start if pl != NULL else NULL,
                           pgx + start if pgx != NULL else NULL,
                           pgy + start if pgy != NULL else NULL,
                           pgv + start if pgv != NULL else NULL,
                           pgo + start if pgo != NULL else NULL,
                           gscale, &results[u])
            for u in range(n_units):
                total = total + results[u].loss_sum
                negative = negative | results[u].any_negative
                wsum = wsum + results[u].weight_sum
    finally:
        free(results)
    if weight_total is not None:
        weight_total[0] = wsum
    return total, bool(negative)


def total(const floating[::1] a, int n_threads=1):
    """The sum of ``a`` in double precision, in an order fixed by the chunk
    size (the same result for any number of threads)."""
    cdef Py_ssize_t n = a.shape[0]
    cdef Py_ssize_t n_units = (n + _CHUNK - 1) // _CHUNK
    cdef Py_ssize_t u, start, size
    cdef int team = _team_size(n, n_units, n_threads)
    cdef const floating *pa = _cptr(a)
    cdef double *partial
    cdef double result = 0.0
    if n == 0:
        return 0.0
    partial = <double *>malloc(n_units * sizeof(double))
    if partial == NULL:
        raise MemoryError()
    try:
        with nogil:
            for u in prange(n_units, schedule="static", num_threads=team):
                start = u * _CHUNK
                size = n - start if n - start < _CHUNK else _CHUNK
                if floating is double:
                    partial[u] = gnll_sum_f64(pa + start, size)
                else:
                    partial[u] = gnll_sum_f32(pa + start, size)
            for u in range(n_units):
                result = result + partial[u]
    finally:
        free(partial)
    return result


def per_row(const floating[::1] x, const floating[::1] y,
            const floating[::1] v, Py_ssize_t cols, double eps, double c,
            floating[::1] loss=None, floating[::1] gx=None,
            floating[::1] gy=None, double[::1] gv_rows=None,
            const floating[::1] gout=None, double gscale=1.0,
            int n_threads=1, const floating[::1] w=None, int param=0,
            double beta=0.0, int zero_grad=0, double log_eps=0.0):
    """Loss and gradients where var holds one value per row of ``cols``.

    x and y have ``rows * cols`` elements, v has ``rows``.  ``gv_rows`` (None
    or of length rows, float64) receives each row's summed var gradient.
    Returns ``(loss_sum, any_negative)`` as :func:`elementwise`.  The
    extended options are those of :func:`elementwise` (``w`` holds
    ``rows * cols`` weights).
    """
    cdef Py_ssize_t rows = v.shape[0]
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t n_units, per_unit, blocks, u, r, b, start, size
    cdef int team
    cdef const floating *px = _cptr(x)
    cdef const floating *py = _cptr(y)
    cdef const floating *pv = _cptr(v)
    cdef const floating *pgo = _cptr(gout)
    cdef floating *pl = _ptr(loss)
    cdef floating *pgx = _ptr(gx)
    cdef floating *pgy = _ptr(gy)
    cdef double *pgv = NULL
    cdef gnll_block_result *results
    cdef double *gv_parts = NULL
    cdef double total = 0.0, acc
    cdef int negative = 0
    cdef const floating *pw = _cptr(w)
    cdef gnll_options opt
    cdef bint ext = (w is not None or param != 0 or beta != 0.0
                     or zero_grad != 0)
    opt.eps = eps
    opt.log_eps = log_eps
    opt.c = c
    opt.beta = beta
    opt.param = param
    opt.zero_clamp_grad = zero_grad

    if cols < 0 or rows * cols != n or y.shape[0] != n:
        raise ValueError("x and y must hold rows * cols elements")
    if ((loss is not None and loss.shape[0] != n)
            or (gx is not None and gx.shape[0] != n)
            or (gy is not None and gy.shape[0] != n)
            or (gout is not None and gout.shape[0] != n)
            or (w is not None and w.shape[0] != n)):
        raise ValueError("outputs must have the length of the input")
    if gv_rows is not None:
        if gv_rows.shape[0] != rows:
            raise ValueError("gv_rows must have one entry per row")
        if rows > 0:
            pgv = &gv_rows[0]
    if n == 0:
        if pgv != NULL:
            for r in range(rows):
                pgv[r] = 0.0
        negative = 0
        if param != 1:
            for r in range(rows):
                if v[r] < 0:
                    negative = 1
        return 0.0, bool(negative)

    if cols >= _CHUNK:
        # Long rows (e.g. one scalar var): each row is split into `blocks`
        # chunks; chunk partial sums of the var gradient are combined per row
        # in chunk order below.
        blocks = (cols + _CHUNK - 1) // _CHUNK
        n_units = rows * blocks
        per_unit = 0
    else:
        # Short rows: a unit is `per_unit` whole rows.
        blocks = 1
        per_unit = _CHUNK // cols
        n_units = (rows + per_unit - 1) // per_unit
    team = _team_size(n, n_units, n_threads)

    results = <gnll_block_result *>malloc(n_units * sizeof(gnll_block_result))
    if results == NULL:
        raise MemoryError()
    for u in range(n_units):
        results[u].stream = n >= _STREAM_THRESHOLD
    if per_unit == 0 and pgv != NULL:
        gv_parts = <double *>malloc(n_units * sizeof(double))
        if gv_parts == NULL:
            free(results)
            raise MemoryError()
    try:
        with nogil:
            if per_unit == 0:
                for u in prange(n_units, schedule="static", num_threads=team):
                    r = u // blocks
                    b = u - r * blocks
                    start = r * cols + b * _CHUNK
                    size = cols - b * _CHUNK
                    if size > _CHUNK:
                        size = _CHUNK
                    if ext:
                        _xrows(px + start, py + start, pv + r,
                               pw + start if pw != NULL else NULL, 1, size,
                               &opt, pl + start if pl != NULL else NULL,
                               pgx + start if pgx != NULL else NULL,
                               pgy + start if pgy != NULL else NULL,
                               gv_parts + u if gv_parts != NULL else NULL,
                               pgo + start if pgo != NULL else NULL,
                               gscale, &results[u])
                    else:
                        _rows(px + start, py + start, pv + r, 1, size, eps, c,
                              pl + start if pl != NULL else NULL,
                              pgx + start if pgx != NULL else NULL,
                              pgy + start if pgy != NULL else NULL,
                              gv_parts + u if gv_parts != NULL else NULL,
                              pgo + start if pgo != NULL else NULL,
                              gscale, &results[u])
                if gv_parts != NULL:
                    for r in range(rows):
                        acc = 0.0
                        for b in range(blocks):
                            acc = acc + gv_parts[r * blocks + b]
                        pgv[r] = acc
            else:
                for u in prange(n_units, schedule="static", num_threads=team):
                    r = u * per_unit
                    size = rows - r if rows - r < per_unit else per_unit
                    start = r * cols
                    if ext:
                        _xrows(px + start, py + start, pv + r,
                               pw + start if pw != NULL else NULL, size, cols,
                               &opt, pl + start if pl != NULL else NULL,
                               pgx + start if pgx != NULL else NULL,
                               pgy + start if pgy != NULL else NULL,
                               pgv + r if pgv != NULL else NULL,
                               pgo + start if pgo != NULL else NULL,
                               gscale, &results[u])
                    else:
                        _rows(px + start, py + start, pv + r, size, cols, eps,
                              c, pl + start if pl != NULL else NULL,
                              pgx + start if pgx != NULL else NULL,
                              pgy + start if pgy != NULL else NULL,
                              pgv + r if pgv != NULL else NULL,
                              pgo + start if pgo != NULL else NULL,
                              gscale, &results[u])
            for u in range(n_units):
                total = total + results[u].loss_sum
                negative = negative | results[u].any_negative
    finally:
        free(results)
        free(gv_parts)
    return total, bool(negative)


cdef inline void _xcurv(const floating *x, const floating *y,
                        const floating *p, const floating *w, Py_ssize_t n,
                        const gnll_options *o, int fisher, double scale,
                        floating *h_mm, floating *h_pp,
                        floating *h_mp) noexcept nogil:
    if floating is double:
        gnll_xcurv_f64(x, y, p, w, n, o, fisher, scale, h_mm, h_pp, h_mp)
    else:
        gnll_xcurv_f32(x, y, p, w, n, o, fisher, scale, h_mm, h_pp, h_mp)


def curvature(const floating[::1] x, const floating[::1] y,
              const floating[::1] p, floating[::1] h_mm, floating[::1] h_pp,
              floating[::1] h_mp, double eps, double log_eps=0.0,
              int param=0, double beta=0.0, int zero_grad=0, int fisher=0,
              double scale=1.0, const floating[::1] w=None, int n_threads=1):
    """Per-element curvature (see ``gnll_xcurv_*`` in ``_kernels.h``): fills
    h_mm, h_pp and h_mp (n elements each); every argument has n elements."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t n_units = (n + _CHUNK - 1) // _CHUNK
    cdef Py_ssize_t u, start, size
    cdef int team = _team_size(n, n_units, n_threads)
    cdef const floating *px = _cptr(x)
    cdef const floating *py = _cptr(y)
    cdef const floating *pp = _cptr(p)
    cdef const floating *pw = _cptr(w)
    cdef floating *o1 = _ptr(h_mm)
    cdef floating *o2 = _ptr(h_pp)
    cdef floating *o3 = _ptr(h_mp)
    cdef gnll_options opt
    if (y.shape[0] != n or p.shape[0] != n or h_mm.shape[0] != n
            or h_pp.shape[0] != n or h_mp.shape[0] != n
            or (w is not None and w.shape[0] != n)):
        raise ValueError("every array must have n elements")
    opt.eps = eps
    opt.log_eps = log_eps
    opt.c = 0.0
    opt.beta = beta
    opt.param = param
    opt.zero_clamp_grad = zero_grad
    if n == 0:
        return
    with nogil:
        for u in prange(n_units, schedule="static", num_threads=team):
            start = u * _CHUNK
            size = n - start if n - start < _CHUNK else _CHUNK
            _xcurv(px + start, py + start, pp + start,
                   pw + start if pw != NULL else NULL, size, &opt, fisher,
                   scale, o1 + start, o2 + start, o3 + start)
