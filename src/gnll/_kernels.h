/*
 * gnll block kernels: the Gaussian negative log-likelihood and its gradients
 * over one contiguous block of elements, in a single pass.
 *
 * Threading, chunking and the order in which block results are combined live
 * in _core.pyx; these functions are single-threaded and re-entrant.  Every
 * output pointer may be NULL, meaning "not wanted".
 *
 * Notation (per element): v = max(var, eps) with NaN kept, r = input - target,
 *   loss      = 0.5 * (log v + r^2 / v) + c          (c = 0.5*log(2*pi) if full)
 *   d/dinput  =  g * r / v
 *   d/dtarget = -g * r / v
 *   d/dvar    =  g * 0.5 * (1/v - r^2/v^2)           (straight through the clamp)
 * where g = gscale * grad_output[i] (grad_output NULL: g = gscale).
 */
#ifndef GNLL_KERNELS_H
#define GNLL_KERNELS_H

#include <stddef.h>

typedef struct {
    int stream;        /* in: write outputs with non-temporal stores (for
                          outputs far larger than the caches)              */
    double loss_sum;   /* sum of the block's per-element losses (in double) */
    int any_negative;  /* some var entry was < 0 (-0.0 and NaN are not);
                          extended kernels: or some weight is negative,
                          NaN or infinite                                  */
    double weight_sum; /* xblock with weights: their sum, in the order of
                          gnll_sum_f64/f32 over the same elements          */
} gnll_block_result;

/* Heteroscedastic block: x, y, v (and gout, outputs) all hold n elements. */
void gnll_block_f64(const double *x, const double *y, const double *v,
                    ptrdiff_t n, double eps, double c,
                    double *loss, double *gx, double *gy, double *gv,
                    const double *gout, double gscale, gnll_block_result *res);
void gnll_block_f32(const float *x, const float *y, const float *v,
                    ptrdiff_t n, double eps, double c,
                    float *loss, float *gx, float *gy, float *gv,
                    const float *gout, double gscale, gnll_block_result *res);

/* Row block: `rows` rows of `cols` contiguous elements; v holds one variance
 * per row.  gv_rows[i] receives the row's summed var gradient, in double. */
void gnll_rows_f64(const double *x, const double *y, const double *v,
                   ptrdiff_t rows, ptrdiff_t cols, double eps, double c,
                   double *loss, double *gx, double *gy, double *gv_rows,
                   const double *gout, double gscale, gnll_block_result *res);
void gnll_rows_f32(const float *x, const float *y, const float *v,
                   ptrdiff_t rows, ptrdiff_t cols, double eps, double c,
                   float *loss, float *gx, float *gy, double *gv_rows,
                   const float *gout, double gscale, gnll_block_result *res);

/*
 * Extended kernels: the same fused pass for the other variance
 * parameterisations, beta-NLL, sample weights and the zero clamp-gradient
 * mode.  p holds the variance parameter (per element, or per row for the
 * rows variant); w (NULL: all ones) holds per-element sample weights.
 * With theta the parameter and v the clamped variance:
 *   var      v = max(theta, eps)
 *   std      v = max(theta^2, eps)
 *   log_var  s = max(theta, log_eps), v = exp(s)
 *   loss      = w * v^beta * (0.5 * (log v + r^2 / v) + c)
 *   d/dinput  =  g * w * v^beta * r / v
 *   d/dtarget = -g * w * v^beta * r / v
 *   d/dtheta  =  g * w * v^beta * 0.5 * (1/v - r^2/v^2) * dv/dtheta
 * with dv/dtheta = 1 (var), 2 theta (std), v (log_var: 0.5 * (1 - r^2/v)),
 * the clamp straight-through (its derivative taken as 1) unless
 * zero_clamp_grad, which makes d/dtheta 0 where theta is at or below the
 * clamp (var <= eps, std^2 <= eps, log_var <= log_eps).  v^beta is a
 * constant weight (not differentiated), as in beta-NLL.
 */
enum { GNLL_PARAM_VAR = 0, GNLL_PARAM_LOG_VAR = 1, GNLL_PARAM_STD = 2 };

typedef struct {
    double eps;           /* variance clamp (var, std)                       */
    double log_eps;       /* log-variance clamp (log_var), usually log(eps)  */
    double c;             /* 0.5*log(2*pi) if full, else 0                   */
    double beta;          /* beta-NLL exponent; 0: plain NLL                 */
    int param;            /* GNLL_PARAM_*                                    */
    int zero_clamp_grad;  /* 1: no gradient to theta where clamped (MLX)     */
} gnll_options;

void gnll_xblock_f64(const double *x, const double *y, const double *p,
                     const double *w, ptrdiff_t n, const gnll_options *opt,
                     double *loss, double *gx, double *gy, double *gp,
                     const double *gout, double gscale, gnll_block_result *res);
void gnll_xblock_f32(const float *x, const float *y, const float *p,
                     const float *w, ptrdiff_t n, const gnll_options *opt,
                     float *loss, float *gx, float *gy, float *gp,
                     const float *gout, double gscale, gnll_block_result *res);
/* Rows: p holds one parameter per row; gp_rows[i] the row's summed
 * gradient (double); w, when given, holds rows * cols weights. */
void gnll_xrows_f64(const double *x, const double *y, const double *p,
                    const double *w, ptrdiff_t rows, ptrdiff_t cols,
                    const gnll_options *opt, double *loss, double *gx,
                    double *gy, double *gp_rows, const double *gout,
                    double gscale, gnll_block_result *res);
void gnll_xrows_f32(const float *x, const float *y, const float *p,
                    const float *w, ptrdiff_t rows, ptrdiff_t cols,
                    const gnll_options *opt, float *loss, float *gx,
                    float *gy, double *gp_rows, const float *gout,
                    double gscale, gnll_block_result *res);

/* Curvature, per element (n elements of x, y, p and w; w may be NULL):
 * h_mm = d2 loss / d input2, h_pp = d2 loss / d theta2 and
 * h_mp = d2 loss / d input d theta, or with `fisher` their expectations
 * over target ~ N(input, v); all times scale * w * v^beta. */
void gnll_xcurv_f64(const double *x, const double *y, const double *p,
                    const double *w, ptrdiff_t n, const gnll_options *opt,
                    int fisher, double scale, double *h_mm, double *h_pp,
                    double *h_mp);
void gnll_xcurv_f32(const float *x, const float *y, const float *p,
                    const float *w, ptrdiff_t n, const gnll_options *opt,
                    int fisher, double scale, float *h_mm, float *h_pp,
                    float *h_mp);

/* Instruction-set paths, chosen at import from what the CPU supports. */
int gnll_n_paths(void);                 /* number of compiled paths         */
const char *gnll_path_name(int path);   /* "baseline", "x86-64-v3", ...     */
int gnll_path_supported(int path);      /* the CPU can run it               */
int gnll_get_path(void);                /* the path in use                  */
int gnll_set_path(int path);            /* 0 on success, -1 if unsupported  */
/* Sum of n elements in double, in a fixed order (the weights' total). */
double gnll_sum_f64(const double *a, ptrdiff_t n);
double gnll_sum_f32(const float *a, ptrdiff_t n);

int gnll_vector_log(void);              /* log is vectorised (glibc libmvec) */
int gnll_float32_in_float(void);        /* the selected path computes float32
                                           data in float (else in double)   */

#endif
