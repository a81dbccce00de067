/*
 * The typed body of the block kernels, included by _kernels.c once per
 * (storage type, instruction set) pair.  Before inclusion, the includer
 * defines
 *     T        the storage type of the arrays (double or float),
 *     NAME(f)  the name of function f for this instantiation.
 * All arithmetic is done in double, whatever T is: a float32 element is
 * widened in registers (never copied), and every output is rounded to T once.
 *
 * Each block of at most GNLL_BLK elements is processed in two short loops
 * over L1-resident buffers: the first evaluates the per-element formulas
 * (vectorised, with glibc's vector log where available), the second writes
 * the requested outputs and accumulates the loss into GNLL_LANES fixed lanes.
 * The lane order never depends on the instruction set or the thread count,
 * so sums are reproducible bit for bit.
 */

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
                              double *restrict lanes)
{
    double sb[GNLL_BLK];
    if (loss)
        for (ptrdiff_t k = 0; k < m; k++)
            loss[k] = (T)lb[k];
    if (gx || gy || gv || gv_lanes) {
        if (gout)
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale * (double)gout[k];
        else
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] = gscale;
        if (gx)
            for (ptrdiff_t k = 0; k < m; k++)
                gx[k] = (T)(sb[k] * tb[k]);
        if (gy)
            for (ptrdiff_t k = 0; k < m; k++)
                gy[k] = (T)(-(sb[k] * tb[k]));
        if (gv)
            for (ptrdiff_t k = 0; k < m; k++)
                gv[k] = (T)(sb[k] * db[k]);
        if (gv_lanes) {
            for (ptrdiff_t k = 0; k < m; k++)
                sb[k] *= db[k];
            NAME(lane_add)(gv_lanes, sb, m);
        }
    }
    NAME(lane_add)(lanes, lb, m);
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
    int neg = 0;
    const int want_grad = gx || gy || gv;

    for (ptrdiff_t b = 0; b < n; b += GNLL_BLK) {
        const ptrdiff_t m = n - b < GNLL_BLK ? n - b : GNLL_BLK;
        const T *xb = x + b, *yb = y + b, *vb = v + b;
        if (want_grad) {
#pragma omp simd reduction(| : neg)
            for (ptrdiff_t k = 0; k < m; k++) {
                const double vk = (double)vb[k];
                neg |= vk < 0.0;
                const double vc = gnll_clamp(vk, eps);
                const double r = (double)xb[k] - (double)yb[k];
                const double iv = 1.0 / vc;
                const double t = r * iv;
                lb[k] = gnll_loss(log(vc), r, t, c);
                tb[k] = t;
                db[k] = gnll_dvar(iv, t);
            }
        } else {
#pragma omp simd reduction(| : neg)
            for (ptrdiff_t k = 0; k < m; k++) {
                const double vk = (double)vb[k];
                neg |= vk < 0.0;
                const double vc = gnll_clamp(vk, eps);
                const double r = (double)xb[k] - (double)yb[k];
                lb[k] = gnll_loss(log(vc), r, r / vc, c);
            }
        }
        NAME(emit)(m, lb, tb, db, loss ? loss + b : NULL, gx ? gx + b : NULL,
                   gy ? gy + b : NULL, gv ? gv + b : NULL, NULL,
                   gout ? gout + b : NULL, gscale, lanes);
    }
    res->loss_sum = gnll_lanes_total(lanes);
    res->any_negative = neg;
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
    int neg = 0;
    const int want_grad = gx || gy || gv_rows;

    for (ptrdiff_t i = 0; i < rows; i++) {
        /* One log and one division per row: the homoscedastic saving. */
        const double vk = (double)v[i];
        neg |= vk < 0.0;
        const double vc = gnll_clamp(vk, eps);
        const double logv = log(vc);
        const double iv = 1.0 / vc;
        double gv_lanes[GNLL_LANES] = {0};
        for (ptrdiff_t b = 0; b < cols; b += GNLL_BLK) {
            const ptrdiff_t m = cols - b < GNLL_BLK ? cols - b : GNLL_BLK;
            const ptrdiff_t off = i * cols + b;
            const T *xb = x + off, *yb = y + off;
#pragma omp simd
            for (ptrdiff_t k = 0; k < m; k++) {
                const double r = (double)xb[k] - (double)yb[k];
                const double t = r * iv;
                lb[k] = gnll_loss(logv, r, t, c);
                tb[k] = t;
                db[k] = gnll_dvar(iv, t);
            }
            NAME(emit)(m, lb, tb, db, loss ? loss + off : NULL,
                       gx ? gx + off : NULL, gy ? gy + off : NULL, NULL,
                       want_grad && gv_rows ? gv_lanes : NULL,
                       gout ? gout + off : NULL, gscale, lanes);
        }
        if (gv_rows)
            gv_rows[i] = gnll_lanes_total(gv_lanes);
    }
    res->loss_sum = gnll_lanes_total(lanes);
    res->any_negative = neg;
}
