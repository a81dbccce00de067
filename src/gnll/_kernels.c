/*
 * gnll block kernels: per-element formulas, their instantiation for float64
 * and float32 and for several x86-64 instruction sets, and run-time dispatch.
 *
 * Safe vectorisation of log (no fast-math flags): on x86-64 glibc >= 2.22 with
 * GCC, log is re-declared "omp declare simd", so that GCC calls libmvec's
 * vector log (max. 4 ulp, special values handled as the scalar log does)
 * inside `omp simd` loops.  The file is compiled with -fno-math-errno,
 * -fno-trapping-math (so that loops with selects vectorise without AVX-512's
 * masks; see meson.build) and -fopenmp (or -fopenmp-simd); both leave every
 * result as it is.  Each instruction set gets its own copy of the
 * kernels through `#pragma GCC target`, and the best one the CPU supports is
 * picked when gnll is imported.  Elsewhere the baseline path (scalar log) is
 * the only one.  exp (log-variances, beta-NLL's weight) is a table-free
 * polynomial on the paths with FMA (gnll_exp_poly), glibc's exp otherwise.
 * The AVX-512 path's log is gnll's own (gnll_log8, gnll_logf16): glibc's
 * float64 one gathers from a table in memory, which is slow on some CPUs and
 * is evicted by inputs streaming through the caches, and its float one is
 * off by up to 3.9 ulp.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&     \
    defined(__GLIBC__) &&                                                   \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 22)) &&         \
    (defined(_OPENMP) || defined(GNLL_OPENMP_SIMD))
#define GNLL_LIBMVEC 1
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float expf(float);
#else
#define GNLL_LIBMVEC 0
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&     \
    __GNUC__ >= 11
#define GNLL_X86_PATHS 1
#else
#define GNLL_X86_PATHS 0
#endif

/* The extended kernels inline one evaluation routine with constant flags,
 * so that each variant gets its own loop. */
#if defined(__GNUC__) || defined(__clang__)
#define GNLL_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define GNLL_ALWAYS_INLINE __forceinline
#else
#define GNLL_ALWAYS_INLINE inline
#endif

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#include <stdint.h>
#define GNLL_NT_STORES 1
#else
#define GNLL_NT_STORES 0
#endif

/* Make this thread's non-temporal stores globally visible in order. */
static inline void gnll_store_fence(void)
{
#if GNLL_NT_STORES
    _mm_sfence();
#endif
}

/*
 * Pending output lines of a streaming kernel call.  A block's outputs end
 * in the middle of a cache line whenever the array is not 64-byte aligned
 * (NumPy's large arrays start 16 bytes into a line), and the next block
 * writes the rest of that line.  Written in two parts with ordinary
 * stores, each such line is first read from memory; instead, the first
 * part waits here and the line is streamed whole once the next block
 * completes it.  One slot per output array; what is still pending when the
 * call ends (the last line of its range, shared with the next call's) is
 * written with ordinary stores by gnll_nt_flush.
 */
#define GNLL_NT_LINE 64
#define GNLL_NT_SLOTS 4
typedef struct {
    union {
        double d[GNLL_NT_LINE / sizeof(double)];
        float f[GNLL_NT_LINE / sizeof(float)];
    } line[GNLL_NT_SLOTS] __attribute__((aligned(GNLL_NT_LINE)));
    unsigned char *base[GNLL_NT_SLOTS];  /* the line's address; NULL: free */
    ptrdiff_t fill[GNLL_NT_SLOTS];       /* bytes of it held so far       */
} gnll_nt;

/* nt, emptied, if the call streams its outputs; else NULL. */
static inline gnll_nt *gnll_nt_start(gnll_nt *nt, int stream)
{
    if (!stream || !GNLL_NT_STORES)
        return NULL;
    for (int s = 0; s < GNLL_NT_SLOTS; s++)
        nt->base[s] = NULL;
    return nt;
}

/* The slot whose pending bytes end at dst (dst NULL: a free slot), or -1. */
static inline int gnll_nt_find(const gnll_nt *nt, const void *dst)
{
    for (int s = 0; s < GNLL_NT_SLOTS; s++)
        if (dst ? nt->base[s] && nt->base[s] + nt->fill[s] ==
                                     (const unsigned char *)dst
                : !nt->base[s])
            return s;
    return -1;
}

/* Write the pending parts of lines with ordinary stores. */
static inline void gnll_nt_flush(gnll_nt *nt)
{
    for (int s = 0; s < GNLL_NT_SLOTS; s++)
        if (nt->base[s]) {
            memcpy(nt->base[s], nt->line[s].d, (size_t)nt->fill[s]);
            nt->base[s] = NULL;
        }
}

#define GNLL_BLK 256  /* elements per L1-resident block                  */
#define GNLL_LANES 8  /* fixed partial-sum lanes: order-stable reductions */

/* ---- per-element formulas ------------------------------------------------
 * Always inlined: the element loops only vectorise with them inlined, and
 * with dozens of specialised loops GCC's unit-growth limit would otherwise
 * leave some of them as calls. */

/* v = max(var, eps), written so that a NaN var stays NaN (as torch.clamp). */
static GNLL_ALWAYS_INLINE double gnll_clamp(double var, double eps)
{
    return var < eps ? eps : var;
}

/* loss = 0.5 * (log v + r^2 / v) + c,  with t = r / v  (c: the `full` term). */
static GNLL_ALWAYS_INLINE double gnll_loss(double log_v, double r, double t, double c)
{
    return 0.5 * (log_v + r * t) + c;
}

/* d loss / d var = 0.5 * (1/v - r^2/v^2) = 0.5 * (iv - t^2), iv = 1/v.
 * (The plain elementwise kernel uses gnll_dvar_exact below, with this form
 * as its fallback for non-finite values; the other kernels use this one.) */
static GNLL_ALWAYS_INLINE double gnll_dvar(double iv, double t)
{
    return 0.5 * (iv - t * t);
}

/* The residual r = x - y is rh + rl exactly, rh = fl(x - y) (Knuth's
 * two-sum); rl is 0 whenever the subtraction is exact. */
static GNLL_ALWAYS_INLINE double gnll_diff_lo(double x, double y, double rh)
{
    const double bb = rh - x;
    return (x - (rh - bb)) + (-y - bb);
}

/* t = r / v = (rh + rl) / v to within about half an ulp.  With FMA: one
 * Newton step from t0 = rh * iv, whose residual rh - t0 v is exact;
 * without: a division (rl, below half an ulp of rh, is then dropped). */
static GNLL_ALWAYS_INLINE double gnll_ratio(double rh, double rl, double v, double iv,
                                int fused)
{
    if (!fused)
        return rh / v;
    const double t0 = rh * iv;
    /* (r = 0 keeps t0: its sign, -0 for r = -0, is the division's) */
    return rh == 0.0 ? t0 : fma(fma(-t0, v, rh) + rl, iv, t0);
}

/* 1 - r t, r = rh + rl, with FMA's single roundings (an exact zero is +0). */
static GNLL_ALWAYS_INLINE double gnll_one_minus_rt(double rh, double rl, double t,
                                       int fused)
{
    if (!fused)
        return (1.0 - rh * t) - rl * t;
    return fma(-rl, t, fma(-rh, t, 1.0));
}

/* d loss / d var = 0.5 * (1/v - r^2/v^2) = 0.5 * iv * (1 - r t).
 * 1 - r t is formed with FMA's single rounding, so where 1/v and r^2/v^2
 * cancel the error stays within about an ulp of the larger of them
 * (forming iv - t^2 loses up to 4 ulp there). */
static GNLL_ALWAYS_INLINE double gnll_dvar_exact(double rh, double rl, double t,
                                     double v, double iv, int fused)
{
    if (!fused)  /* 1 - rh t rounds once more; divide to save a rounding */
        return 0.5 * (gnll_one_minus_rt(rh, rl, t, 0) / v);
    return 0.5 * iv * gnll_one_minus_rt(rh, rl, t, 1);
}

/* a if it is finite, else b.  The accurate forms above assume finite
 * operands (inf - inf, 0 * inf inside them give NaN); where they are not
 * finite, the plain forms give torch's values for inf, NaN and zero v. */
static GNLL_ALWAYS_INLINE double gnll_finite_or(double a, double b)
{
    return fabs(a) <= DBL_MAX ? a : b;
}

/* ---- exp without tables --------------------------------------------------
 * exp(a) for |a| <= 708 (where the result is a normal double), on the
 * paths with FMA.  glibc's vector exp reads a table, which the streamed
 * input arrays keep pushing out of the cache: at 10M elements it cost
 * beta-NLL half again the in-cache time.  This one reads no memory:
 *   a = k ln2 + f,  k = round(a / ln2) (1.5 * 2^52 added: its low bits then
 *   hold k),  f = a - k ln2 with ln2 in two parts (|f| <= ln2/2 + tiny),
 *   exp(a) = 2^k exp(f),  exp(f) = 1 + f + f^2 P(f),
 * the coefficients those of the degree-11 polynomial interpolating exp at
 * the Chebyshev nodes of [-ln2/2, ln2/2] (relative error 4.2e-18, 1.7e-17
 * with the coefficients rounded to double; tools/exp_coefficients.py
 * derives them, and the first two round to exactly 1), and 2^k put
 * together from its bits (exact: k in -1021..1022).  Measured against
 * long double expl over 40M random arguments and a 2^-10 grid of the range:
 * within 1.07 ulp (glibc's vector exp promises 4).  Callers check the range
 * (NAME(exp_inplace)). */
#define GNLL_EXP_POLY_MAX 708.0
static GNLL_ALWAYS_INLINE double gnll_exp_poly(double a)
{
    const double shift = 0x1.8p52;
    const double ks = a * 0x1.71547652b82fep0 + shift;
    const double k = ks - shift;
    uint64_t kbits;
    memcpy(&kbits, &ks, sizeof kbits);
    double f = fma(k, -0x1.62e42fefa39efp-1, a);
    f = fma(k, -0x1.abc9e3b39803fp-56, f);
    double p = 0x1.af631d0059becp-26;
    p = fma(p, f, 0x1.28b4057f44145p-22);
    p = fma(p, f, 0x1.71ddf5749d126p-19);
    p = fma(p, f, 0x1.a01991ac8730ap-16);
    p = fma(p, f, 0x1.a01a01b14378fp-13);
    p = fma(p, f, 0x1.6c16c187fbe02p-10);
    p = fma(p, f, 0x1.111111110f225p-7);
    p = fma(p, f, 0x1.555555554f0cfp-5);
    p = fma(p, f, 0x1.555555555555ap-3);
    p = fma(p, f, 0x1.0000000000011p-1);
    const double e = 1.0 + fma(f * f, p, f);
    const uint64_t sbits = (kbits << 52) + ((uint64_t)1023 << 52);
    double scale;
    memcpy(&scale, &sbits, sizeof scale);
    return e * scale;
}

/* The same in float, for the single-precision path: |a| <= 87, the degree-6
 * interpolant (2.0e-8 with its coefficients rounded to float, the first
 * three to exactly 1, 1 and 1/2); within
 * 1.2 ulp of exp for every float in the range (checked exhaustively).
 * Callers reject blocks with arguments beyond the range, for which the
 * result is meaningless (though harmless). */
static GNLL_ALWAYS_INLINE float gnll_expf_poly(float a)
{
    const float shift = 0x1.8p23f;
    const float ks = a * 0x1.715476p0f + shift;
    const float k = ks - shift;
    uint32_t kbits;
    memcpy(&kbits, &ks, sizeof kbits);
    float f = fmaf(k, -0x1.62ep-1f, a);  /* k * 0x1.62ep-1 is exact */
    f = fmaf(k, -0x1.0bfbe8p-15f, f);
    float p = 0x1.6d7532p-10f;
    p = fmaf(p, f, 0x1.126fa6p-7f);
    p = fmaf(p, f, 0x1.5554acp-5f);
    p = fmaf(p, f, 0x1.555404p-3f);
    p = fmaf(p, f, 0.5f);
    const float e = 1.0f + fmaf(f * f, p, f);
    const uint32_t sbits = (kbits << 23) + (127u << 23);
    float scale;
    memcpy(&scale, &sbits, sizeof scale);
    return e * scale;
}

/* The same three in float, for the single-precision path (FMA only). */
static GNLL_ALWAYS_INLINE float gnll_diff_lo_single(float x, float y, float rh)
{
    const float bb = rh - x;
    return (x - (rh - bb)) + (-y - bb);
}

static GNLL_ALWAYS_INLINE float gnll_ratio_single(float rh, float rl, float v, float iv)
{
    const float t0 = rh * iv;
    return rh == 0.0f ? t0 : fmaf(fmaf(-t0, v, rh) + rl, iv, t0);
}

static GNLL_ALWAYS_INLINE float gnll_one_minus_rt_single(float rh, float rl, float t)
{
    return fmaf(-rl, t, fmaf(-rh, t, 1.0f));
}

static GNLL_ALWAYS_INLINE float gnll_dvar_exact_single(float rh, float rl, float t,
                                           float iv)
{
    return 0.5f * iv * gnll_one_minus_rt_single(rh, rl, t);
}

/* The zero clamp mode's test on the float path, equivalent to the double
 * kernels' (theta <= log_eps for log_var, theta <= eps for var,
 * theta^2 <= eps for std, all in double): theta <= the largest float at or
 * below the threshold, and for std |theta| <= the largest float whose
 * square (exact in double) is at or below eps. */
static inline float gnll_zero_threshold_single(const gnll_options *o)
{
    const double z = o->param == GNLL_PARAM_LOG_VAR ? o->log_eps : o->eps;
    if (o->param != GNLL_PARAM_STD) {
        const float f = (float)z;
        return (double)f <= z ? f : nextafterf(f, -INFINITY);
    }
    float f = (float)sqrt(z);
    while (f > 0.0f && (double)f * (double)f > z)
        f = nextafterf(f, 0.0f);
    while (f < FLT_MAX && (double)nextafterf(f, INFINITY) *
                              (double)nextafterf(f, INFINITY) <= z)
        f = nextafterf(f, INFINITY);
    return f;
}

/* ---- per-element formulas of the extended kernels ------------------------
 * (variance parameterisations, beta-NLL, sample weights, clamp modes; see
 * _kernels.h).  Only the extended entry points use them: the default var
 * path above is untouched. */

/* The log-variance parameterisation's r / v, r^2 / v and 1 / v from one
 * exp call per element, E = exp(gnll_logvar_arg(s, half)):
 *   |s| <= 700 (every log-variance of a representable v but the most
 *   extreme): E = exp(-s) = 1/v, t = r E and q = r t, each rounded once
 *   (half: E = exp(-s/2) = 1/sqrt(v), t = (r E) E and q = (r E)^2, which
 *   also gives v^(1/2) = 1/E for beta-NLL's usual beta without a sqrt);
 *   otherwise E = exp(-s/4), t = r E^4 and q = (r E^2)^2, in an order that
 *   lets no intermediate overflow unless the result does (|s| < 2839).
 * (exp(-s/4) for every s would do too, but raising it to the fourth power
 * quadruples its error: with glibc's vector exp, which this used before
 * gnll_exp_poly, 12 ulp instead of 3.)
 * A zero residual gives t = r and q = 0, even where E is infinite.
 * With half, rsv receives r / sqrt(v) and sqrt_iv 1 / sqrt(v). */
static GNLL_ALWAYS_INLINE double gnll_logvar_arg(double s, const int half)
{
    return fabs(s) <= 700.0 ? (half ? -0.5 * s : -s) : -0.25 * s;
}

static GNLL_ALWAYS_INLINE void gnll_logvar_terms(double s, double r, double E,
                                                 const int half, double *t,
                                                 double *q, double *iv,
                                                 double *rsv, double *sqrt_iv)
{
    const int near = fabs(s) <= 700.0;
    /* the far case's extra factors: multiplying by F = 1 is exact */
    const double F = near ? 1.0 : E;
    const double u = r == 0.0 ? r : (r * E) * F;
    if (half) {
        *t = r == 0.0 ? r : (u * E) * F;
        *q = u * u;
        *rsv = u;
        *sqrt_iv = E * F;
        *iv = (E * F) * (E * F);
    } else {
        *t = r == 0.0 ? r : (u * F) * F;
        *q = (near ? r : u) * u;
        *iv = (E * F) * (F * F);
    }
}

/* beta-NLL with a log-variance s beyond +-700 (gnll_logvar_far): there
 * v^beta = exp(beta s) and v^(beta - 1) can each over- or underflow where
 * the products the loss and its derivatives need, v^beta r / v and
 * v^beta r^2 / v, do not.  gnll_far_scale(k, a) = k exp(a), formed for
 * |a| > 700 as k times exp(a/4) four times over: every intermediate lies
 * between k and the result, so it over- or underflows only where the
 * result does (up to |a| < 2839; beyond, the result is 0 or infinite
 * unless k is 0, which is returned as it is). */
static inline double gnll_far_scale(double k, double a)
{
    if (k == 0.0)
        return k;
    if (fabs(a) <= 700.0)
        return k * exp(a);
    const double h = exp(0.25 * a);
    return (((k * h) * h) * h) * h;
}

static inline int gnll_logvar_far(double s)
{
    return fabs(s) > 700.0;
}

/* k v^beta / v to the power `frac` (1 or 1/2): k exp(frac (bs - s)), with
 * bs = beta s rounded (v^beta's argument everywhere).  bs - s is a + da
 * exactly (two-sum), and exp(frac (a + da)) is exp(frac a) (1 + frac da) to
 * far within an ulp. */
static inline double gnll_logvar_far_ratio(double s, double k, double beta,
                                           double frac)
{
    const double bs = beta * s;
    const double a = bs - s;
    const double da = gnll_diff_lo(bs, s, a);
    return gnll_far_scale(k, frac * a) * (1.0 + frac * da);
}

/* The far forms, for the beta-NLL log-variance elements that need them
 * (gnll_logvar_needs_far), right for every s:
 *   W2 = v^beta / 2 = exp(beta s) / 2 (the loss weight, halved: v^beta
 *        itself may overflow where its half does not),
 *   G  = v^beta r / v = r exp((beta - 1) s),
 *   HQ = v^beta r^2 / (2v) = (u/2) u, u = r exp((beta - 1) s / 2) (G is
 *        u times the same factor again),
 * each by gnll_far_scale, so that none over- or underflows where its exact
 * value does not.  Then loss = W2 (s + 2c) + HQ and d/ds = W2 - HQ. */
static inline void gnll_logvar_far_terms(double s, double r, double beta,
                                         double *W2, double *G, double *HQ)
{
    const double u = gnll_logvar_far_ratio(s, r, beta, 0.5);
    *W2 = gnll_far_scale(0.5, beta * s);
    *G = gnll_logvar_far_ratio(s, u, beta, 0.5);
    *HQ = (0.5 * u) * u;
}

/* One element in the far forms: the loss (without weights) and d/ds
 * (straight through; the caller zeroes it for the zero clamp mode), and
 * G = v^beta r / v = d/dinput.  Where W2 and HQ both overflow, the sums are
 * taken as v^beta/2 times (s + 2c + q) and (1 - q), q = r^2/v, so that
 * they keep the sign of the exact value instead of becoming inf - inf. */
static inline double gnll_logvar_far_element(double s, double r, double beta,
                                             double c, double *ds, double *G)
{
    double W2, HQ;
    gnll_logvar_far_terms(s, r, beta, &W2, G, &HQ);
    double loss = W2 * (s + 2.0 * c) + HQ;
    double d = W2 - HQ;
    if ((loss != loss || d != d) && r == r && s == s) {
        const double u = gnll_far_scale(r, -0.5 * s);
        const double q = u * u;
        if (loss != loss)
            loss = W2 * ((s + 2.0 * c) + q);
        if (d != d)
            d = W2 * (1.0 - q);
    }
    *ds = d;
    return loss;
}

/* The same for beta = 1/2 and 1, whose weight (e^(s/2), e^s) is normal and
 * whose d/dinput (u, r) has no intermediate inside |s| <= 700: the loss is
 * all to test. */
static GNLL_ALWAYS_INLINE int gnll_logvar_needs_far_usual(double s,
                                                          double loss)
{
    return gnll_logvar_far(s) | !(fabs(loss) <= DBL_MAX);
}

/* Whether a beta-NLL log-variance element needs the far forms: |s| beyond
 * 700, a weight v^beta that is not a normal number (|beta| > 1 can take it
 * out of range well inside 700), a loss that came out infinite or NaN
 * (r^2/v can overflow where v^beta r^2/v does not), or a nonzero residual
 * whose r/v is not a normal number (subnormal, its precision is gone, or
 * infinite, where v^beta r/v may be well in range).  (The curvature passes
 * r^2/v as `loss`.) */
static GNLL_ALWAYS_INLINE int gnll_logvar_needs_far(double s, double bw,
                                                    double loss, double r,
                                                    double t)
{
    return gnll_logvar_far(s) | !(bw >= DBL_MIN) | !(fabs(loss) <= DBL_MAX) |
           ((r != 0.0) & !((fabs(t) >= DBL_MIN) & (fabs(t) <= DBL_MAX)));
}

/* ---- var and std beyond double's reciprocal range ------------------------
 * The var and std kernels form 1/v (or r/v) in double.  Where the clamped
 * variance v lies outside 2^-1020..2^1020 (eps below that and a variance
 * below it, as with eps = 0, or an unclamped std whose square over- or
 * underflows), 1/v, v itself or r/v can leave double's range while the loss
 * and the gradients do not: e.g. v = 1e-309 with r = 1e-300 has loss
 * -355.7, and 1/v is infinite.  Inside that range the same happens with
 * std (or beta-NLL) when r/v is beyond 2^511: r^2/v^2 then overflows, its
 * product with 2 std (or v^beta) may not; with beta-NLL also when r/v is
 * not a normal number while r is not 0 (for the gradients), when a general
 * beta's v^beta is not a normal number, and, for beta < 0 (v^beta < 1 for
 * v > 1), when the loss or d/dtheta came out infinite.  Such elements
 * (gnll_param_far and gnll_beta_far say which) are redone one by one in
 * long double, whose exponent range holds every intermediate, and rounded
 * once to double.  (Where long double is double, as with some compilers,
 * they are not improved.)  Elements whose parameter is NaN or infinite, or
 * whose v is 0, are never redone: they keep the plain forms' values (an
 * infinite residual gives the infinities it gives with an ordinary v). */

/* p: the var or std argument, vc: the clamped variance the kernel formed
 * from it (0 for a std whose square underflowed, inf where it overflowed). */
static GNLL_ALWAYS_INLINE int gnll_param_far(double p, double vc)
{
    return (fabs(p) <= DBL_MAX) & ((p != 0.0) | (vc != 0.0)) &
           !((vc >= 0x1p-1020) & (vc <= 0x1p1020));
}

/* The options of the plain var kernel (for the far elements' evaluation). */
static inline gnll_options gnll_var_options(double eps, double c)
{
    const gnll_options o = {eps, 0.0, c, 0.0, GNLL_PARAM_VAR, 0};
    return o;
}

/* The block-level test for gnll_param_far: lo and hi, the least and
 * greatest clamped variance of the block (NaN left out). */
static GNLL_ALWAYS_INLINE int gnll_far_range(double lo, double hi)
{
    return (lo < 0x1p-1020) | (hi > 0x1p1020);
}

/* The test for std and beta-NLL from t = r/v and bw = v^beta as the kernels
 * formed them, for 0 < v < inf and finite r (general: a general beta,
 * whose v^beta is exp(beta log v); grads: the gradients are wanted). */
static GNLL_ALWAYS_INLINE int gnll_beta_far_terms(double r, double t,
                                                  double bw, double vc,
                                                  int general, int grads)
{
    const double a = fabs(t);
    return (vc > 0.0) & (vc <= DBL_MAX) & (fabs(r) <= DBL_MAX) &
           ((grads & (r != 0.0) & (a < DBL_MIN)) | (a > 0x1p511) |
            (general & !((bw >= DBL_MIN) & (bw <= DBL_MAX))));
}

/* The same from r and the clamped variance, in scalar code (for v in
 * 2^-1020..2^1020, where v^beta can leave the normal range only if
 * |beta| > 1). */
static int gnll_beta_far(double r, double vc, double beta, int grads)
{
    const int general = beta != 0.0 && beta != 0.5 && beta != 1.0 &&
                        fabs(beta) > 1.0;
    return gnll_beta_far_terms(r, r * (1.0 / vc),
                               general ? exp(beta * log(vc)) : 1.0, vc,
                               general, grads);
}

/* Its block-level form: tlo, thi the least and greatest |r/v| over the
 * block (a block with some r = 0 is scanned element by element: rare, and
 * cheap), blo, bhi those of a general beta's v^beta (NaN left out; 1 where
 * there are none). */
static GNLL_ALWAYS_INLINE int gnll_beta_far_range(double tlo, double thi,
                                                  double blo, double bhi)
{
    return (tlo < DBL_MIN) | (thi > 0x1p511) | (blo < DBL_MIN) |
           (bhi > DBL_MAX);
}

/* beta < 0: a loss or d/dtheta (before weights and scaling) that came out
 * infinite or NaN while x, y, the parameter and v are finite and v > 0. */
static GNLL_ALWAYS_INLINE int gnll_result_far(double x, double y, double p,
                                              double vc, double loss,
                                              double gd)
{
    return (fabs(x) <= DBL_MAX) & (fabs(y) <= DBL_MAX) &
           (fabs(p) <= DBL_MAX) & (vc > 0.0) & (vc <= DBL_MAX) &
           !((fabs(loss) <= DBL_MAX) & (fabs(gd) <= DBL_MAX));
}

/* The clamped variance in long double for the var or std argument p, and
 * whether it is clamped (the zero clamp mode's test, exact here). */
static long double gnll_far_variance(double p, const gnll_options *o,
                                     int *clamped)
{
    const long double raw = o->param == GNLL_PARAM_STD
                                ? (long double)p * (long double)p
                                : (long double)p;
    *clamped = raw <= (long double)o->eps;
    return raw < (long double)o->eps ? (long double)o->eps : raw;
}

/* v^beta, formed as the kernels do for beta = 0, 1/2 and 1. */
static long double gnll_far_weight(long double v, long double logv,
                                   double beta)
{
    if (beta == 0.0)
        return 1.0L;
    if (beta == 0.5)
        return sqrtl(v);
    if (beta == 1.0)
        return v;
    return expl((long double)beta * logv);
}

/* One var or std element in long double: returns the loss
 * v^beta (0.5 (log v + r^2/v) + c) and sets *gt = v^beta r/v (d/dinput)
 * and *gp = v^beta 0.5 (1/v - r^2/v^2) dv/dtheta (0 where the zero clamp
 * mode applies). */
static double gnll_far_element(double x, double y, double p,
                               const gnll_options *o, double *gt, double *gp)
{
    int clamped;
    const long double v = gnll_far_variance(p, o, &clamped);
    const long double logv = logl(v);
    const long double bw = gnll_far_weight(v, logv, o->beta);
    const long double r = (long double)x - (long double)y;
    const long double t = r / v;
    const long double d = 0.5L * (1.0L - r * t) / v;
    const long double dv = o->param == GNLL_PARAM_STD ? 2.0L * p : 1.0L;
    *gt = (double)(bw * t);
    *gp = o->zero_clamp_grad && clamped ? 0.0 : (double)(bw * (dv * d));
    return (double)(bw * (0.5L * (logv + r * t) + (long double)o->c));
}

/* The same element's curvature (see xcurv), times k v^beta:
 * h_mm = 1/v; var: h_pp = r^2/v^3 - 1/(2 v^2), h_mp = -r/v^2
 * (Fisher: 1/(2 v^2), 0); std, by the chain rule through v = theta^2:
 * h_pp = 4 theta^2 h_vv + 2 dl/dv, h_mp = -2 theta r/v^2
 * (Fisher: 2 theta^2/v^2, 0). */
static void gnll_far_curvature(double x, double y, double p,
                               const gnll_options *o, int fisher, double k,
                               double *h_mm, double *h_pp, double *h_mp)
{
    int clamped;
    const long double v = gnll_far_variance(p, o, &clamped);
    const long double kw = (long double)k * gnll_far_weight(v, logl(v),
                                                            o->beta);
    const long double r = (long double)x - (long double)y;
    const long double t = r / v, iv = 1.0L / v;
    const long double h_vv = t * t * iv - 0.5L * iv * iv;
    long double pp, mp;
    if (o->param == GNLL_PARAM_STD) {
        const long double th = p, g_v = 0.5L * (iv - t * t);
        pp = fisher ? 2.0L * th * th * iv * iv
                    : 4.0L * th * th * h_vv + 2.0L * g_v;
        mp = -2.0L * th * t * iv;
    } else {
        pp = fisher ? 0.5L * iv * iv : h_vv;
        mp = -t * iv;
    }
    const int off = o->zero_clamp_grad && clamped;
    *h_mm = (double)(kw * iv);
    *h_pp = off ? 0.0 : (double)(kw * pp);
    *h_mp = off || fisher ? 0.0 : (double)(kw * mp);
}

/* log-variance loss 0.5 * (s + q) + c with q = r^2 exp(-s). */
static GNLL_ALWAYS_INLINE double gnll_loss_logvar(double s, double q, double c)
{
    return 0.5 * (s + q) + c;
}

/* d loss / d s = 0.5 * (1 - r^2 exp(-s)) = 0.5 * (1 - q). */
static GNLL_ALWAYS_INLINE double gnll_dlogvar(double q)
{
    return 0.5 * (1.0 - q);
}

/* A row of n elements sharing v, with s2 = sum of r^2 over the row:
 *   sum loss      = 0.5 * (n log v + s2 / v) + n c
 *   sum d/dvar    = 0.5 * (n / v - s2 / v^2)                          */
static GNLL_ALWAYS_INLINE double gnll_row_loss(double log_v, double iv, double s2,
                                   double n, double c)
{
    return 0.5 * (n * log_v + s2 * iv) + n * c;
}

static GNLL_ALWAYS_INLINE double gnll_row_dvar(double iv, double s2, double n)
{
    return 0.5 * (n * iv - s2 * iv * iv);
}

/* Lanes combined in one fixed tree order. */
static GNLL_ALWAYS_INLINE double gnll_lanes_total(const double *lanes)
{
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
           ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

/* End of a block kernel: publish its non-temporal stores, then its results. */
static inline void gnll_finish(gnll_block_result *res, double loss_sum,
                               int any_negative, gnll_nt *stream)
{
    if (stream) {
        gnll_nt_flush(stream);
        gnll_store_fence();
    }
    res->loss_sum = loss_sum;
    res->any_negative = any_negative;
}

/* ---- instantiations -------------------------------------------------------- */

#define T double
#define NAME(f) f##_f64_baseline
#include "_kernels_impl.h"
#undef T
#undef NAME
#define T float
#define GNLL_SINGLE 1
#define NAME(f) f##_f32_baseline
#include "_kernels_impl.h"
#undef T
#undef NAME
#undef GNLL_SINGLE

#if GNLL_X86_PATHS
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define T double
#define NAME(f) f##_f64_v3
#include "_kernels_impl.h"
#undef T
#undef NAME
#define T float
#define GNLL_SINGLE 1
#define NAME(f) f##_f32_v3
#include "_kernels_impl.h"
#undef T
#undef NAME
#undef GNLL_SINGLE
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#include <immintrin.h>

/*
 * log of 8 doubles with AVX-512 and no table in memory: within 0.63 ulp of
 * log (0.62 measured against long double over 3.3e7 arguments: the whole
 * positive range, [0.5, 3], near 1 and subnormals; a review's targeted
 * search found 0.627 just above 1.0315, where the result drops below 2^-5
 * with k = 16), correctly rounded at 1 and 2^k, and right for the
 * special values: log(+-0) = -inf, log(inf) = inf, NaN for x < 0 and NaN.
 *
 *   x = 2^e m, m in [0.75, 1.5)                       (vgetmantpd, vgetexppd;
 *                                                       subnormals included)
 *   invc = k/16 nearest an approximate 1/m             (vrcp14pd, k = 11..21)
 *   r = m invc - 1, exact (invc has 5 bits), |r| < 0.044
 *   log x = e ln2 + log(16/k) + log1p(r)
 *         = [e ln2hi + T_hi[k]] + r + [e ln2lo + T_lo[k]] + r^2 (r P(r) - 1/2)
 *
 * The first bracket is exact (both terms on the 2^-43 grid, |sum| < 2^10);
 * its sum with r is exact as hi + err (|bracket| >= 0.0606 > |r| unless it
 * is 0); P is the degree-7 interpolant of (log1p(r) - r + r^2/2) / r^3 on
 * [-0.044, 0.044] (error 2e-17 |r|).  The table log(16/k), in hi (2^-43
 * grid) and lo parts, is held in registers and read by vpermt2pd at index
 * k mod 16.  Constants: tools/log_coefficients.py.
 */
static GNLL_ALWAYS_INLINE __m512d gnll_log8(__m512d x)
{
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d hi0 = _mm512_setr_pd(
        0.0, -0x1.f0a30c0118000p-5, -0x1.e27076e2b0000p-4,
        -0x1.5ff3070a79000p-3, -0x1.c8ff7c79aa000p-3, -0x1.1675cababa800p-2,
        0.0, 0.0);
    const __m512d hi1 = _mm512_setr_pd(
        0.0, 0.0, 0.0, 0x1.7fafa3bd81800p-2, 0x1.269621134d800p-2,
        0x1.a93ed3c8ae000p-3, 0x1.1178e8227e000p-3, 0x1.08598b59e4000p-4);
    const __m512d lo0 = _mm512_setr_pd(
        0.0, 0x1.d599e83368e91p-45, 0x1.a342c2af0003cp-45,
        -0x1.e9e439f105039p-46, 0x1.7794f689f8434p-45, 0x1.f1fc63382a8f0p-46,
        0.0, 0.0);
    const __m512d lo1 = _mm512_setr_pd(
        0.0, 0.0, 0.0, -0x1.72090c812566ap-45, 0x1.c93c1df5bb3b6p-45,
        -0x1.8724350562169p-45, 0x1.1ef78ce2d07f2p-45,
        -0x1.7e5dd7009902cp-46);
    /* m: NaN for x < 0; e: -inf for 0, inf for inf */
    const __m512d m =
        _mm512_getmant_pd(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
    const __m512d e0 = _mm512_getexp_pd(x);
    const __m512d e = _mm512_mask_add_pd(
        e0, _mm512_cmp_pd_mask(m, one, _CMP_LT_OQ), e0, one);
    /* 1/m to 4 fraction bits (nearest; no inexact flag) */
    const __m512d invc = _mm512_roundscale_pd(_mm512_rcp14_pd(m), 0x48);
    const __m512d r = _mm512_fmsub_pd(m, invc, one);
    /* 16 invc + 1.5 2^52: k in the low bits */
    const __m512i k = _mm512_castpd_si512(_mm512_fmadd_pd(
        invc, _mm512_set1_pd(16.0), _mm512_set1_pd(0x1.8p52)));
    const __m512d w = _mm512_fmadd_pd(e, _mm512_set1_pd(0x1.62e42fefa4000p-1),
                                      _mm512_permutex2var_pd(hi0, k, hi1));
    const __m512d hi = _mm512_add_pd(w, r);
    const __m512d err = _mm512_sub_pd(r, _mm512_sub_pd(hi, w));
    __m512d p = _mm512_set1_pd(-0x1.9aecb6cd210d6p-4);
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.c88e6050889b8p-4));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(-0x1.ffff96e1c3f84p-4));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.24920fced3046p-3));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(-0x1.5555555a8b6bdp-3));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.9999999f48e86p-3));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(-0x1.ffffffffffeb5p-3));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0x1.55555555554a1p-2));
    p = _mm512_fmsub_pd(p, r, _mm512_set1_pd(0.5));
    const __m512d lo = _mm512_add_pd(
        _mm512_fmadd_pd(e, _mm512_set1_pd(-0x1.8432a1b0e2634p-43),
                        _mm512_permutex2var_pd(lo0, k, lo1)),
        err);
    __m512d y = _mm512_add_pd(hi, _mm512_fmadd_pd(_mm512_mul_pd(r, r), p, lo));
    /* only 0, inf, NaN and x < 0 give a y that is not finite */
    const __mmask8 odd = _mm512_fpclass_pd_mask(y, 0x99);
    if (__builtin_expect(odd != 0, 0)) {
        y = _mm512_mask_mov_pd(y, odd, e0);
        y = _mm512_mask_mov_pd(
            y, _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ),
            _mm512_set1_pd(NAN));
    }
    return y;
}

/* a[k] = log(a[k]) for k < m, by gnll_log8 (the tail: masked). */
static GNLL_ALWAYS_INLINE void gnll_log_inplace_avx512(double *restrict a,
                                                       ptrdiff_t m)
{
    ptrdiff_t k = 0;
    for (; k + 8 <= m; k += 8)
        _mm512_storeu_pd(a + k, gnll_log8(_mm512_loadu_pd(a + k)));
    if (k < m) {
        const __mmask8 tail = (__mmask8)((1u << (m - k)) - 1u);
        const __m512d x =
            _mm512_mask_loadu_pd(_mm512_set1_pd(1.0), tail, a + k);
        _mm512_mask_storeu_pd(a + k, tail, gnll_log8(x));
    }
}

/*
 * The same for 16 floats (gnll_logf16), for the float32 path: within 0.5313
 * ulp of log for every positive float (checked exhaustively against the
 * double log; glibc's AVX-512 vector logf: 3.94 ulp), with the same special
 * values.  Float constants: log(16/k) on the 2^-16 grid plus a float
 * remainder, ln2 likewise (e has at most 8 bits, so e ln2hi + T_hi is exact
 * below 2^7), and P of degree 3 (error 2e-10 |r|), all in one register each
 * (vpermps reads 16 floats).
 */
static GNLL_ALWAYS_INLINE __m512 gnll_logf16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 hi = _mm512_setr_ps(
        0.0f, -0x1.f0ap-5f, -0x1.e27p-4f, -0x1.5ffp-3f, -0x1.c9p-3f,
        -0x1.1674p-2f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0x1.7fbp-2f,
        0x1.2698p-2f, 0x1.a94p-3f, 0x1.1178p-3f, 0x1.086p-4f);
    const __m512 lo = _mm512_setr_ps(
        0.0f, -0x1.86008cp-20f, -0x1.db8abcp-22f, -0x1.83853cp-18f,
        0x1.070cacp-20f, -0x1.cababap-18f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
        -0x1.7109fap-20f, -0x1.deecb2p-18f, -0x1.2c3752p-19f,
        0x1.d044fcp-20f, -0x1.9d2988p-18f);
    const __m512 m =
        _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
    const __m512 e0 = _mm512_getexp_ps(x);
    const __m512 e = _mm512_mask_add_ps(
        e0, _mm512_cmp_ps_mask(m, one, _CMP_LT_OQ), e0, one);
    const __m512 invc = _mm512_roundscale_ps(_mm512_rcp14_ps(m), 0x48);
    const __m512 r = _mm512_fmsub_ps(m, invc, one);
    const __m512i k = _mm512_castps_si512(_mm512_fmadd_ps(
        invc, _mm512_set1_ps(16.0f), _mm512_set1_ps(0x1.8p23f)));
    const __m512 w = _mm512_fmadd_ps(e, _mm512_set1_ps(0x1.62e4p-1f),
                                     _mm512_permutexvar_ps(k, hi));
    const __m512 sum = _mm512_add_ps(w, r);
    const __m512 err = _mm512_sub_ps(r, _mm512_sub_ps(sum, w));
    __m512 p = _mm512_set1_ps(-0x1.55d462p-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.9a2accp-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-0x1.fffff8p-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.55555p-2f));
    p = _mm512_fmsub_ps(p, r, _mm512_set1_ps(0.5f));
    const __m512 small = _mm512_add_ps(
        _mm512_fmadd_ps(e, _mm512_set1_ps(0x1.7f7d1cp-20f),
                        _mm512_permutexvar_ps(k, lo)),
        err);
    __m512 y =
        _mm512_add_ps(sum, _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, small));
    const __mmask16 odd = _mm512_fpclass_ps_mask(y, 0x99);
    if (__builtin_expect(odd != 0, 0)) {
        y = _mm512_mask_mov_ps(y, odd, e0);
        y = _mm512_mask_mov_ps(
            y, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
            _mm512_set1_ps(NAN));
    }
    return y;
}

/* One vector of gnll_logf_clamped_avx512 (with tail = 1, the lanes outside
 * `in` are neither read nor written). */
static GNLL_ALWAYS_INLINE void gnll_logf_clamped16(const float *restrict p,
                                                   float *restrict out,
                                                   const int tail, __mmask16 in,
                                                   __m512 epsv, const int absval,
                                                   __m512 s)
{
    __m512 x = tail ? _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), in, p)
                    : _mm512_loadu_ps(p);
    /* |p|, or p < eps ? eps : p (vmaxps returns its second operand for a
     * NaN) */
    x = absval ? _mm512_abs_ps(x) : _mm512_max_ps(epsv, x);
    const __m512 y = _mm512_mul_ps(s, gnll_logf16(x));
    if (tail)
        _mm512_mask_storeu_ps(out, in, y);
    else
        _mm512_storeu_ps(out, y);
}

/* out[k] = scale log(max(p[k], eps)), or with absval scale log|p[k]|, for
 * k < m (scale: 1 or 2), by gnll_logf16 in one pass. */
static GNLL_ALWAYS_INLINE void
gnll_logf_clamped_avx512(const float *restrict p, ptrdiff_t m, float eps,
                         const int absval, float scale, float *restrict out)
{
    const __m512 s = _mm512_set1_ps(scale), epsv = _mm512_set1_ps(eps);
    ptrdiff_t k = 0;
    for (; k + 16 <= m; k += 16)
        gnll_logf_clamped16(p + k, out + k, 0, 0xFFFF, epsv, absval, s);
    if (k < m)
        gnll_logf_clamped16(p + k, out + k, 1,
                            (__mmask16)((1u << (m - k)) - 1u), epsv, absval,
                            s);
}

/*
 * exp of 8 doubles with AVX-512, the v4 path's (the other paths with FMA use
 * gnll_exp_poly): within 0.77 ulp of exp over its whole range (long double
 * reference; 0.76 found by a targeted search over 1e9 arguments): the
 * largest errors are subnormal results, whose significand vscalefpd rounds
 * a second time; normal results are within 0.553 ulp.  A table of 16
 * values held in registers.
 * Constants: tools/exp_coefficients.py.
 *
 *   a clamped to [-746, 710] (exp is 0 or inf beyond either way; NaN kept)
 *   k = nearest integer to 16 a / ln2,  f = a - k ln2/16 (Cody-Waite, ln2/16
 *       in two parts; |f| <= ln2/32)
 *   exp a = 2^floor(k/16) 2^(j/16) e^f,  j = k mod 16
 *         = scalef(T + (T (f + f^2 Q(f)) + T_lo), k/16),
 *   scalef(x, y) = x 2^floor(y),
 *
 * with T + T_lo = 2^(j/16) (read by vpermt2pd at index j, the low bits of
 * k + 1.5 2^52), Q the degree-5 interpolant of (e^f - 1 - f) / f^2 at the
 * Chebyshev nodes of [-ln2/32, ln2/32] (error 4e-20), and vscalefpd, which
 * rounds once, also to a subnormal, and overflows to inf.
 */
static GNLL_ALWAYS_INLINE __m512d gnll_exp8(__m512d a)
{
    const __m512d shift = _mm512_set1_pd(0x1.8p52);
    const __m512d t0 = _mm512_setr_pd(
        0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0,
        0x1.2387a6e756238p+0, 0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0,
        0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0);
    const __m512d t1 = _mm512_setr_pd(
        0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0,
        0x1.9c49182a3f090p+0, 0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0,
        0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0);
    const __m512d l0 = _mm512_setr_pd(
        0.0, 0x1.8a62e4adc610bp-54, -0x1.19041b9d78a76p-55,
        0x1.9b07eb6c70573p-54, 0x1.6f46ad23182e4p-55, 0x1.ada0911f09ebcp-55,
        0x1.d4397afec42e2p-56, 0x1.6324c054647adp-54);
    const __m512d l1 = _mm512_setr_pd(
        -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55,
        0x1.6e9f156864b27p-54, 0x1.c7c46b071f2bep-56, 0x1.7a1cd345dcc81p-54,
        0x1.11065895048ddp-55, 0x1.2ed02d75b3707p-55,
        -0x1.e9c23179c2893p-54);
    /* vminpd/vmaxpd return their second operand when one is NaN */
    a = _mm512_min_pd(_mm512_set1_pd(710.0),
                      _mm512_max_pd(_mm512_set1_pd(-746.0), a));
    const __m512d ks =
        _mm512_fmadd_pd(a, _mm512_set1_pd(0x1.71547652b82fep+4), shift);
    const __m512d k = _mm512_sub_pd(ks, shift);
    __m512d f = _mm512_fnmadd_pd(k, _mm512_set1_pd(0x1.62e42ff000000p-5), a);
    f = _mm512_fnmadd_pd(k, _mm512_set1_pd(-0x1.718432a1b0e26p-39), f);
    const __m512i j = _mm512_castpd_si512(ks);
    __m512d q = _mm512_set1_pd(0x1.a01b0c3c80bbcp-13);
    q = _mm512_fmadd_pd(q, f, _mm512_set1_pd(0x1.6c17ed5c1f49ep-10));
    q = _mm512_fmadd_pd(q, f, _mm512_set1_pd(0x1.11111110e1059p-7));
    q = _mm512_fmadd_pd(q, f, _mm512_set1_pd(0x1.55555554e93b7p-5));
    q = _mm512_fmadd_pd(q, f, _mm512_set1_pd(0x1.5555555555556p-3));
    q = _mm512_fmadd_pd(q, f, _mm512_set1_pd(0x1.0000000000001p-1));
    const __m512d e1 = _mm512_fmadd_pd(_mm512_mul_pd(f, f), q, f);
    const __m512d t = _mm512_permutex2var_pd(t0, j, t1);
    const __m512d mant = _mm512_add_pd(
        t, _mm512_fmadd_pd(t, e1, _mm512_permutex2var_pd(l0, j, l1)));
    /* vscalefpd multiplies by 2^floor(its second operand): floor(k/16),
     * k/16 being exact */
    return _mm512_scalef_pd(mant, _mm512_mul_pd(k, _mm512_set1_pd(0.0625)));
}

/*
 * 1/sqrt(x) of 8 doubles with AVX-512, for x in 2^-1020..2^1020 (callers
 * check the range): within 1.23 ulp (measured against long double over 3e7
 * arguments across that range, near 1 and in [0.5, 4]; mean 0.30).  No
 * division and no square root, which share one slow unit:
 *
 *   y0 = vrsqrt14pd(x)                  (relative error below 2^-14)
 *   y  = y + y (1/2 - (x/2) y^2), twice (Newton: the error squares, times
 *                                        1.5: about 2^-27, then 2^-54)
 *
 * (Forming 1 - x y^2 exactly in the last step, from x y = h + hl, gives 0.79
 * ulp for two operations more; the one caller needs y to within a few ulp
 * and is bound by its operation count.)
 */
static GNLL_ALWAYS_INLINE __m512d gnll_rsqrt8(__m512d x)
{
    const __m512d half = _mm512_set1_pd(0.5), xh = _mm512_mul_pd(x, half);
    __m512d y = _mm512_rsqrt14_pd(x);
    y = _mm512_fmadd_pd(y, _mm512_fnmadd_pd(_mm512_mul_pd(xh, y), y, half), y);
    return _mm512_fmadd_pd(y, _mm512_fnmadd_pd(_mm512_mul_pd(xh, y), y, half),
                           y);
}

/* dst[k] = exp(scale * src[k]) for k < m (dst may be src), by gnll_exp8. */
static GNLL_ALWAYS_INLINE void gnll_exp_avx512(double *dst,
                                               const double *src,
                                               double scale, ptrdiff_t m)
{
    const __m512d s = _mm512_set1_pd(scale);
    ptrdiff_t k = 0;
    for (; k + 8 <= m; k += 8)
        _mm512_storeu_pd(dst + k,
                         gnll_exp8(_mm512_mul_pd(s, _mm512_loadu_pd(src + k))));
    if (k < m) {
        const __mmask8 tail = (__mmask8)((1u << (m - k)) - 1u);
        const __m512d x = _mm512_maskz_loadu_pd(tail, src + k);
        _mm512_mask_storeu_pd(dst + k, tail, gnll_exp8(_mm512_mul_pd(s, x)));
    }
}
#define GNLL_AVX512_MATH 1

#define T double
#define NAME(f) f##_f64_v4
#include "_kernels_impl.h"
#undef T
#undef NAME
#define T float
#define GNLL_SINGLE 1
#define NAME(f) f##_f32_v4
#include "_kernels_impl.h"
#undef T
#undef NAME
#undef GNLL_SINGLE
#undef GNLL_AVX512_MATH
#pragma GCC pop_options
#endif

/* ---- sums ------------------------------------------------------------------ */

/* The sum of a[0..n) in double, in a fixed order: 16 lanes (element k goes
 * to lane k % 16), combined as a tree.  Used for the weights' total (xblock
 * takes the same sum in its pass, by NAME(lane_add16)). */
#define GNLL_SUM_BODY                                                        \
    double lanes[16] = {0};                                                  \
    ptrdiff_t k = 0;                                                         \
    for (; k + 16 <= n; k += 16)                                             \
        for (int j = 0; j < 16; j++)                                         \
            lanes[j] += (double)a[k + j];                                    \
    for (int j = 0; k + j < n; j++)                                          \
        lanes[j] += (double)a[k + j];                                        \
    for (int j = 0; j < 8; j++)                                              \
        lanes[j] += lanes[j + 8];                                            \
    return gnll_lanes_total(lanes);

double gnll_sum_f64(const double *a, ptrdiff_t n) { GNLL_SUM_BODY }
double gnll_sum_f32(const float *a, ptrdiff_t n) { GNLL_SUM_BODY }
#undef GNLL_SUM_BODY

/* ---- dispatch ------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*block_f64)(const double *, const double *, const double *,
                      ptrdiff_t, double, double, double *, double *, double *,
                      double *, const double *, double, gnll_block_result *);
    void (*block_f32)(const float *, const float *, const float *, ptrdiff_t,
                      double, double, float *, float *, float *, float *,
                      const float *, double, gnll_block_result *);
    void (*rows_f64)(const double *, const double *, const double *,
                     ptrdiff_t, ptrdiff_t, double, double, double *, double *,
                     double *, double *, const double *, double,
                     gnll_block_result *);
    void (*rows_f32)(const float *, const float *, const float *, ptrdiff_t,
                     ptrdiff_t, double, double, float *, float *, float *,
                     double *, const float *, double, gnll_block_result *);
    void (*xblock_f64)(const double *, const double *, const double *,
                       const double *, ptrdiff_t, const gnll_options *,
                       double *, double *, double *, double *, const double *,
                       double, gnll_block_result *);
    void (*xblock_f32)(const float *, const float *, const float *,
                       const float *, ptrdiff_t, const gnll_options *, float *,
                       float *, float *, float *, const float *, double,
                       gnll_block_result *);
    void (*xrows_f64)(const double *, const double *, const double *,
                      const double *, ptrdiff_t, ptrdiff_t,
                      const gnll_options *, double *, double *, double *,
                      double *, const double *, double, gnll_block_result *);
    void (*xrows_f32)(const float *, const float *, const float *,
                      const float *, ptrdiff_t, ptrdiff_t,
                      const gnll_options *, float *, float *, float *,
                      double *, const float *, double, gnll_block_result *);
    void (*xcurv_f64)(const double *, const double *, const double *,
                      const double *, ptrdiff_t, const gnll_options *, int,
                      double, double *, double *, double *);
    void (*xcurv_f32)(const float *, const float *, const float *,
                      const float *, ptrdiff_t, const gnll_options *, int,
                      double, float *, float *, float *);
} gnll_path;

static const gnll_path paths[] = {
    {"baseline", block_f64_baseline, block_f32_baseline, rows_f64_baseline,
     rows_f32_baseline, xblock_f64_baseline, xblock_f32_baseline,
     xrows_f64_baseline, xrows_f32_baseline, xcurv_f64_baseline,
     xcurv_f32_baseline},
#if GNLL_X86_PATHS
    {"x86-64-v3", block_f64_v3, block_f32_v3, rows_f64_v3, rows_f32_v3,
     xblock_f64_v3, xblock_f32_v3, xrows_f64_v3, xrows_f32_v3, xcurv_f64_v3,
     xcurv_f32_v3},
    {"x86-64-v4", block_f64_v4, block_f32_v4, rows_f64_v4, rows_f32_v4,
     xblock_f64_v4, xblock_f32_v4, xrows_f64_v4, xrows_f32_v4, xcurv_f64_v4,
     xcurv_f32_v4},
#endif
};

#define GNLL_N_PATHS ((int)(sizeof(paths) / sizeof(paths[0])))

static const gnll_path *current = &paths[0];

int gnll_n_paths(void) { return GNLL_N_PATHS; }

const char *gnll_path_name(int path)
{
    return (path >= 0 && path < GNLL_N_PATHS) ? paths[path].name : "";
}

int gnll_path_supported(int path)
{
    if (path == 0)
        return 1;
#if GNLL_X86_PATHS
    __builtin_cpu_init();
    if (path == 1)
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
    if (path == 2)
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2") &&
               __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512cd");
#endif
    return 0;
}

int gnll_get_path(void) { return (int)(current - paths); }

int gnll_set_path(int path)
{
    if (path < 0 || path >= GNLL_N_PATHS || !gnll_path_supported(path))
        return -1;
    current = &paths[path];
    return 0;
}

int gnll_vector_log(void) { return GNLL_LIBMVEC; }

int gnll_float32_in_float(void)
{
    static const int *const in_float[] = {
        &in_float_f32_baseline,
#if GNLL_X86_PATHS
        &in_float_f32_v3, &in_float_f32_v4,
#endif
    };
    return *in_float[current - paths];
}

/* ---- public entry points: forward to the selected path ------------------ */

void gnll_block_f64(const double *x, const double *y, const double *v,
                    ptrdiff_t n, double eps, double c, double *loss,
                    double *gx, double *gy, double *gv, const double *gout,
                    double gscale, gnll_block_result *res)
{
    current->block_f64(x, y, v, n, eps, c, loss, gx, gy, gv, gout, gscale,
                       res);
}

void gnll_block_f32(const float *x, const float *y, const float *v,
                    ptrdiff_t n, double eps, double c, float *loss, float *gx,
                    float *gy, float *gv, const float *gout, double gscale,
                    gnll_block_result *res)
{
    current->block_f32(x, y, v, n, eps, c, loss, gx, gy, gv, gout, gscale,
                       res);
}

void gnll_rows_f64(const double *x, const double *y, const double *v,
                   ptrdiff_t rows, ptrdiff_t cols, double eps, double c,
                   double *loss, double *gx, double *gy, double *gv_rows,
                   const double *gout, double gscale, gnll_block_result *res)
{
    current->rows_f64(x, y, v, rows, cols, eps, c, loss, gx, gy, gv_rows, gout,
                      gscale, res);
}

void gnll_rows_f32(const float *x, const float *y, const float *v,
                   ptrdiff_t rows, ptrdiff_t cols, double eps, double c,
                   float *loss, float *gx, float *gy, double *gv_rows,
                   const float *gout, double gscale, gnll_block_result *res)
{
    current->rows_f32(x, y, v, rows, cols, eps, c, loss, gx, gy, gv_rows, gout,
                      gscale, res);
}

void gnll_xblock_f64(const double *x, const double *y, const double *p,
                     const double *w, ptrdiff_t n, const gnll_options *opt,
                     double *loss, double *gx, double *gy, double *gp,
                     const double *gout, double gscale, gnll_block_result *res)
{
    current->xblock_f64(x, y, p, w, n, opt, loss, gx, gy, gp, gout, gscale,
                        res);
}

void gnll_xblock_f32(const float *x, const float *y, const float *p,
                     const float *w, ptrdiff_t n, const gnll_options *opt,
                     float *loss, float *gx, float *gy, float *gp,
                     const float *gout, double gscale, gnll_block_result *res)
{
    current->xblock_f32(x, y, p, w, n, opt, loss, gx, gy, gp, gout, gscale,
                        res);
}

void gnll_xrows_f64(const double *x, const double *y, const double *p,
                    const double *w, ptrdiff_t rows, ptrdiff_t cols,
                    const gnll_options *opt, double *loss, double *gx,
                    double *gy, double *gp_rows, const double *gout,
                    double gscale, gnll_block_result *res)
{
    current->xrows_f64(x, y, p, w, rows, cols, opt, loss, gx, gy, gp_rows,
                       gout, gscale, res);
}

void gnll_xrows_f32(const float *x, const float *y, const float *p,
                    const float *w, ptrdiff_t rows, ptrdiff_t cols,
                    const gnll_options *opt, float *loss, float *gx,
                    float *gy, double *gp_rows, const float *gout,
                    double gscale, gnll_block_result *res)
{
    current->xrows_f32(x, y, p, w, rows, cols, opt, loss, gx, gy, gp_rows,
                       gout, gscale, res);
}

void gnll_xcurv_f64(const double *x, const double *y, const double *p,
                    const double *w, ptrdiff_t n, const gnll_options *opt,
                    int fisher, double scale, double *h_mm, double *h_pp,
                    double *h_mp)
{
    current->xcurv_f64(x, y, p, w, n, opt, fisher, scale, h_mm, h_pp, h_mp);
}

void gnll_xcurv_f32(const float *x, const float *y, const float *p,
                    const float *w, ptrdiff_t n, const gnll_options *opt,
                    int fisher, double scale, float *h_mm, float *h_pp,
                    float *h_mp)
{
    current->xcurv_f32(x, y, p, w, n, opt, fisher, scale, h_mm, h_pp, h_mp);
}
