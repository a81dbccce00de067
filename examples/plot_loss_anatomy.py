r"""
Anatomy of the Gaussian NLL: over-confidence against vagueness
===============================================================

For one observation y, a predicted mean μ and a predicted variance σ², the
Gaussian negative log-likelihood has two terms that pull in opposite
directions: one punishes over-confidence, the other vagueness. This example
takes them apart. Per element, :func:`gnll.gaussian_nll_loss` computes

.. math::

    \ell(\sigma^2) = \tfrac12 \log \sigma^2 + \frac{r^2}{2\sigma^2}
    \quad \left(+\tfrac12\log 2\pi \text{ if full=True}\right),
    \qquad r = y - \mu .

* :math:`r^2/(2\sigma^2)` is the **accuracy term**. It punishes
  *over-confidence*: a small variance where the error is large. It grows
  without bound as :math:`\sigma^2 \to 0` whenever :math:`r \neq 0`.
* :math:`\tfrac12\log\sigma^2` punishes *vagueness*: a large variance. Without it a
  model could make the first term vanish by predicting an enormous variance.

Setting the derivative to zero, :math:`\partial\ell/\partial\sigma^2 =
(\sigma^2 - r^2)/(2\sigma^4) = 0`, gives the optimum :math:`\sigma^2 = r^2`:
the best variance for a single point is its squared error.

Below we draw both terms and their sum, check the optimum with gnll's
analytic gradient, and see what happens as the residual shrinks.
"""

import matplotlib.pyplot as plt
import numpy as np

import gnll

# %%
# The two terms for one residual
# ------------------------------
# We fix :math:`r = 1` and sweep the variance over eight decades. gnll computes
# the per-element loss with ``reduction="none"``; the two terms are written
# out by hand only to plot them separately.

r = 1.0
var = np.logspace(-3, 4, 400)
mu = np.zeros_like(var)
y = np.full_like(var, r)

loss = gnll.gaussian_nll_loss(mu, y, var, reduction="none")
log_term = 0.5 * np.log(var)
fit_term = r**2 / (2 * var)
np.testing.assert_allclose(loss, log_term + fit_term, rtol=1e-12)

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
ax.plot(var, fit_term, color="tab:red", lw=2,
        label=r"accuracy term $r^2/(2\sigma^2)$: punishes over-confidence")
ax.plot(var, log_term, color="tab:blue", lw=2,
        label=r"$\frac{1}{2}\log\sigma^2$: punishes vagueness")
ax.plot(var, loss, color="black", lw=2.5, label=r"loss $\ell$ (sum of both)")
ax.axvline(r**2, color="0.4", ls=":", lw=1.5)
ax.plot([r**2], [0.5], "ko", ms=7)
ax.annotate(r"minimum at $\sigma^2 = r^2$, $\ell = \frac{1}{2}(1 + \log r^2)$",
            xy=(r**2, 0.5), xytext=(4.0, -1.8),
            arrowprops=dict(arrowstyle="->", color="0.3"))
ax.set_xscale("log")
ax.set_ylim(-3, 6)
ax.set_xlabel(r"predicted variance $\sigma^2$ (log scale)")
ax.set_ylabel("loss (full=False)")
ax.set_title(r"The two terms of the Gaussian NLL for a residual $r = 1$")
ax.legend(loc="upper right", fontsize=9)
ax.grid(alpha=0.3)

# %%
# What to look at: left of the minimum the red accuracy term explodes, so a
# model that claims too much confidence pays heavily; right of it the blue
# log term rises slowly (logarithmically), so vagueness is punished gently.
# The loss is therefore asymmetric: being too sure costs more than being too
# unsure by the same factor.
#
# The optimum, checked with the analytic gradient
# -----------------------------------------------
# :func:`gnll.gaussian_nll_loss_and_grad` returns
# :math:`\partial\ell/\partial\sigma^2 = (1/\sigma^2 - r^2/\sigma^4)/2` per
# element. It changes sign exactly at :math:`\sigma^2 = r^2` for every
# residual; the table locates the sign change on a fine grid.

residuals = np.array([0.1, 0.3, 1.0, 3.0])
print(f"{'r':>5} {'var where dL/dvar = 0':>22} {'r**2':>8} {'min loss':>9} "
      f"{'(1 + log r**2)/2':>17}")
for r_ in residuals:
    v = np.logspace(-4, 3, 20001)
    _, g = gnll.gaussian_nll_loss_and_grad(np.zeros_like(v), np.full_like(v, r_), v,
                                           reduction="none", wrt=("var",))
    i = np.flatnonzero(np.diff(np.sign(g.var)))[0]  # first sign change
    # Linear interpolation of the zero crossing between grid points i, i+1.
    v_star = v[i] - g.var[i] * (v[i + 1] - v[i]) / (g.var[i + 1] - g.var[i])
    l_star = gnll.gaussian_nll_loss(0.0, r_, r_**2)
    print(f"{r_:5.1f} {v_star:22.5f} {r_**2:8.4f} {l_star:9.4f} "
          f"{0.5 * (1 + np.log(r_**2)):17.4f}")

# %%
# The loss curve for several residuals
# ------------------------------------
# The same curve for residuals from 0.1 to 3. Each minimum sits at
# :math:`\sigma^2 = r^2` with value :math:`(1 + \log r^2)/2`, which goes to
# minus infinity as :math:`r \to 0`: a model that fits a point exactly can make the loss
# as negative as it likes by shrinking the variance. That is the root of
# *variance collapse* (see the example on collapse and ``eps``) and the reason
# negative loss values are normal, not a bug.

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
colors = plt.cm.viridis(np.linspace(0.0, 0.85, residuals.size))
for r_, c in zip(residuals, colors):
    curve = gnll.gaussian_nll_loss(np.zeros_like(var), np.full_like(var, r_), var,
                                   reduction="none")
    ax.plot(var, curve, color=c, lw=2, label=f"r = {r_:g}")
    ax.plot([r_**2], [0.5 * (1 + np.log(r_**2))], "o", color=c, ms=7)
v_line = np.logspace(-3, 4, 50)
ax.plot(v_line, 0.5 * (1 + np.log(v_line)), "k--", lw=1,
        label=r"minima: $\frac{1}{2}(1 + \log\sigma^2)$ at $\sigma^2 = r^2$")
ax.set_xscale("log")
ax.set_ylim(-3.5, 6)
ax.set_xlabel(r"predicted variance $\sigma^2$ (log scale)")
ax.set_ylabel(r"loss $\ell$ (full=False)")
ax.set_title("Smaller residuals: the minimum moves to smaller variance and lower loss")
ax.legend(fontsize=9)
ax.grid(alpha=0.3)

# %%
# What to look at: the dots (the minima) slide down the dashed line as the
# residual gets smaller, and each curve is steep on its left side. The curve
# is not convex in :math:`\sigma^2` (it bends downwards once
# :math:`\sigma^2 > 2 r^2`),
# but it has a single minimum, which is why gradient-based training of a
# variance works at all.

plt.show()
