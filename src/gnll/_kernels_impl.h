/*
 * The typed body of the block kernels, included by _kernels.c once per
 * (storage type, instruction set) pair.  Before inclusion, the includer
 * defines
 *     T        the storage type of the arrays (double or float),
 *     NAME(f)  the name of function f for this instantiation.
 * Arithmetic is done in double, whatever T is (a float32 element is widened
 * in registers, never copied, and every output is rounded to T once), except
 * on the single-precision path for float32 blocks (GNLL_SINGLE, below).
 *
 * Each block of at most GNLL_BLK elements is processed in two short loops
 * over L1-resident buffers: the first evaluates the per-element formulas
 * (vectorised, with glibc's vector log where available), the second writes
 * the requested outputs and accumulates the loss into GNLL_LANES fixed lanes.
 * The lane order never depends on the thread count, so sums are
 * reproducible bit for bit for any number of threads.  (The per-element
 * values themselves may differ between instruction sets by an ulp or so:
 * libmvec's log, FMA, gnll's exp polynomial on the FMA paths, and float32's
 * single-precision path.)
 */

/* 1 where this instantiation's instruction set has fused multiply-add. */
#ifdef __FMA__
#define GNLL_FMA 1
#else
#define GNLL_FMA 0
#endif

#ifdef GNLL_SINGLE
/* Whether this instantiation evaluates float32 data in float. */
static const int NAME(in_float) = GNLL_FMA;
#endif

/* lanes[j] += buf[k + j]: a fixed-order, exactly vectorisable partial sum. */
static inline void NAME(lane_add)(double *restrict lanes,
                                  const double *restrict buf, ptrdiff_t m)
{
    ptrdiff_t k = 0;
    for (; k + GNLL_LANES <= m; k += GNLL_LANES)
        for (int j = 0; j < GNLL_LANES; j++)
            lanes[j] += buf[k + j];
    for (int j = 0; k + j < m; j++)
        lanes[j] += buf[k + j];
}

/* lanes[k % 16] += a[k] (widened to double): gnll_sum_f64/f32's order,
 * for blocks that start a multiple of 16 elements into the sum. */
static inline void NAME(lane_add16)(double *restrict lanes,
                                    const T *restrict a, ptrdiff_t m)
{
    ptrdiff_t k = 0;
    for (; k + 16 <= m; k += 16)
        for (int j = 0; j < 16; j++)
            lanes[j] += (double)a[k + j];
    for (int j = 0; k + j < m; j++)
        lanes[j] += (double)a[k + j];
}

#if GNLL_FMA && !defined(GNLL_AVX512_MATH)
/* exp_inplace's rare blocks, with an argument beyond the polynomial's
 * range: both, and a select (the polynomial's value for such an argument
 * is meaningless but harmless). */
static __attribute__((noinline)) void NAME(exp_mixed)(double *restrict a,
                                                      ptrdiff_t m)
{
#pragma omp simd
    for (ptrdiff_t k = 0; k < m; k++) {
        const double p = gnll_exp_poly(a[k]), e = exp(a[k]);
        a[k] = fabs(a[k]) <= GNLL_EXP_POLY_MAX ? p : e;
    }
}
#endif

/* a[k] = exp(a[k]) for k < m: gnll_exp8 on the AVX-512 path; on the other
 * paths with FMA gnll_exp_poly, and glibc's exp (vectorised where libmvec
 * is) for arguments beyond its range or NaN; glibc's exp for every argument
 * on paths without FMA.  Element by element: which one an argument gets
 * never depends on its neighbours in the block. */
static GNLL_ALWAYS_INLINE void NAME(exp_inplace)(double *restrict a,
                                                 ptrdiff_t m)
{
#if defined(GNLL_AVX512_MATH)
    gnll_exp_avx512(a, a, 1.0, m);
#elif GNLL_FMA
    int out = 0;
#pragma omp simd reduction(| : out)
    for (ptrdiff_t k = 0; k < m; k++)
        out |= !(fabs(a[k]) <= GNLL_EXP_POLY_MAX);
    if (out) {
        NAME(exp_mixed)(a, m);
        return;
    }
#pragma omp simd
    for (ptrdiff_t k = 0; k < m; k++)
        a[k] = gnll_exp_poly(a[k]);
#else
#pragma omp simd
    for (ptrdiff_t k = 0; k < m; k++)
        a[k] = exp(a[k]);
#endif
}

/* dst[k] = exp(scale * src[k]) for k < m: in one pass on the AVX-512 path. */
static GNLL_ALWAYS_INLINE void NAME(exp_of_scaled)(double *restrict dst,
                                                   const double *restrict src,
                                                   double scale, ptrdiff_t m)
{
#if defined(GNLL_AVX512_MATH)
    gnll_exp_avx512(dst, src, scale, m);
#else
#pragma omp simd
    for (ptrdiff_t k = 0; k < m; k++)
        dst[k] = scale * src[k];
    NAME(exp_inplace)(dst, m);
#endif
}

/* A block's float64 log v in two steps, so that each path takes its fastest
 * form: log_in_loop inside the loop that fills the buffer (glibc's log,
 * vectorised where libmvec is), then log_after over the buffer (on the
 * AVX-512 path, gnll_log8, and log_in_loop is the identity). */
static GNLL_ALWAYS_INLINE double NAME(log_in_loop)(double v)
{
#if defined(GNLL_AVX512_MATH)
    return v;
#else
    return log(v);
#endif
}

static GNLL_ALWAYS_INLINE void NAME(log_after)(double *restrict a,
                                               ptrdiff_t m)
{
#if defined(GNLL_AVX512_MATH)
    gnll_log_inplace_avx512(a, m);
#else
    (void)a;
    (void)m;
#endif
}

/* The float32 path's log: out[k] = scale log(max(p[k], eps)), or with
 * absval scale log|p[k]| (scale 2: 2 log|sigma|), for k < m, in a loop of
 * its own (see block_single): on the AVX-512 path by gnll_logf16, in one
 * pass; on the others glibc's logf, vectorised where libmvec is. */
static GNLL_ALWAYS_INLINE void NAME(logf_clamped)(const float *restrict p,
                                                  ptrdiff_t m, float eps,
                                                  const int absval,
                                                  float scale,
                                                  float *restrict out)
{
#if defined(GNLL_AVX512_MATH)
    gnll_logf_clamped_avx512(p, m, eps, absval, scale, out);
#else
#pragma omp simd
    for (ptrdiff_t k = 0; k < m; k++) {
        const float pk = p[k];
        out[k] = scale * logf(absval ? fabsf(pk) : pk < eps ? eps : pk);
    }
#endif
}

#if GNLL_NT_STORES
#if defined(__AVX512F__)
#define GNLL_NT_BYTES 64
#elif defined(__AVX__)
#define GNLL_NT_BYTES 32
#else
#define GNLL_NT_BYTES 16
#endif
/* The pending line of slot s, as T. */
static inline T *NAME(pending)(gnll_nt *nt, int s)
{
    return sizeof(T) == sizeof(double) ? (T *)(void *)nt->line[s].d
                                       : (T *)(void *)nt->line[s].f;
}

/* One full cache line, src (64 bytes) to dst (64-byte aligned), with
 * non-temporal stores as wide as the instruction set has. */
static inline void NAME(stream_line)(void *dst, const void *src)
{
    for (int j = 0; j < GNLL_NT_LINE; j += GNLL_NT_BYTES) {
        double *dd = (double *)(void *)((char *)dst + j);
        const double *sd = (const double *)(const void *)((const char *)src + j);
#if GNLL_NT_BYTES == 64
        _mm512_stream_pd(dd, _mm512_loadu_pd(sd));
#elif GNLL_NT_BYTES == 32
        _mm256_stream_pd(dd, _mm256_loadu_pd(sd));
#else
        _mm_stream_pd(dd, _mm_loadu_pd(sd));
#endif
    }
}

/* dst[k] = src[k] for k < m, the whole cache lines with non-temporal
 * stores.  The partial line at the end is kept pending in nt (see gnll_nt)
 * and streamed once a later call, writing on from where this one stopped,
 * completes it; a partial line at the start that completes no pending line
 * is written with ordinary stores, as is a dst that is not even
 * element-aligned. */
static inline void NAME(stream_copy)(gnll_nt *nt, T *restrict dst,
                                     const T *restrict src, ptrdiff_t m)
{
    const ptrdiff_t line = GNLL_NT_LINE / (ptrdiff_t)sizeof(T);
    ptrdiff_t k = 0;
    if ((uintptr_t)dst % sizeof(T) != 0) {
        for (; k < m; k++)
            dst[k] = src[k];
        return;
    }
    if ((uintptr_t)dst % GNLL_NT_LINE != 0) {
        const int s = gnll_nt_find(nt, dst);
        if (s < 0) {
            while (k < m && (uintptr_t)(dst + k) % GNLL_NT_LINE != 0) {
                dst[k] = src[k];
                k++;
            }
        } else {
            T *pend = NAME(pending)(nt, s);
            ptrdiff_t j = nt->fill[s] / (ptrdiff_t)sizeof(T);
            while (k < m && j < line)
                pend[j++] = src[k++];
            if (j < line) {
                nt->fill[s] = j * (ptrdiff_t)sizeof(T);
                return;
            }
            NAME(stream_line)(nt->base[s], pend);
            nt->base[s] = NULL;
        }
    }
    for (; k + line <= m; k += line)
        NAME(stream_line)(dst + k, src + k);
    if (k < m) {
        const int s = gnll_nt_find(nt, NULL);
        if (s < 0) {
            for (; k < m; k++)
                dst[k] = src[k];
            return;
        }
        T *pend = NAME(pending)(nt, s);
        nt->base[s] = (unsigned char *)(void *)(dst + k);
        nt->fill[s] = (m - k) * (ptrdiff_t)sizeof(T);
        for (ptrdiff_t j = 0; k < m; j++, k++)
            pend[j] = src[k];
    }
}
#undef GNLL_NT_BYTES
#endif

/* dst[k] = sign * src[k] (sign +1 or -1: exact), streamed if `stream`. */
static inline void NAME(copy_out)(T *restrict dst, const T *restrict src,
                                  int sign, ptrdiff_t m, gnll_nt *stream)
{
#if GNLL_NT_STORES
    if (stream) {
        if (sign > 0) {
            NAME(stream_copy)(stream, dst, src, m);
        } else {
            T ob[GNLL_BLK] __attribute__((aligned(64)));
            for (ptrdiff_t k = 0; k < m; k++)
                ob[k] = -src[k];
            NAME(stream_copy)(stream, dst, ob, m);
        }
        return;
    }
#else
    (void)stream;
#endif
    if (sign > 0)
        for (ptrdiff_t k = 0; k < m; k++)
            dst[k] = src[k];
    else
        for (ptrdiff_t k = 0; k < m; k++)
            dst[k] = -src[k];
}

/* dst[k] = (T)(sign * a[k] * b[k]) (b NULL: (T)a[k]), with non-temporal
 * stores when `stream` is set: for outputs much larger than the caches, this
 * saves reading every output line before overwriting it. */
static inline void NAME(put)(T *restrict dst, const double *restrict a,
                             const double *restrict b, double sign,
                             ptrdiff_t m, gnll_nt *stream)
{
    T ob[GNLL_BLK] __attribute__((aligned(64)));
    T *to = dst;
#if GNLL_NT_STORES
    if (stream)
        to = ob;
#else
    (void)stream;
#endif
    if (b)
        for (ptrdiff_t k = 0; k < m; k++)
            to[k] = (T)(sign * (a[k] * b[k]));
    else
        for (ptrdiff_t k = 0; k < m; k++)
            to[k] = (T)a[k];
#if GNLL_NT_STORES
    if (to == ob)
        NAME(stream_copy)(stream, dst, ob, m);
#endif
}

/*
 * Write one block's outputs from its per-element buffers:
 *   lb = loss, tb = r/v, db = 0.5*(1/v - r^2/v^2).
 * gv receives elementwise var gradients; gv_lanes (instead) their lane sums.
 */
static inline void NAME(emit)(ptrdiff_t m, const double *restrict lb,
                              const double *restrict tb,
                              const double *restrict db, T *restrict loss,
                              T *restrict gx, T *restrict gy, T *restrict gv,
                              double *restrict gv_lanes,
                              const T *restrict gout, double gscale,
                              double *restrict lanes, gnll_nt *stream)
{
    double sb[GNLL_BLK];
    if (loss)
        NAME(put)(loss, lb, NULL, 1.0, m, stream);
    if (gx || gy || gv || gv_lanes) {
        if (gout)
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale * (double)gout[k];
        else
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale;
        if (gx)
            NAME(put)(gx, sb, tb, 1.0, m, stream);
        if (gy)
            NAME(put)(gy, sb, tb, -1.0, m, stream);
        if (gv)
            NAME(put)(gv, sb, db, 1.0, m, stream);
        if (gv_lanes) {
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] *= db[k];
            NAME(lane_add)(gv_lanes, sb, m);
        }
    }
    NAME(lane_add)(lanes, lb, m);
}

/* The gradients of a block that were scaled and stored in the element loop
 * (tx, tv: the outputs themselves, or ox, ov when streamed): the streamed
 * ones copied out, and d/dtarget = -d/dinput.  Pointers are the block's. */
static inline void NAME(copy_direct)(ptrdiff_t m, const T *tx, const T *tv,
                                     const T *ox, const T *ov, T *gx, T *gy,
                                     T *gv, gnll_nt *stream)
{
    if (gx && tx == ox)
        NAME(copy_out)(gx, ox, 1, m, stream);
    if (gy)
        NAME(copy_out)(gy, tx, -1, m, stream);
    if (gv && tv == ov)
        NAME(copy_out)(gv, ov, 1, m, stream);
}

/* The end of such a block: its gradients (copy_direct), and the loss in lb. */
static inline void NAME(finish_direct)(ptrdiff_t m, const double *restrict lb,
                                       const T *tx, const T *tv, const T *ox,
                                       const T *ov, T *loss, T *gx, T *gy,
                                       T *gv, double *restrict lanes,
                                       gnll_nt *stream)
{
    NAME(copy_direct)(m, tx, tv, ox, ov, gx, gy, gv, stream);
    if (loss)
        NAME(put)(loss, lb, NULL, 1.0, m, stream);
    NAME(lane_add)(lanes, lb, m);
}

#if defined(GNLL_SINGLE) && GNLL_FMA
/*
 * Single-precision evaluation of one block of the plain var kernel (float32
 * data only).  The formulas are the double ones, evaluated in float with
 * twice the vector lanes and the vector logf; the outputs and the loss are
 * within a few ulp of the double evaluation rounded to float (the tests and
 * benchmarks/compare.py measure it): r = x - y is kept exactly as rh + rl,
 * t = r / v is within about half an ulp, and the var gradient is formed
 * as -0.5 iv (r t - 1) with FMA (see gnll_dvar_exact).  Only instruction
 * sets with FMA take this path.
 * Only blocks where every element is safely inside float's range are done
 * here: 2^-30 <= v <= 2^30, |r| 0 or within 2^-60..2^30, and upstream
 * gradients 0 or within 2^-30..2^30 keep the intermediates (r/v normal,
 * r^2/v^2 <= 2^120) finite and free of underflow; NaN or inf anywhere fails
 * the test.  Any other block returns 0 and is recomputed in double, so edge
 * cases behave as in float64.
 */
#define GNLL_SAFE_HI 0x1p30f
#define GNLL_SAFE_LO 0x1p-30f
/* |r| in range: 0, or between 2^-60 and 2^30 (so that r / v is normal) */
#define GNLL_SAFE_R(r)                                                       \
    ((fabsf(r) <= GNLL_SAFE_HI) & ((fabsf(r) >= 0x1p-60f) | ((r) == 0.0f)))

/* dst[k] = sign * a[k] * b[k] (b NULL: a[k]) from float buffers, with
 * non-temporal stores when `stream` is set (see stream_copy). */
static inline void NAME(put_single)(float *restrict dst,
                                    const float *restrict a,
                                    const float *restrict b, float sign,
                                    ptrdiff_t m, gnll_nt *stream)
{
    float ob[GNLL_BLK] __attribute__((aligned(64)));
    float *to = dst;
#if GNLL_NT_STORES
    if (stream)
        to = ob;
#else
    (void)stream;
#endif
    if (b)
        for (ptrdiff_t k = 0; k < m; k++)
            to[k] = sign * (a[k] * b[k]);
    else
        for (ptrdiff_t k = 0; k < m; k++)
            to[k] = a[k];
#if GNLL_NT_STORES
    if (to == ob)
        NAME(stream_copy)(stream, dst, ob, m);
#endif
}

/* lanes[j] += the sum of buf[k + j] (widened to double) over k, in a fixed
 * order: two interleaved accumulators of GNLL_LANES lanes (elements k with
 * k % 16 < 8 and >= 8), so that consecutive additions do not wait on each
 * other, folded into `lanes` at the end. */
static inline void NAME(lane_add_single)(double *restrict lanes,
                                         const float *restrict buf,
                                         ptrdiff_t m)
{
    double a0[GNLL_LANES] = {0}, a1[GNLL_LANES] = {0};
    ptrdiff_t k = 0;
    for (; k + 2 * GNLL_LANES <= m; k += 2 * GNLL_LANES) {
        for (int j = 0; j < GNLL_LANES; j++)
            a0[j] += (double)buf[k + j];
        for (int j = 0; j < GNLL_LANES; j++)
            a1[j] += (double)buf[k + GNLL_LANES + j];
    }
    for (int j = 0; k + j < m; j++)
        (j < GNLL_LANES ? a0 : a1)[j % GNLL_LANES] += (double)buf[k + j];
    for (int j = 0; j < GNLL_LANES; j++)
        lanes[j] += a0[j] + a1[j];
}

/* 1 if an upstream gradient is outside the safe range (it could make the
 * float product g = gscale * gout underflow). */
static inline int NAME(gout_unsafe)(const float *restrict gout, ptrdiff_t m)
{
    int bad = 0;
    if (gout)
#pragma omp simd reduction(| : bad)
        for (ptrdiff_t k = 0; k < m; k++) {
            const float a = fabsf(gout[k]);
            bad |= !((a <= GNLL_SAFE_HI) & ((a >= GNLL_SAFE_LO) | (a == 0.0f)));
        }
    return bad;
}

/* emit() for float buffers: lb = loss, tb = d/dinput and db = d/dparameter
 * factors, each times g = gscale * gout[k]. */
static inline void NAME(emit_single)(ptrdiff_t m, const float *restrict lb,
                                     const float *restrict tb,
                                     const float *restrict db,
                                     float *restrict loss, float *restrict gx,
                                     float *restrict gy, float *restrict gv,
                                     const float *restrict gout, float gscale,
                                     double *restrict lanes, gnll_nt *stream)
{
    float sb[GNLL_BLK];
    if (loss)
        NAME(put_single)(loss, lb, NULL, 1.0f, m, stream);
    if (gx || gy || gv) {
        if (gout)
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale * gout[k];
        else
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale;
        if (gx)
            NAME(put_single)(gx, sb, tb, 1.0f, m, stream);
        if (gy)
            NAME(put_single)(gy, sb, tb, -1.0f, m, stream);
        if (gv)
            NAME(put_single)(gv, sb, db, 1.0f, m, stream);
    }
    NAME(lane_add_single)(lanes, lb, m);
}

/* The end of a float block whose gradients were scaled and stored in the
 * element loop (tx, tv: the outputs themselves, or ox, ov when streamed). */
static inline void NAME(finish_direct_single)(
    ptrdiff_t m, const float *restrict lb, const float *tx, const float *tv,
    const float *ox, const float *ov, float *loss, float *gx, float *gy,
    float *gv, double *restrict lanes, gnll_nt *stream)
{
    NAME(copy_direct)(m, tx, tv, ox, ov, gx, gy, gv, stream);
    if (loss)
        NAME(put_single)(loss, lb, NULL, 1.0f, m, stream);
    NAME(lane_add_single)(lanes, lb, m);
}

static inline int NAME(block_single)(const float *restrict xb,
                                     const float *restrict yb,
                                     const float *restrict vb, ptrdiff_t m,
                                     float eps, float c, int want_grad,
                                     float *restrict loss, float *restrict gx,
                                     float *restrict gy, float *restrict gv,
                                     const float *restrict gout, float gscale,
                                     double *restrict lanes, gnll_nt *stream,
                                     int *neg)
{
    float lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    float ox[GNLL_BLK] __attribute__((aligned(64)));
    float ov[GNLL_BLK] __attribute__((aligned(64)));
    int bad = 0, ng = 0;
    /* Without an upstream gradient array, the gradients are scaled in the
     * loop and written straight into the outputs (or ox, ov when streamed);
     * a block found unsafe is then simply rewritten by the double path. */
    const int direct = want_grad && !gout;
    float *tx = !direct ? tb : gx && !stream ? gx : ox;
    float *tv = !direct ? db : gv && !stream ? gv : ov;
    const float gs = direct ? gscale : 1.0f;
    if (want_grad) {
        /* log v first, in a loop of its own: the vector logf call clobbers
         * every vector register, and the gradient loop's many live values
         * would be spilled around it */
        NAME(logf_clamped)(vb, m, eps, 0, 1.0f, lb);
#pragma omp simd reduction(| : bad, ng)
        for (ptrdiff_t k = 0; k < m; k++) {
            const float vk = vb[k], xk = xb[k], yk = yb[k];
            ng |= vk < 0.0f;
            const float vc = vk < eps ? eps : vk;
            const float r = xk - yk;
            /* bitwise &: short-circuit tests would stop vectorisation */
            bad |= !(GNLL_SAFE_R(r) & (vc >= GNLL_SAFE_LO) &
                     (vc <= GNLL_SAFE_HI));
            const float rl = gnll_diff_lo_single(xk, yk, r);
            const float iv = 1.0f / vc;
            const float t = gnll_ratio_single(r, rl, vc, iv);
            lb[k] = 0.5f * (lb[k] + r * t) + c;
            tx[k] = gs * t;
            tv[k] = gs * gnll_dvar_exact_single(r, rl, t, iv);
        }
    } else {
        /* log v in a loop of its own here too: inline, the call's register
         * clobbers cost more than the extra pass over lb */
        NAME(logf_clamped)(vb, m, eps, 0, 1.0f, lb);
#pragma omp simd reduction(| : bad, ng)
        for (ptrdiff_t k = 0; k < m; k++) {
            const float vk = vb[k];
            ng |= vk < 0.0f;
            const float vc = vk < eps ? eps : vk;
            const float r = xb[k] - yb[k];
            /* bitwise &: short-circuit tests would stop vectorisation */
            bad |= !(GNLL_SAFE_R(r) & (vc >= GNLL_SAFE_LO) &
                     (vc <= GNLL_SAFE_HI));
            lb[k] = 0.5f * (lb[k] + r * (r / vc)) + c;
        }
    }
    bad |= NAME(gout_unsafe)(gout, m);
    if (bad)
        return 0;
    *neg |= ng;
    if (!direct) {
        NAME(emit_single)(m, lb, tb, db, loss, gx, gy, gv, gout, gscale,
                          lanes, stream);
        return 1;
    }
    NAME(finish_direct_single)(m, lb, tx, tv, ox, ov, loss, gx, gy, gv,
                               lanes, stream);
    return 1;
}
#endif /* GNLL_SINGLE */

#if defined(GNLL_AVX512_MATH)
/* One vector of log_clamped's pass: 8 elements of p (with tail = 1, the
 * lanes outside `in` are neither read nor written). */
static GNLL_ALWAYS_INLINE void
NAME(log_clamped8)(const T *restrict p, double *restrict lb, const int tail,
                   __mmask8 in, __m512d epsv, const int square, __m512d *lo,
                   __m512d *hi, double *restrict rb)
{
    __m512d x;
    if (sizeof(T) == sizeof(double))
        x = tail ? _mm512_maskz_loadu_pd(in, (const double *)p)
                 : _mm512_loadu_pd((const double *)p);
    else
        x = _mm512_cvtps_pd(tail ? _mm256_maskz_loadu_ps(in, (const float *)p)
                                 : _mm256_loadu_ps((const float *)p));
    if (square)
        x = _mm512_mul_pd(x, x);
    /* gnll_clamp: vmaxpd returns its second operand for a NaN, so does
     * vminpd (NaN left out of lo and hi) */
    const __m512d vc = _mm512_max_pd(epsv, x);
    *lo = _mm512_mask_min_pd(*lo, in, vc, *lo);
    *hi = _mm512_mask_max_pd(*hi, in, vc, *hi);
    const __m512d lv = gnll_log8(vc);
    if (tail)
        _mm512_mask_storeu_pd(lb, in, lv);
    else
        _mm512_storeu_pd(lb, lv);
    if (rb) {
        const __m512d y = gnll_rsqrt8(vc);
        if (tail)
            _mm512_mask_storeu_pd(rb, in, y);
        else
            _mm512_storeu_pd(rb, y);
    }
}
#endif

/* lb[k] = log v[k], v the clamped variance of var p[k] (square = 0) or of
 * std p[k] (square = 1), in a loop of its own (see block_single), and with
 * tb (not NULL) tb[k] = v^beta = exp(beta lb[k]) for beta-NLL, and with rb
 * (not NULL; the AVX-512 path only) rb[k] = 1/sqrt(v) (gnll_rsqrt8, whose
 * range holds wherever the return value is 0; in the log's pass, as its
 * chain is short: in a pass of its own it was slower); returns
 * whether the block's least or greatest v (NaN left out) is beyond
 * gnll_far_range, i.e. whether xfar_param has elements to look for.  On the
 * AVX-512 path the log in one pass (gnll_log8; no copy into lb first); on
 * the others log_in_loop and log_after. */
static GNLL_ALWAYS_INLINE int NAME(log_clamped)(const T *restrict pb,
                                                ptrdiff_t m, double eps,
                                                const int square, double beta,
                                                double *restrict lb,
                                                double *restrict tb,
                                                double *restrict rb)
{
#if defined(GNLL_AVX512_MATH)
    const __m512d epsv = _mm512_set1_pd(eps);
    __m512d lov = _mm512_set1_pd(1.0), hiv = lov;
    ptrdiff_t k = 0;
    for (; k + 8 <= m; k += 8)
        NAME(log_clamped8)(pb + k, lb + k, 0, 0xFF, epsv, square, &lov, &hiv,
                           rb ? rb + k : NULL);
    if (k < m)
        NAME(log_clamped8)(pb + k, lb + k, 1, (__mmask8)((1u << (m - k)) - 1u),
                           epsv, square, &lov, &hiv, rb ? rb + k : NULL);
    const double lo = _mm512_reduce_min_pd(lov), hi = _mm512_reduce_max_pd(hiv);
#else
    double lo = 1.0, hi = 1.0;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (ptrdiff_t k = 0; k < m; k++) {
        const double pk = (double)pb[k];
        const double vc = gnll_clamp(square ? pk * pk : pk, eps);
        lo = vc < lo ? vc : lo;
        hi = vc > hi ? vc : hi;
        lb[k] = NAME(log_in_loop)(vc);
    }
    NAME(log_after)(lb, m);
#endif
    /* (a pass of its own: in the log's loop, the exp's long chain of
     * dependent operations after the log's leaves too few independent
     * ones in flight, and it was slower) */
    if (tb)
        NAME(exp_of_scaled)(tb, lb, beta, m);
    return gnll_far_range(lo, hi);
}

/* The var and std elements that need it (gnll_param_far; for std and
 * beta-NLL gnll_beta_far, and for beta < 0 gnll_result_far) redone in long
 * double (gnll_far_element): lb = loss and, with want_grad, either
 * (direct = 0) tb = d/dinput and db = d/dtheta, or (direct = 1)
 * tx, tv = those times gscale, rounded to T.  A scalar pass for the blocks
 * that have such elements; element by element, so that no value depends on
 * its neighbours. */
static void NAME(xfar_param)(const T *restrict xb, const T *restrict yb,
                             const T *restrict pb, ptrdiff_t m,
                             const gnll_options *o, const int want_grad,
                             const int direct, double gscale,
                             double *restrict lb, double *restrict tb,
                             double *restrict db, T *restrict tx,
                             T *restrict tv)
{
#if defined(GNLL_AVX512_MATH)
    /* beta = 1/2 without gradients: xeval's form from 1/sqrt(v) (rs),
     * which needs no test of r/v (so none here either: an element is
     * redone only for its own sake), and whose 1/sqrt(v) is NaN for v =
     * inf: such elements get the plain form's value */
    const int rs = o->beta == 0.5 && !want_grad;
#else
    const int rs = 0;
#endif
    for (ptrdiff_t k = 0; k < m; k++) {
        const double pk = (double)pb[k];
        const double vc = gnll_clamp(
            o->param == GNLL_PARAM_STD ? pk * pk : pk, o->eps);
        const double xk = (double)xb[k], yk = (double)yb[k];
        int far = gnll_param_far(pk, vc);
        if (rs) {
            if (!far && vc > DBL_MAX) {
                const double r = xk - yk;
                lb[k] = sqrt(vc) * gnll_loss(log(vc), r, r * (1.0 / vc), o->c);
            }
            if (!far)
                continue;
        }
        if (!far && (o->beta != 0.0 || o->param == GNLL_PARAM_STD))
            far = gnll_beta_far(xk - yk, vc, o->beta,
                                want_grad && o->beta != 0.0);
        if (!far && o->beta < 0.0)
            far = gnll_result_far(xk, yk, pk, vc, lb[k],
                                  !want_grad ? 0.0
                                  : direct   ? (double)tv[k]
                                             : db[k]);
        if (!far)
            continue;
        double gt, gp;
        lb[k] = gnll_far_element(xk, yk, pk, o, &gt, &gp);
        if (!want_grad)
            continue;
        if (direct) {
            tx[k] = (T)(gscale * gt);
            tv[k] = (T)(gscale * gp);
        } else {
            tb[k] = gt;
            db[k] = gp;
        }
    }
}

/* The plain kernel's per-element loop with gradients: lb = loss, and either
 * (direct = 0) tb = r/v and db = d loss/d var in double, or (direct = 1)
 * tx = (T)(gscale r/v) and tv = (T)(gscale d loss/d var).  Inlined with a
 * constant `direct`, so each variant is its own vectorised loop.  Returns
 * whether some var is negative. */
static GNLL_ALWAYS_INLINE int
NAME(eval_grad)(const T *restrict xb, const T *restrict yb,
                const T *restrict vb, ptrdiff_t m, double eps, double c,
                double gscale, const int direct, double *restrict lb,
                double *restrict tb, double *restrict db, T *restrict tx,
                T *restrict tv)
{
    int neg = 0;
    const int far = NAME(log_clamped)(vb, m, eps, 0, 0.0, lb, NULL, NULL);
#pragma omp simd reduction(| : neg)
    for (ptrdiff_t k = 0; k < m; k++) {
        const double vk = (double)vb[k];
        const double xk = (double)xb[k], yk = (double)yb[k];
        neg |= vk < 0.0;
        const double vc = gnll_clamp(vk, eps);
        const double r = xk - yk;
        const double rl = gnll_diff_lo(xk, yk, r);
        const double iv = 1.0 / vc;
        const double t_plain = r * iv;
        const double t = gnll_finite_or(gnll_ratio(r, rl, vc, iv, GNLL_FMA),
                                        t_plain);
        const double d = gnll_finite_or(
            gnll_dvar_exact(r, rl, t, vc, iv, GNLL_FMA),
            gnll_dvar(iv, t_plain));
        lb[k] = gnll_loss(lb[k], r, t, c);
        if (direct) {
            tx[k] = (T)(gscale * t);
            tv[k] = (T)(gscale * d);
        } else {
            tb[k] = t;
            db[k] = d;
        }
    }
    if (far) {
        const gnll_options po = gnll_var_options(eps, c);
        NAME(xfar_param)(xb, yb, vb, m, &po, 1, direct, gscale, lb, tb, db,
                         tx, tv);
    }
    return neg;
}

static void NAME(block)(const T *restrict x, const T *restrict y,
                        const T *restrict v, ptrdiff_t n, double eps,
                        double c, T *restrict loss, T *restrict gx,
                        T *restrict gy, T *restrict gv,
                        const T *restrict gout, double gscale,
                        gnll_block_result *res)
{
    double lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    double lanes[GNLL_LANES] = {0};
    gnll_nt nt, *const stream = gnll_nt_start(&nt, res->stream);
    int neg = 0;
    const int want_grad = gx || gy || gv;
#if defined(GNLL_SINGLE) && GNLL_FMA
    /* eps, c and gscale as floats; the float path is taken only when they
     * are normal floats (so that rounding them costs at most half an ulp),
     * with gscale (1/n, 1, or a scalar upstream gradient) in 2^-60..2^30. */
    const float eps_single = (float)eps, c_single = (float)c;
    const float gscale_single = (float)gscale;
    const int single_ok = eps_single >= FLT_MIN && eps_single <= FLT_MAX &&
                          (c == 0.0 || c_single >= FLT_MIN) &&
                          gscale_single >= 0x1p-60f && gscale <= 0x1p30;
#endif

    for (ptrdiff_t b = 0; b < n; b += GNLL_BLK) {
        const ptrdiff_t m = n - b < GNLL_BLK ? n - b : GNLL_BLK;
        const T *xb = x + b, *yb = y + b, *vb = v + b;
#if defined(GNLL_SINGLE) && GNLL_FMA
        if (single_ok &&
            NAME(block_single)(xb, yb, vb, m, eps_single, c_single, want_grad,
                               loss ? loss + b : NULL, gx ? gx + b : NULL,
                               gy ? gy + b : NULL, gv ? gv + b : NULL,
                               gout ? gout + b : NULL, gscale_single, lanes,
                               stream, &neg))
            continue;
#endif
        if (want_grad && !gout) {
            /* No upstream gradient array: the gradients are scaled and
             * rounded to T in the loop, straight into the outputs (or into
             * ox, ov when those are streamed), skipping emit's passes. */
            T ox[GNLL_BLK] __attribute__((aligned(64)));
            T ov[GNLL_BLK] __attribute__((aligned(64)));
            T *tx = gx && !stream ? gx + b : ox;
            T *tv = gv && !stream ? gv + b : ov;
            neg |= NAME(eval_grad)(xb, yb, vb, m, eps, c, gscale, 1, lb,
                                   NULL, NULL, tx, tv);
            NAME(finish_direct)(m, lb, tx, tv, ox, ov, loss ? loss + b : NULL,
                                gx ? gx + b : NULL, gy ? gy + b : NULL,
                                gv ? gv + b : NULL, lanes, stream);
            continue;
        }
        if (want_grad) {
            neg |= NAME(eval_grad)(xb, yb, vb, m, eps, c, 1.0, 0, lb, tb, db,
                                   NULL, NULL);
        } else {
            const int far = NAME(log_clamped)(vb, m, eps, 0, 0.0, lb, NULL, NULL);
#pragma omp simd reduction(| : neg)
            for (ptrdiff_t k = 0; k < m; k++) {
                const double vk = (double)vb[k];
                neg |= vk < 0.0;
                const double vc = gnll_clamp(vk, eps);
                const double r = (double)xb[k] - (double)yb[k];
                lb[k] = gnll_loss(lb[k], r, r / vc, c);
            }
            if (far) {
                const gnll_options po = gnll_var_options(eps, c);
                NAME(xfar_param)(xb, yb, vb, m, &po, 0, 0, 1.0, lb, NULL,
                                 NULL, NULL, NULL);
            }
        }
        NAME(emit)(m, lb, tb, db, loss ? loss + b : NULL, gx ? gx + b : NULL,
                   gy ? gy + b : NULL, gv ? gv + b : NULL, NULL,
                   gout ? gout + b : NULL, gscale, lanes, stream);
    }
    gnll_finish(res, gnll_lanes_total(lanes), neg, stream);
}

static void NAME(rows)(const T *restrict x, const T *restrict y,
                       const T *restrict v, ptrdiff_t rows, ptrdiff_t cols,
                       double eps, double c, T *restrict loss,
                       T *restrict gx, T *restrict gy,
                       double *restrict gv_rows, const T *restrict gout,
                       double gscale, gnll_block_result *res)
{
    double lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    double lanes[GNLL_LANES] = {0};
    gnll_nt nt, *const stream = gnll_nt_start(&nt, res->stream);
    int neg = 0;
    const int want_grad = gx || gy || gv_rows;
    /* Without elementwise losses or upstream gradients, a row needs only
     * sum(r^2): its loss and var gradient follow in closed form. */
    const int row_sums = loss == NULL && gout == NULL;
    double total = 0.0;

    for (ptrdiff_t i = 0; i < rows; i++) {
        /* One log and one division per row: the homoscedastic saving. */
        const double vk = (double)v[i];
        neg |= vk < 0.0;
        const double vc = gnll_clamp(vk, eps);
        const double logv = log(vc);
        const double iv = 1.0 / vc;
        /* a variance outside 2^-1020..2^1020: the row's elements one by one
         * in long double (gnll_param_far) */
        const int far_row = gnll_param_far(vk, vc);
        if (row_sums && !far_row) {
            double s2_lanes[GNLL_LANES] = {0};
            for (ptrdiff_t b = 0; b < cols; b += GNLL_BLK) {
                const ptrdiff_t m = cols - b < GNLL_BLK ? cols - b : GNLL_BLK;
                const ptrdiff_t off = i * cols + b;
                const T *xb = x + off, *yb = y + off;
                /* d/dinput in the output type straight away: into the
                 * output itself, or into ob when it is streamed */
                T ob[GNLL_BLK] __attribute__((aligned(64)));
                T *to = gx && !stream ? gx + off : ob;
#pragma omp simd
                for (ptrdiff_t k = 0; k < m; k++) {
                    const double r = (double)xb[k] - (double)yb[k];
                    lb[k] = r * r;
                    to[k] = (T)(gscale * (r * iv));
                }
                if (gx && to == ob)
                    NAME(copy_out)(gx + off, ob, 1, m, stream);
                if (gy)
                    NAME(copy_out)(gy + off, to, -1, m, stream);
                NAME(lane_add)(s2_lanes, lb, m);
            }
            const double s2 = gnll_lanes_total(s2_lanes);
            if (s2 <= DBL_MAX) {
                total += gnll_row_loss(logv, iv, s2, (double)cols, c);
                if (gv_rows)
                    gv_rows[i] = gscale * gnll_row_dvar(iv, s2, (double)cols);
                continue;
            }
            /* sum(r^2) overflowed (or is NaN): the row elementwise below,
             * where r^2/v is formed as r (r/v) */
        }
        double gv_lanes[GNLL_LANES] = {0};
        /* a far row's loss, for row_sums' total */
        double row_lanes[GNLL_LANES] = {0};
        const gnll_options po = gnll_var_options(eps, c);
        for (ptrdiff_t b = 0; b < cols; b += GNLL_BLK) {
            const ptrdiff_t m = cols - b < GNLL_BLK ? cols - b : GNLL_BLK;
            const ptrdiff_t off = i * cols + b;
            const T *xb = x + off, *yb = y + off;
            if (far_row) {
                for (ptrdiff_t k = 0; k < m; k++)
                    lb[k] = gnll_far_element((double)xb[k], (double)yb[k], vk,
                                             &po, &tb[k], &db[k]);
            } else {
#pragma omp simd
                for (ptrdiff_t k = 0; k < m; k++) {
                    const double r = (double)xb[k] - (double)yb[k];
                    const double t = r * iv;
                    lb[k] = gnll_loss(logv, r, t, c);
                    tb[k] = t;
                    db[k] = gnll_dvar(iv, t);
                }
            }
            NAME(emit)(m, lb, tb, db, loss ? loss + off : NULL,
                       gx ? gx + off : NULL, gy ? gy + off : NULL, NULL,
                       want_grad && gv_rows ? gv_lanes : NULL,
                       gout ? gout + off : NULL, gscale,
                       row_sums ? row_lanes : lanes, stream);
        }
        if (row_sums)
            total += gnll_lanes_total(row_lanes);
        if (gv_rows)
            gv_rows[i] = gnll_lanes_total(gv_lanes);
    }
    gnll_finish(res, row_sums ? total : gnll_lanes_total(lanes), neg, stream);
}

/* ---- extended kernels --------------------------------------------------------
 * Variance parameterisations, beta-NLL, sample weights and the zero clamp
 * gradient (formulas in _kernels.h).  The variants are chosen once per block,
 * outside the element loops: NAME(xeval) is inlined with constant `param`,
 * `bmode` and `want_grad`, so each combination gets its own vectorised
 * loop; the clamp mask and the weights are applied afterwards by short
 * passes over the L1-resident buffers.
 *
 * bmode, how v^beta is formed: 0 no beta (1), 1 exp(beta log v),
 * 2 beta = 0.5 (the usual choice) and 3 beta = 1, without exp: sqrt(v) and
 * v, or for log_var from the exp it takes anyway (gnll_logvar_terms).
 */
static GNLL_ALWAYS_INLINE int
NAME(xeval)(const T *restrict xb, const T *restrict yb,
            const T *restrict pb, ptrdiff_t m, const gnll_options *o,
            const int param, const int bmode, const int want_grad,
            const int direct, double gscale, double *restrict lb,
            double *restrict tb, double *restrict db, T *restrict tx,
            T *restrict tv, double *restrict farb, int *restrict far)
{
    const double eps = o->eps, leps = o->log_eps, c = o->c, beta = o->beta;
    /* zero clamp mode: no gradient to theta where it is clamped, i.e.
     * p <= log_eps (log_var), p^2 <= eps (std), p <= eps (var) */
    const int zero = o->zero_clamp_grad;
    int neg = 0;
    /* The calls in loops of their own, as in eval_grad, so the element
     * loop's live values are not spilled around them: lb = E of
     * gnll_logvar_terms for log_var, log v otherwise; tb = v^beta for a
     * general beta (the element loop reads tb[k] before it may overwrite
     * it). */
    if (param == GNLL_PARAM_LOG_VAR) {
#pragma omp simd
        for (ptrdiff_t k = 0; k < m; k++)
            lb[k] = gnll_logvar_arg(gnll_clamp((double)pb[k], leps),
                                    bmode == 2);
        NAME(exp_inplace)(lb, m);
        if (bmode == 1) {
#pragma omp simd
            for (ptrdiff_t k = 0; k < m; k++)
                tb[k] = beta * gnll_clamp((double)pb[k], leps);
            NAME(exp_inplace)(tb, m);
        }
        int fix = 0;
#pragma omp simd reduction(| : fix)
        for (ptrdiff_t k = 0; k < m; k++) {
            const double s = gnll_clamp((double)pb[k], leps);
            const double r = (double)xb[k] - (double)yb[k];
            /* r/v, r^2/v, 1/v; r/sqrt(v) and 1/sqrt(v) for beta = 1/2 */
            double t, q, iv, rsv = 0.0, siv = 0.0;
            gnll_logvar_terms(s, r, lb[k], bmode == 2, &t, &q, &iv, &rsv,
                              &siv);
            /* v^beta = exp(beta s); from the exp already taken for 1/2, 1 */
            const double bw = bmode == 0   ? 1.0
                              : bmode == 2 ? 1.0 / siv
                              : bmode == 3 ? 1.0 / iv
                                           : tb[k];
            lb[k] = bw * gnll_loss_logvar(s, q, c);
            /* beta-NLL: the elements for xfar_logvar (farb) */
            const int fk =
                bmode == 1   ? gnll_logvar_needs_far(s, bw, lb[k], r, t)
                : bmode != 0 ? gnll_logvar_needs_far_usual(s, lb[k])
                             : 0;
            if (bmode == 1)
                farb[k] = (double)fk;  /* (the others: xfar_logvar) */
            fix |= fk;
            if (want_grad) {
                /* v^beta r / v: r / sqrt(v) for beta = 1/2 and r for
                 * beta = 1, with no extra rounding (nor an overflow of v) */
                const double gt = bmode == 2 ? rsv : bmode == 3 ? r : bw * t;
                const int off = zero & ((double)pb[k] <= leps);
                const double gd = off ? 0.0 : bw * gnll_dlogvar(q);
                if (direct) {
                    tx[k] = (T)(gscale * gt);
                    tv[k] = (T)(gscale * gd);
                } else {
                    tb[k] = gt;
                    db[k] = gd;
                }
            }
        }
        *far = fix;
    } else {
        /* beta = 1/2 without gradients, on the AVX-512 path: y = 1/sqrt(v)
         * from the log's pass (gnll_rsqrt8), and neither a division nor a
         * square root in the element loop (they share one slow unit, which
         * set this loop's pace): the loss is sqrt(v) (log v/2 + c) + r (r
         * y/2), sqrt(v) as v y.  (Forming the first term in the log's pass
         * instead was slower.)  For v in 2^-1020..2^1020 neither needs a
         * far-range test: sqrt(v) is within 2^+-510, and r (r y/2) =
         * r^2/(2 sqrt(v)) overflows only where the loss does (the other
         * term is then below 1 in size or positive).  For v beyond (far_v
         * holds) xfar_param redoes the element, in long double, or for v =
         * inf (y is NaN there) in the plain form. */
#if defined(GNLL_AVX512_MATH)
        const int rs = bmode == 2 && !want_grad;
#else
        const int rs = 0;
#endif
        const int far_v =
            NAME(log_clamped)(pb, m, eps, param == GNLL_PARAM_STD, beta, lb,
                              bmode == 1 ? tb : NULL, rs ? tb : NULL);
        /* beta-NLL: the least and greatest |r/v| (with gradients: without
         * them only the greatest matters) and v^beta, for
         * gnll_beta_far_range.  A general beta's v^beta = exp(beta log v)
         * is a normal number for v in 2^-1020..2^1020 if |beta| <= 1. */
        double tlo = 1.0, thi = 1.0, blo = 1.0, bhi = 1.0;
        if (bmode == 1 && fabs(beta) > 1.0)
#pragma omp simd reduction(min : blo) reduction(max : bhi)
            for (ptrdiff_t k = 0; k < m; k++) {
                blo = tb[k] < blo ? tb[k] : blo;
                bhi = tb[k] > bhi ? tb[k] : bhi;
            }
#pragma omp simd reduction(| : neg) reduction(min : tlo) reduction(max : thi)
        for (ptrdiff_t k = 0; k < m; k++) {
            const double pk = (double)pb[k];
            neg |= pk < 0.0;
            const double vc =
                gnll_clamp(param == GNLL_PARAM_STD ? pk * pk : pk, eps);
            const double r = (double)xb[k] - (double)yb[k];
            /* (rs: y = 1/sqrt(v), t = u = r y) */
            const double y = rs ? tb[k] : 0.0;
            const double iv = rs ? 0.0 : 1.0 / vc;
            const double t = rs ? r * y : r * iv;
            const double logv = lb[k];
            const double bw = bmode == 0   ? 1.0
                              : rs         ? vc * y
                              : bmode == 2 ? sqrt(vc)
                              : bmode == 3 ? vc
                                           : tb[k];
            if ((bmode != 0 || param == GNLL_PARAM_STD) && !rs) {
                const double at = fabs(t);
                if (bmode != 0 && want_grad)
                    tlo = at < tlo ? at : tlo;
                thi = at > thi ? at : thi;
            }
            lb[k] = rs ? fma(bw, 0.5 * logv + c, r * (0.5 * t))
                       : bw * gnll_loss(logv, r, t, c);
            if (want_grad) {
                const double d = gnll_dvar(iv, t);
                const double gt = bw * t;
                const int off =
                    zero & ((param == GNLL_PARAM_STD ? pk * pk : pk) <= eps);
                const double gd =
                    off ? 0.0
                        : bw * (param == GNLL_PARAM_STD ? (2.0 * pk) * d : d);
                if (direct) {
                    tx[k] = (T)(gscale * gt);
                    tv[k] = (T)(gscale * gd);
                } else {
                    tb[k] = gt;
                    db[k] = gd;
                }
            }
        }
        int fix = far_v |
                  ((bmode != 0 || param == GNLL_PARAM_STD) &
                   gnll_beta_far_range(tlo, thi, blo, bhi));
        if (bmode == 1 && beta < 0.0 && !fix) {
            /* v^beta < 1 where v > 1: a loss or d/dtheta may have
             * overflowed where the weighted value does not */
#pragma omp simd reduction(| : fix)
            for (ptrdiff_t k = 0; k < m; k++) {
                const double gd = !want_grad ? 0.0
                                  : direct   ? (double)tv[k]
                                             : db[k];
                fix |= !((fabs(lb[k]) <= DBL_MAX) & (fabs(gd) <= DBL_MAX));
            }
        }
        *far = fix;
    }
    return neg;
}

/* beta-NLL with log_var (beta != 0): the elements of a block that xeval
 * found to need them (gnll_logvar_needs_far; farb for a general beta)
 * redone with the far forms, which are right for every s
 * (gnll_logvar_far_element).  A scalar pass, for such blocks only; element
 * by element, so that no value depends on its neighbours. */
static void NAME(xfar_logvar)(const T *restrict xb, const T *restrict yb,
                              const T *restrict pb, ptrdiff_t m,
                              const gnll_options *o, const int want_grad,
                              const int direct, double gscale,
                              double *restrict lb, double *restrict tb,
                              double *restrict db, T *restrict tx,
                              T *restrict tv, const int bmode,
                              const double *restrict farb)
{
    for (ptrdiff_t k = 0; k < m; k++) {
        const double s = gnll_clamp((double)pb[k], o->log_eps);
        /* beta = 1/2 and 1: xeval's test again, from s and the loss */
        if (bmode == 1 ? farb[k] == 0.0
                       : !gnll_logvar_needs_far_usual(s, lb[k]))
            continue;
        const double r = (double)xb[k] - (double)yb[k];
        double ds, G;
        lb[k] = gnll_logvar_far_element(s, r, o->beta, o->c, &ds, &G);
        if (!want_grad)
            continue;
        const int off = o->zero_clamp_grad & ((double)pb[k] <= o->log_eps);
        const double gd = off ? 0.0 : ds;
        if (direct) {
            tx[k] = (T)(gscale * G);
            tv[k] = (T)(gscale * gd);
        } else {
            tb[k] = G;
            db[k] = gd;
        }
    }
}

/* Multiply the block's loss and gradient factors by the sample weights;
 * returns 1 if some weight is negative, NaN or infinite (the caller then
 * reports the error). */
static int NAME(xweigh)(const T *restrict wb, ptrdiff_t m, int want_grad,
                        double *restrict lb, double *restrict tb,
                        double *restrict db)
{
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (ptrdiff_t k = 0; k < m; k++) {
        const double wk = (double)wb[k];
        bad |= !((wk >= 0.0) & (wk <= DBL_MAX));  /* &: no branch */
        lb[k] *= wk;
    }
    if (want_grad)
        for (ptrdiff_t k = 0; k < m; k++) {
            tb[k] *= (double)wb[k];
            db[k] *= (double)wb[k];
        }
    return bad;
}

/* xweigh, then what emit writes without an upstream gradient array, in the
 * same pass: tx = (T)(gscale * (t w)), tv = (T)(gscale * (d w)). */
static int NAME(xweigh_direct)(const T *restrict wb, ptrdiff_t m,
                               double gscale, double *restrict lb,
                               const double *restrict tb,
                               const double *restrict db, T *restrict tx,
                               T *restrict tv)
{
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (ptrdiff_t k = 0; k < m; k++) {
        const double wk = (double)wb[k];
        bad |= !((wk >= 0.0) & (wk <= DBL_MAX));  /* &: no branch */
        lb[k] *= wk;
        tx[k] = (T)(gscale * (tb[k] * wk));
        tv[k] = (T)(gscale * (db[k] * wk));
    }
    return bad;
}

#define GNLL_XEVAL_B(P, B)                                                   \
    (direct      ? NAME(xeval)(xb, yb, pb, m, o, P, B, 1, 1, gscale, lb, tb,  \
                               db, tx, tv, farb, &far)                        \
     : want_grad ? NAME(xeval)(xb, yb, pb, m, o, P, B, 1, 0, 1.0, lb, tb, db, \
                               NULL, NULL, farb, &far)                        \
                 : NAME(xeval)(xb, yb, pb, m, o, P, B, 0, 0, 1.0, lb, tb, db, \
                               NULL, NULL, farb, &far))
#define GNLL_XEVAL(P)                                                        \
    (bmode == 0   ? GNLL_XEVAL_B(P, 0)                                       \
     : bmode == 2 ? GNLL_XEVAL_B(P, 2)                                       \
     : bmode == 3 ? GNLL_XEVAL_B(P, 3)                                       \
                  : GNLL_XEVAL_B(P, 1))

#if defined(GNLL_SINGLE) && GNLL_FMA
/*
 * The extended kernels' single-precision path for float32 data, as
 * block_single is the plain kernel's: the same formulas as xeval, in float
 * (gnll_expf_poly for log_var and general beta), taken only for blocks whose
 * values are all inside the safe range: v (after the parameterisation and
 * the clamp) and |r| as for block_single, |log_var| <= 20, |beta log v| <= 2
 * for a general beta, weights 0 or within 2^-30..2^30, and every weighted
 * value finite.  Any other block (including bad weights, which the double
 * path reports) returns 0 and is evaluated in double.
 */
static GNLL_ALWAYS_INLINE int
NAME(xeval_single)(const float *restrict xb, const float *restrict yb,
                   const float *restrict pb, ptrdiff_t m, float eps,
                   float leps, float c, float beta, float beta_lo,
                   const int param,
                   const int bmode, const int want_grad, float *restrict lb,
                   float gs, float *restrict tx, float *restrict tv, int *neg)
{
    int bad = 0, ng = 0;
    /* The calls in loops of their own (see block_single): aux = v for
     * log_var, 2 log|sigma| for std, log v for var.  (A general beta's
     * v^beta = exp(beta log v), in float, is taken in the element loop: in
     * a loop of its own it was 8% slower, unlike float64's exp.) */
    float aux[GNLL_BLK];
    if (param == GNLL_PARAM_LOG_VAR) {
#pragma omp simd
        for (ptrdiff_t k = 0; k < m; k++) {
            const float pk = pb[k];
            aux[k] = gnll_expf_poly(pk < leps ? leps : pk);
        }
    } else {
        NAME(logf_clamped)(pb, m, eps, param == GNLL_PARAM_STD,
                           param == GNLL_PARAM_STD ? 2.0f : 1.0f, aux);
    }
#pragma omp simd reduction(| : bad, ng)
    for (ptrdiff_t k = 0; k < m; k++) {
        const float pk = pb[k], xk = xb[k], yk = yb[k];
        const float r = xk - yk;
        float vc, logv;
        if (param == GNLL_PARAM_LOG_VAR) {
            logv = pk < leps ? leps : pk;
            bad |= !(fabsf(logv) <= 20.0f);
            vc = aux[k];
        } else if (param == GNLL_PARAM_STD) {
            /* log v = max(log eps, 2 log|sigma|): rounding sigma^2 first
             * would cost an absolute 2^-24 in log v, a lot where v is near
             * 1.  (Not written as a select of two logf calls: a call inside
             * a conditional stops vectorisation.) */
            ng |= pk < 0.0f;
            const float vv = pk * pk;
            vc = vv < eps ? eps : vv;
            bad |= !((vc >= GNLL_SAFE_LO) & (vc <= GNLL_SAFE_HI));
            logv = aux[k] < leps ? leps : aux[k];
        } else {
            ng |= pk < 0.0f;
            vc = pk < eps ? eps : pk;
            bad |= !((vc >= GNLL_SAFE_LO) & (vc <= GNLL_SAFE_HI));
            logv = aux[k];
        }
        bad |= !GNLL_SAFE_R(r);
        /* the loss alone needs r / v only to within an ulp or so */
        const float rl = want_grad ? gnll_diff_lo_single(xk, yk, r) : 0.0f;
        const float iv = want_grad ? 1.0f / vc : 0.0f;
        const float t = want_grad ? gnll_ratio_single(r, rl, vc, iv) : r / vc;
        float bw = 1.0f;
        if (bmode == 1) {
            /* beta = beta_hi + beta_lo exactly enough; |beta log v| <= 2
             * keeps the error that log v's rounding puts into v^beta
             * within about an ulp */
            const float bl = fmaf(beta, logv, beta_lo * logv);
            bad |= !(fabsf(bl) <= 2.0f);
            bw = gnll_expf_poly(bl);
        } else if (bmode == 2) {
            bw = sqrtf(vc);
        } else if (bmode == 3) {
            bw = vc;
        }
        /* In the safe range |log v| <= 21, |r t| <= 2^90, bw <= 2^30, so the
         * loss is below 2^120 and, with gs <= 2^30 and |t| <= 2^60, so is the
         * input gradient: only the parameter's gradient can overflow. */
        lb[k] = bw * (0.5f * (logv + r * t) + c);
        if (want_grad) {
            /* d/dv = 0.5 iv (1 - r t); d/ds = v d/dv; d/dsigma = 2 sigma d/dv */
            const float u1 = gnll_one_minus_rt_single(r, rl, t);
            const float d = param == GNLL_PARAM_LOG_VAR ? 0.5f * u1
                            : param == GNLL_PARAM_STD
                                ? (2.0f * pk) * (0.5f * iv * u1)
                                : 0.5f * iv * u1;
            tx[k] = gs * (bw * t);
            /* In the safe range |d| <= 2^119 (var; log_var 2^88, std
             * 2^105 as formed) and |bw d| <= 2^122 for every beta mode, so
             * only the final product with gs (up to 2^30) can overflow: as
             * in block_single, an infinite tv is the exact value's
             * rounding.  (The zero clamp mode: in xblock_single.) */
            tv[k] = gs * (bw * d);
        }
    }
    *neg |= ng;
    return bad;
}

#define GNLL_XEVAL_SINGLE_B(P, B)                                             \
    (want_grad ? NAME(xeval_single)(xb, yb, pb, m, eps, leps, c, beta,        \
                                    beta_lo, P, B, 1, lb, gs, tx, tv, &ng)    \
               : NAME(xeval_single)(xb, yb, pb, m, eps, leps, c, beta,        \
                                    beta_lo, P, B, 0, lb, gs, tx, tv, &ng))
#define GNLL_XEVAL_SINGLE(P)                                                 \
    (bmode == 0   ? GNLL_XEVAL_SINGLE_B(P, 0)                                \
     : bmode == 2 ? GNLL_XEVAL_SINGLE_B(P, 2)                                \
     : bmode == 3 ? GNLL_XEVAL_SINGLE_B(P, 3)                                \
                  : GNLL_XEVAL_SINGLE_B(P, 1))

/* The options in the form xblock_single uses, worked out once per call. */
typedef struct {
    float eps, c, beta, beta_lo;
    float leps;  /* log_var: the parameter's clamp log(eps); std: log v at
                    the clamp */
    float zthr;  /* the zero clamp mode's threshold, as a float (the same
                    test as xeval's in double) */
} NAME(single_options);

static void NAME(single_options_of)(const gnll_options *o,
                                    NAME(single_options) *so)
{
    so->eps = (float)o->eps;
    so->c = (float)o->c;
    so->beta = (float)o->beta;
    so->beta_lo = (float)(o->beta - (double)so->beta);
    so->leps = o->param != GNLL_PARAM_LOG_VAR ? logf(so->eps)
               : o->log_eps < -1e30          ? -FLT_MAX
                                             : (float)o->log_eps;
    so->zthr = gnll_zero_threshold_single(o);
}

static int NAME(xblock_single)(const float *restrict xb,
                               const float *restrict yb,
                               const float *restrict pb,
                               const float *restrict wb, ptrdiff_t m,
                               const gnll_options *o,
                               const NAME(single_options) *so, int bmode,
                               float *restrict loss, float *restrict gx,
                               float *restrict gy, float *restrict gp,
                               const float *restrict gout, float gscale,
                               double *restrict lanes, gnll_nt *stream,
                               int *neg)
{
    float lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    const float eps = so->eps, c = so->c, beta = so->beta;
    const float beta_lo = so->beta_lo, leps = so->leps;
    const int want_grad = gx || gy || gp;
    /* as in block_single: scaled gradients stored in the element loop when
     * nothing is applied to them afterwards */
    float ox[GNLL_BLK] __attribute__((aligned(64)));
    float ov[GNLL_BLK] __attribute__((aligned(64)));
    const int direct = want_grad && !gout && !wb;
    const int zero = o->zero_clamp_grad;
    const float zthr = so->zthr;
    float *tx = !direct ? tb : gx && !stream ? gx : ox;
    float *tv = !direct ? db : gp && !stream ? gp : ov;
    const float gs = direct ? gscale : 1.0f;
    int bad, ng = 0;
    switch (o->param) {
    case GNLL_PARAM_LOG_VAR:
        bad = GNLL_XEVAL_SINGLE(GNLL_PARAM_LOG_VAR);
        break;
    case GNLL_PARAM_STD:
        bad = GNLL_XEVAL_SINGLE(GNLL_PARAM_STD);
        break;
    default:
        bad = GNLL_XEVAL_SINGLE(GNLL_PARAM_VAR);
    }
    if (zero && want_grad) {
        /* the zero clamp mode, in a pass of its own so that the element
         * loops of the default mode carry no test: the parameter's
         * gradient is 0 where theta <= zthr (|theta| for std) */
        const int std = o->param == GNLL_PARAM_STD;
#pragma omp simd
        for (ptrdiff_t k = 0; k < m; k++) {
            const float a = std ? fabsf(pb[k]) : pb[k];
            tv[k] = a <= zthr ? gs * 0.0f : tv[k];
        }
    }
    if (wb) {
        /* weights 0 or within 2^-30..2^30; the weighted values finite */
#pragma omp simd reduction(| : bad)
        for (ptrdiff_t k = 0; k < m; k++) {
            const float wk = wb[k];
            bad |= !((wk <= GNLL_SAFE_HI) &
                     ((wk >= GNLL_SAFE_LO) | (wk == 0.0f)));
            lb[k] *= wk;
            bad |= !(fabsf(lb[k]) <= FLT_MAX);
        }
        if (want_grad && !gout) {
            /* no upstream gradient array: weighed, scaled and stored in
             * one pass, then finished as in direct mode (an unsafe block
             * is rewritten by the double path) */
            tx = gx && !stream ? gx : ox;
            tv = gp && !stream ? gp : ov;
#pragma omp simd reduction(| : bad)
            for (ptrdiff_t k = 0; k < m; k++) {
                const float tw = tb[k] * wb[k], dw = db[k] * wb[k];
                bad |= !((fabsf(tw) <= FLT_MAX) & (fabsf(dw) <= FLT_MAX));
                tx[k] = gscale * tw;
                tv[k] = gscale * dw;
            }
        } else if (want_grad) {
#pragma omp simd reduction(| : bad)
            for (ptrdiff_t k = 0; k < m; k++) {
                tb[k] *= wb[k];
                db[k] *= wb[k];
                bad |= !((fabsf(tb[k]) <= FLT_MAX) & (fabsf(db[k]) <= FLT_MAX));
            }
        }
    }
    bad |= NAME(gout_unsafe)(gout, m);
    if (bad)
        return 0;
    if (want_grad && !gout) {  /* direct, or weighed as above */
        *neg |= ng;
        NAME(finish_direct_single)(m, lb, tx, tv, ox, ov, loss, gx, gy, gp,
                                   lanes, stream);
        return 1;
    }
    *neg |= ng;
    NAME(emit_single)(m, lb, tb, db, loss, gx, gy, gp, gout, gscale, lanes,
                      stream);
    return 1;
}
#undef GNLL_XEVAL_SINGLE
#undef GNLL_XEVAL_SINGLE_B
#endif /* GNLL_SINGLE */

static void NAME(xblock)(const T *restrict x, const T *restrict y,
                         const T *restrict p, const T *restrict w,
                         ptrdiff_t n, const gnll_options *o,
                         T *restrict loss, T *restrict gx, T *restrict gy,
                         T *restrict gp, const T *restrict gout,
                         double gscale, gnll_block_result *res)
{
    double lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    T ox[GNLL_BLK] __attribute__((aligned(64)));
    T ov[GNLL_BLK] __attribute__((aligned(64)));
    /* beta-NLL: 1 for the elements for xfar_logvar or xfar_param, else 0 */
    double farb[GNLL_BLK] __attribute__((aligned(64)));
    double lanes[GNLL_LANES] = {0};
    double wlanes[16] = {0};  /* the weights' sum, as gnll_sum_f64/f32 */
    gnll_nt nt, *const stream = gnll_nt_start(&nt, res->stream);
    int neg = 0;
    const int want_grad = gx || gy || gp;
    const int direct = want_grad && !gout && !w;
    const int bmode = o->beta == 0.0   ? 0
                      : o->beta == 0.5 ? 2
                      : o->beta == 1.0 ? 3
                                       : 1;

#if defined(GNLL_SINGLE) && GNLL_FMA
    const float gscale_single = (float)gscale;
    const int single_ok =
        (float)o->eps >= FLT_MIN && (o->c == 0.0 || (float)o->c >= FLT_MIN) &&
        gscale_single >= 0x1p-60f && gscale <= 0x1p30 &&
        (o->param != GNLL_PARAM_LOG_VAR || o->log_eps <= 20.0);
    NAME(single_options) so;
    if (single_ok)
        NAME(single_options_of)(o, &so);
#endif

    for (ptrdiff_t b = 0; b < n; b += GNLL_BLK) {
        const ptrdiff_t m = n - b < GNLL_BLK ? n - b : GNLL_BLK;
        const T *xb = x + b, *yb = y + b, *pb = p + b;
        if (w)
            NAME(lane_add16)(wlanes, w + b, m);
#if defined(GNLL_SINGLE) && GNLL_FMA
        if (single_ok &&
            NAME(xblock_single)(xb, yb, pb, w ? w + b : NULL, m, o, &so,
                                bmode, loss ? loss + b : NULL,
                                gx ? gx + b : NULL,
                                gy ? gy + b : NULL, gp ? gp + b : NULL,
                                gout ? gout + b : NULL, gscale_single, lanes,
                                stream, &neg))
            continue;
#endif
        /* as in block: without upstream gradients or weights, the scaled
         * gradients go straight into the outputs (or into ox, ov when
         * those are streamed) */
        T *tx = gx && !stream ? gx + b : ox;
        T *tv = gp && !stream ? gp + b : ov;
        int far = 0;  /* some element for xfar_logvar or xfar_param */
        switch (o->param) {
        case GNLL_PARAM_LOG_VAR:
            neg |= GNLL_XEVAL(GNLL_PARAM_LOG_VAR);
            if (far)
                NAME(xfar_logvar)(xb, yb, pb, m, o, want_grad, direct,
                                  gscale, lb, tb, db, tx, tv, bmode, farb);
            break;
        case GNLL_PARAM_STD:
            neg |= GNLL_XEVAL(GNLL_PARAM_STD);
            break;
        default:
            neg |= GNLL_XEVAL(GNLL_PARAM_VAR);
        }
        if (far && o->param != GNLL_PARAM_LOG_VAR)
            NAME(xfar_param)(xb, yb, pb, m, o, want_grad, direct, gscale, lb,
                             tb, db, tx, tv);
        if (want_grad && !gout) {
            /* direct; with weights, weighed, scaled and stored in one pass */
            if (w)
                neg |= NAME(xweigh_direct)(w + b, m, gscale, lb, tb, db, tx,
                                           tv);
            NAME(finish_direct)(m, lb, tx, tv, ox, ov, loss ? loss + b : NULL,
                                gx ? gx + b : NULL, gy ? gy + b : NULL,
                                gp ? gp + b : NULL, lanes, stream);
            continue;
        }
        if (w)
            neg |= NAME(xweigh)(w + b, m, want_grad, lb, tb, db);
        NAME(emit)(m, lb, tb, db, loss ? loss + b : NULL, gx ? gx + b : NULL,
                   gy ? gy + b : NULL, gp ? gp + b : NULL, NULL,
                   gout ? gout + b : NULL, gscale, lanes, stream);
    }
    for (int j = 0; j < 8; j++)
        wlanes[j] += wlanes[j + 8];
    res->weight_sum = gnll_lanes_total(wlanes);
    gnll_finish(res, gnll_lanes_total(lanes), neg, stream);
}

static void NAME(xrows)(const T *restrict x, const T *restrict y,
                        const T *restrict p, const T *restrict w,
                        ptrdiff_t rows, ptrdiff_t cols, const gnll_options *o,
                        T *restrict loss, T *restrict gx, T *restrict gy,
                        double *restrict gp_rows, const T *restrict gout,
                        double gscale, gnll_block_result *res)
{
    double lb[GNLL_BLK], tb[GNLL_BLK], db[GNLL_BLK];
    double lanes[GNLL_LANES] = {0};
    gnll_nt nt, *const stream = gnll_nt_start(&nt, res->stream);
    int neg = 0;
    const int want_grad = gx || gy || gp_rows;
    const double c = o->c;
    /* a general beta (see gnll_beta_far_terms) */
    const int general = o->beta != 0.0 && o->beta != 0.5 && o->beta != 1.0;

    for (ptrdiff_t i = 0; i < rows; i++) {
        /* Everything that depends on the parameter alone, once per row:
         * loss = bw * (0.5 * (logv + q) + c), d/dtheta = kp * (per element). */
        const double pk = (double)p[i];
        double logv, iv = 0.0, E = 0.0, kp, clamped, bw = 1.0;
        int far_row = 0;  /* see gnll_param_far */
        double vc_row = 1.0;
        if (o->param == GNLL_PARAM_LOG_VAR) {
            logv = gnll_clamp(pk, o->log_eps);
            E = exp(gnll_logvar_arg(logv, 0));  /* see gnll_logvar_terms */
            kp = 1.0;
            clamped = pk <= o->log_eps;
            if (o->beta != 0.0)
                bw = exp(o->beta * logv);
        } else {
            neg |= pk < 0.0;
            const double vv = o->param == GNLL_PARAM_STD ? pk * pk : pk;
            const double vc = gnll_clamp(vv, o->eps);
            logv = log(vc);
            iv = 1.0 / vc;
            far_row = gnll_param_far(pk, vc);
            vc_row = vc;
            kp = o->param == GNLL_PARAM_STD ? 2.0 * pk : 1.0;
            clamped = vv <= o->eps;
            /* as the elementwise kernel forms it (see bmode) */
            if (o->beta == 0.5)
                bw = sqrt(vc);
            else if (o->beta == 1.0)
                bw = vc;
            else if (o->beta != 0.0)
                bw = exp(o->beta * logv);
        }
        /* the zero clamp mode: d/dtheta is 0 for the whole row (a select,
         * not a factor 0: the per-element factor may be infinite) */
        const int zeroed = o->zero_clamp_grad && clamped;
        kp = kp * bw;
        /* std or beta-NLL: a row factor that left the normal range while v
         * did not (2 std v^beta): the row in long double too */
        if (o->param != GNLL_PARAM_LOG_VAR && pk != 0.0 &&
            (o->beta != 0.0 || o->param == GNLL_PARAM_STD) &&
            !((fabs(kp) >= DBL_MIN) & (fabs(kp) <= DBL_MAX)) &&
            fabs(pk) <= DBL_MAX && vc_row > 0.0 && vc_row <= DBL_MAX)
            far_row = 1;
        double gv_lanes[GNLL_LANES] = {0};
        for (ptrdiff_t b = 0; b < cols; b += GNLL_BLK) {
            const ptrdiff_t m = cols - b < GNLL_BLK ? cols - b : GNLL_BLK;
            const ptrdiff_t off = i * cols + b;
            const T *xb = x + off, *yb = y + off;
            if (o->param == GNLL_PARAM_LOG_VAR) {
                /* beta-NLL: elements that need the far forms (farb) */
                int fix = 0;
                double farb[GNLL_BLK];
#pragma omp simd reduction(| : fix)
                for (ptrdiff_t k = 0; k < m; k++) {
                    const double r = (double)xb[k] - (double)yb[k];
                    double t, q, ivk;
                    gnll_logvar_terms(logv, r, E, 0, &t, &q, &ivk, NULL,
                                      NULL);
                    (void)ivk;
                    lb[k] = bw * gnll_loss_logvar(logv, q, c);
                    tb[k] = bw * t;
                    db[k] = zeroed ? 0.0 : kp * gnll_dlogvar(q);
                    const int fk =
                        (o->beta != 0.0) &
                        gnll_logvar_needs_far(logv, bw, lb[k], r, t);
                    farb[k] = (double)fk;
                    fix |= fk;
                }
                /* then redone in the far forms, as in xfar_logvar */
                for (ptrdiff_t k = 0; fix && k < m; k++) {
                    if (!farb[k])
                        continue;
                    const double r = (double)xb[k] - (double)yb[k];
                    double ds, G;
                    lb[k] = gnll_logvar_far_element(logv, r, o->beta, c, &ds,
                                                    &G);
                    tb[k] = G;
                    db[k] = zeroed ? 0.0 : ds;
                }
            } else {
                /* elements for gnll_far_element: all of a row whose
                 * variance is out of range (gnll_param_far), else those
                 * beta-NLL's test picks (gnll_beta_far) */
                int fix = far_row;
                double farb[GNLL_BLK];
#pragma omp simd reduction(| : fix)
                for (ptrdiff_t k = 0; k < m; k++) {
                    const double r = (double)xb[k] - (double)yb[k];
                    const double t = r * iv;
                    lb[k] = bw * gnll_loss(logv, r, t, c);
                    tb[k] = bw * t;
                    db[k] = zeroed ? 0.0 : kp * gnll_dvar(iv, t);
                    const int fk =
                        far_row |
                        ((o->beta != 0.0 || o->param == GNLL_PARAM_STD) &
                         gnll_beta_far_terms(r, t, bw, vc_row, general,
                                             want_grad && o->beta != 0.0)) |
                        ((o->beta < 0.0) &
                         gnll_result_far((double)xb[k], (double)yb[k], pk,
                                         vc_row, lb[k], db[k]));
                    farb[k] = (double)fk;
                    fix |= fk;
                }
                for (ptrdiff_t k = 0; fix && k < m; k++)
                    if (farb[k] != 0.0)
                        lb[k] = gnll_far_element((double)xb[k], (double)yb[k],
                                                 pk, o, &tb[k], &db[k]);
            }
            if (w)
                neg |= NAME(xweigh)(w + off, m, want_grad, lb, tb, db);
            NAME(emit)(m, lb, tb, db, loss ? loss + off : NULL,
                       gx ? gx + off : NULL, gy ? gy + off : NULL, NULL,
                       want_grad && gp_rows ? gv_lanes : NULL,
                       gout ? gout + off : NULL, gscale, lanes, stream);
        }
        if (gp_rows)
            gp_rows[i] = gnll_lanes_total(gv_lanes);
    }
    gnll_finish(res, gnll_lanes_total(lanes), neg, stream);
}

#undef GNLL_XEVAL
#undef GNLL_XEVAL_B

/* ---- curvature ---------------------------------------------------------------
 * Per element: h_mm = d2l/dmu2, h_pp = d2l/dtheta2, h_mp = d2l/dmu dtheta
 * (fisher: their expectation over y ~ N(mu, v): 1/v, I_theta, 0), each
 * times k = scale * w * v^beta; the clamp straight-through, or the theta
 * terms zero where clamped (zero_clamp_grad).  p and w hold n elements.
 */
/* One block of xcurv, inlined with constant `param` and `bmode` (as in
 * xeval), so that each combination is its own vectorised loop: the calls
 * first, in loops of their own, then one loop of arithmetic and selects.
 * kb[k] holds scale * w[k] (or scale). */
static GNLL_ALWAYS_INLINE void
NAME(xcurv_block)(const T *restrict xb, const T *restrict yb,
                  const T *restrict pb, ptrdiff_t m, const gnll_options *o,
                  const int param, const int bmode, int fisher,
                  const double *restrict kb, T *restrict h_mm,
                  T *restrict h_pp, T *restrict h_mp)
{
    const double eps = o->eps, leps = o->log_eps, beta = o->beta;
    const int zero = o->zero_clamp_grad;
    /* eb = E of gnll_logvar_terms for log_var, log v for a general beta;
     * gb = v^beta where it takes a call (log_var with any beta, or a
     * general beta) */
    double eb[GNLL_BLK], gb[GNLL_BLK];
    if (param == GNLL_PARAM_LOG_VAR) {
#pragma omp simd
        for (ptrdiff_t k = 0; k < m; k++)
            eb[k] = gnll_logvar_arg(gnll_clamp((double)pb[k], leps), 0);
        NAME(exp_inplace)(eb, m);
        if (bmode != 0) {
#pragma omp simd
            for (ptrdiff_t k = 0; k < m; k++)
                gb[k] = beta * gnll_clamp((double)pb[k], leps);
            NAME(exp_inplace)(gb, m);
        }
    } else if (bmode == 1) {
        /* (the far elements: found below, element by element) */
        (void)NAME(log_clamped)(pb, m, eps, param == GNLL_PARAM_STD, beta, eb,
                                gb, NULL);
    }
    int fix = 0;  /* elements for the far forms or long double (below) */
    double farb[GNLL_BLK];  /* which: 1 for those, else 0 */
#pragma omp simd reduction(| : fix)
    for (ptrdiff_t k = 0; k < m; k++) {
        const double pk = (double)pb[k];
        const double r = (double)xb[k] - (double)yb[k];
        double iv, pp, mp, vb;
        int fk = 0;
        int clamped;
        if (param == GNLL_PARAM_LOG_VAR) {
            double t, q;  /* r / v, r^2 / v */
            const double s = gnll_clamp(pk, leps);
            gnll_logvar_terms(s, r, eb[k], 0, &t, &q, &iv, NULL, NULL);
            clamped = pk <= leps;
            pp = fisher ? 0.5 : 0.5 * q;
            mp = fisher ? 0.0 : -t;
            vb = bmode == 0 ? 1.0 : gb[k];
            /* (and h_pp's r^2/v, if it underflowed where k v^beta r^2/v
             * may not) */
            if (bmode != 0)
                fk = gnll_logvar_needs_far(s, vb, q, r, t) |
                     ((!fisher) & (r != 0.0) & !(q >= DBL_MIN));
        } else {
            const double vv = param == GNLL_PARAM_STD ? pk * pk : pk;
            const double vc = gnll_clamp(vv, eps);
            iv = 1.0 / vc;
            clamped = vv <= eps;
            const double t = r * iv;
            if (param == GNLL_PARAM_STD) {
                const double h_vv = t * t * iv - 0.5 * iv * iv;
                const double g_v = gnll_dvar(iv, t);
                const double pp_f = 2.0 * pk * pk * iv * iv;
                const double pp_h = 4.0 * pk * pk * h_vv + 2.0 * g_v;
                pp = fisher ? pp_f : pp_h;
                mp = fisher ? 0.0 : -2.0 * pk * t * iv;
            } else {
                const double pp_f = 0.5 * iv * iv;
                const double pp_h = t * t * iv - 0.5 * iv * iv;
                pp = fisher ? pp_f : pp_h;
                mp = fisher ? 0.0 : -t * iv;
            }
            vb = bmode == 0 ? 1.0 : bmode == 2 ? sqrt(vc) : bmode == 3 ? vc
                                                          : gb[k];
            /* for gnll_far_curvature: 1/v^2 needs v within 2^-500..2^500
             * (else as gnll_param_far), t^2 needs |t| <= 2^250, and
             * beta-NLL as gnll_beta_far */
            const int finite = (fabs(pk) <= DBL_MAX) &
                               (fabs(r) <= DBL_MAX) & (vc > 0.0) &
                               (vc <= DBL_MAX);
            fk = ((fabs(pk) <= DBL_MAX) & ((pk != 0.0) | (vc != 0.0)) &
                  !((vc >= 0x1p-500) & (vc <= 0x1p500))) |
                 (finite & (fabs(t) > 0x1p250)) |
                 ((bmode != 0) &
                  (gnll_beta_far_terms(r, t, vb, vc, bmode == 1, 1) |
                   (finite & (r != 0.0) & !(fabs(t * iv) >= DBL_MIN))));
        }
        const int off = zero & clamped;
        const double kf = kb[k] * vb;
        h_mm[k] = (T)(kf * iv);
        h_pp[k] = (T)(kf * (off ? 0.0 : pp));
        h_mp[k] = (T)(kf * (off ? 0.0 : mp));
        farb[k] = (double)fk;
        fix |= fk;
    }
    /* var and std: the elements found above redone in long double
     * (gnll_far_curvature); beta-NLL with log_var, the elements that need
     * them (gnll_logvar_needs_far): redone in the far forms (see xfar_logvar),
     * h_mm = k v^beta / v, h_pp = k v^beta r^2 / (2 v) (Fisher: k v^beta / 2)
     * and h_mp = -k v^beta r / v */
    for (ptrdiff_t k = 0; fix && k < m; k++) {
        if (!farb[k])
            continue;
        if (param != GNLL_PARAM_LOG_VAR) {
            double mm, pp, mp;
            gnll_far_curvature((double)xb[k], (double)yb[k], (double)pb[k], o,
                               fisher, kb[k], &mm, &pp, &mp);
            h_mm[k] = (T)mm;
            h_pp[k] = (T)pp;
            h_mp[k] = (T)mp;
            continue;
        }
        const double s = gnll_clamp((double)pb[k], leps);
        const double r = (double)xb[k] - (double)yb[k];
        double W2, G, HQ;
        gnll_logvar_far_terms(s, r, beta, &W2, &G, &HQ);
        const int off = zero & ((double)pb[k] <= leps);
        const double kk = kb[k];
        h_mm[k] = (T)gnll_logvar_far_ratio(s, kk, beta, 1.0);
        h_pp[k] = (T)(off ? 0.0 : kk * (fisher ? W2 : HQ));
        h_mp[k] = (T)(off || fisher ? 0.0 : -(kk * G));
    }
}

#define GNLL_XCURV_B(P)                                                      \
    (bmode == 0   ? NAME(xcurv_block)(xb, yb, pb, m, o, P, 0, fisher, kb,    \
                                      mm, pp, mp)                             \
     : bmode == 2 ? NAME(xcurv_block)(xb, yb, pb, m, o, P, 2, fisher, kb,    \
                                      mm, pp, mp)                             \
     : bmode == 3 ? NAME(xcurv_block)(xb, yb, pb, m, o, P, 3, fisher, kb,    \
                                      mm, pp, mp)                             \
                  : NAME(xcurv_block)(xb, yb, pb, m, o, P, 1, fisher, kb,    \
                                      mm, pp, mp))

static void NAME(xcurv)(const T *restrict x, const T *restrict y,
                        const T *restrict p, const T *restrict w, ptrdiff_t n,
                        const gnll_options *o, int fisher, double scale,
                        T *restrict h_mm, T *restrict h_pp, T *restrict h_mp)
{
    const double beta = o->beta;
    /* v^beta: 0 none, 1 exp(beta log v), 2 sqrt(v), 3 v (for log_var, any
     * beta other than 0 is exp(beta s)) */
    const int bmode = beta == 0.0 ? 0 : beta == 0.5 ? 2 : beta == 1.0 ? 3 : 1;
    const int param = o->param;
    double kb[GNLL_BLK];
    for (ptrdiff_t b = 0; b < n; b += GNLL_BLK) {
        const ptrdiff_t m = n - b < GNLL_BLK ? n - b : GNLL_BLK;
        const T *xb = x + b, *yb = y + b, *pb = p + b;
        T *mm = h_mm + b, *pp = h_pp + b, *mp = h_mp + b;
        if (w)
            for (ptrdiff_t k = 0; k < m; k++)
                kb[k] = scale * (double)w[b + k];
        else
            for (ptrdiff_t k = 0; k < m; k++)
                kb[k] = scale;
        if (param == GNLL_PARAM_LOG_VAR)
            GNLL_XCURV_B(GNLL_PARAM_LOG_VAR);
        else if (param == GNLL_PARAM_STD)
            GNLL_XCURV_B(GNLL_PARAM_STD);
        else
            GNLL_XCURV_B(GNLL_PARAM_VAR);
    }
}
#undef GNLL_XCURV_B

#undef GNLL_FMA
#undef GNLL_SAFE_HI
#undef GNLL_SAFE_LO
