r"""
The loss landscape over the mean and the log-variance
=====================================================

A mean-variance model predicts two numbers per target, so the Gaussian NLL
is a surface over two coordinates. Here we draw it over the mean μ and the
log-variance s = log σ² (the coordinate most networks output), together
with the gradient field that gradient descent follows.

gnll works with the variance itself, so the gradient in :math:`s` is
obtained by the chain rule from gnll's analytic ``dL/dvar``:

.. math::

    \frac{\partial \ell}{\partial s}
    = \frac{\partial \ell}{\partial \sigma^2}\,\frac{d\sigma^2}{ds}
    = \frac{\partial \ell}{\partial \sigma^2}\,\sigma^2
    = \tfrac12\left(1 - r^2 e^{-s}\right).

Two panels tell two different stories:

* **one observation**: there is no minimum at all. Along the line
  :math:`\mu = y` the loss falls without bound as :math:`s \to -\infty`;
* **many observations with a shared mean and variance**: a single bowl-like
  basin whose bottom is the sample mean and the (biased, divide-by-n)
  sample variance, the maximum-likelihood estimates.
"""

import matplotlib.pyplot as plt
import numpy as np

import gnll

rng = np.random.default_rng(7)

# %%
# A grid over (mu, s)
# -------------------
# gnll broadcasts like NumPy, so the whole grid is evaluated in one call:
# the means and variances have shape ``(G, 1)`` and the observations shape
# ``(n,)``, giving a ``(G, n)`` array of per-element losses.

mu_axis = np.linspace(-2.0, 4.0, 241)
s_axis = np.linspace(-6.0, 4.0, 241)
MU, S = np.meshgrid(mu_axis, s_axis)
mu_col = MU.reshape(-1, 1)
var_col = np.exp(S).reshape(-1, 1)


def landscape(y):
    """Mean loss over the observations ``y`` and its gradient in (mu, s)."""
    n = y.size
    # reduction="sum" adds over the whole grid too, but each grid point only
    # touches its own row, so the per-row gradients are exactly what we want;
    # gnll sums each gradient over the axis its argument was broadcast along,
    # giving (G, 1) gradients for the (G, 1) inputs.
    _, g = gnll.gaussian_nll_loss_and_grad(mu_col, y, var_col, reduction="sum",
                                           wrt=("input", "var"))
    loss = gnll.gaussian_nll_loss(mu_col, y, var_col, reduction="none").mean(axis=1)
    d_mu = g.input[:, 0] / n
    d_s = g.var[:, 0] * var_col[:, 0] / n  # chain rule: dvar/ds = var
    return loss.reshape(MU.shape), d_mu.reshape(MU.shape), d_s.reshape(MU.shape)


y_one = np.array([1.0])
y_many = rng.normal(1.0, 0.6, size=50)

# %%
# Drawing both landscapes
# -----------------------
# Contours of the loss, arrows for the *descent* direction (minus the
# gradient, normalised so that directions stay readable), and the valley
# floor :math:`s = \log (\mu - y)^2` where :math:`\partial\ell/\partial s = 0`.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, y, title in [(axes[0], y_one, "one observation y = 1"),
                     (axes[1], y_many, f"{y_many.size} observations, shared mean and variance")]:
    loss, d_mu, d_s = landscape(y)
    levels = np.linspace(np.percentile(loss, 0.5), np.percentile(loss, 45), 25)
    cs = ax.contourf(MU, S, loss, levels=levels, cmap="viridis", extend="both")
    ax.contour(MU, S, loss, levels=levels[::3], colors="white", linewidths=0.5)
    fig.colorbar(cs, ax=ax, label="mean loss (full=False)")
    step = 20
    norm = np.hypot(d_mu, d_s) + 1e-300
    ax.quiver(MU[::step, ::step], S[::step, ::step], (-d_mu / norm)[::step, ::step],
              (-d_s / norm)[::step, ::step], color="white", alpha=0.9, scale=30, width=0.004,
              edgecolor="0.2", linewidth=0.3)
    ax.set_xlabel(r"predicted mean $\mu$")
    ax.set_ylabel(r"predicted log-variance $s = \log\sigma^2$")
    ax.set_title(title)

# Left: the valley floor s = log (mu - y)^2, and the line mu = y going down to -inf.
m = mu_axis[np.abs(mu_axis - 1.0) > 1e-3]
axes[0].plot(m, np.log((m - 1.0) ** 2), color="tab:red", lw=1.5,
             label=r"$\partial\ell/\partial s = 0$: $\sigma^2 = (\mu - y)^2$")
axes[0].axvline(1.0, color="tab:orange", ls="--", lw=1.5,
                label=r"$\mu = y$: loss $\to -\infty$ as $s \to -\infty$")
axes[0].set_ylim(s_axis[0], s_axis[-1])
axes[0].legend(loc="upper left", fontsize=8)

# Right: the maximum-likelihood point (sample mean, biased sample variance).
mu_hat = y_many.mean()
var_hat = np.mean((y_many - mu_hat) ** 2)
axes[1].plot(mu_hat, np.log(var_hat), "r*", ms=15,
             label=r"MLE: $\bar y$, $\log\frac{1}{n}\sum (y_i - \bar y)^2$")
axes[1].legend(loc="upper left", fontsize=8)
fig.suptitle(r"Gaussian NLL over $(\mu, \log\sigma^2)$; arrows point downhill")

# %%
# What to look at. On the left, the arrows run down towards the orange line
# and then straight down it: a single observation can always be fitted more
# "confidently", so the likelihood is unbounded below. On the right, with 50
# observations sharing one mean and one variance, every arrow ends at the
# red star. The basin is narrow at the bottom and wide at the top: near the
# minimum the curvature along :math:`s` is :math:`\tfrac12` per observation
# whatever the variance, while along :math:`\mu` it is :math:`1/\sigma^2`.
# With a small variance the mean is pinned down sharply; with a large one
# the mean hardly matters. That same :math:`1/\sigma^2` factor scales the
# mean's gradient in a network, which is why points with a large predicted
# variance are learned slowly (see the beta-NLL example).
#
# Check the star with the gradient: at the MLE both gradients vanish.

loss_hat, g_hat = gnll.gaussian_nll_loss_and_grad(np.full_like(y_many, mu_hat), y_many,
                                                  np.full_like(y_many, var_hat))
print(f"sample mean {mu_hat:.4f}, biased sample variance {var_hat:.4f}")
print(f"gradient at the MLE: dL/dmu summed = {g_hat.input.sum():.2e}, "
      f"dL/dvar summed = {g_hat.var.sum():.2e}")
print(f"mean loss there: {loss_hat:.4f} "
      f"(closed form (1 + log var_hat)/2 = {0.5 * (1 + np.log(var_hat)):.4f})")

plt.show()
