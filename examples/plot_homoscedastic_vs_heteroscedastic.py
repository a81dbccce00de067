r"""
Homoscedastic or heteroscedastic noise?
=======================================

A *homoscedastic* model assumes one noise variance for every input; a
*heteroscedastic* model lets the variance depend on the input, σ²(x).
Both are fitted with the same Gaussian negative log-likelihood. gnll takes
either form for ``var``: a scalar for a shared variance, one variance per
element, or the in-between shapes PyTorch accepts (for example one variance
per row of a 2-D input).

On data whose noise standard deviation grows sevenfold with :math:`x`,
:math:`\sigma(x) = 0.15\,e^{x/2}`, we fit

* a **homoscedastic** model: a quadratic mean by ordinary least squares and
  one variance, the mean squared residual (its maximum-likelihood value);
* a **heteroscedastic** model: the same quadratic mean plus a log-linear
  variance, :math:`\log\sigma^2(x) = \gamma_0 + \gamma_1 x`, fitted by
  maximum likelihood with gnll's gradients.

Both get the *average* coverage of their 95% intervals roughly right. Only
the heteroscedastic one gets it right *everywhere*.
"""

import matplotlib.pyplot as plt
import numpy as np

import gnll

rng = np.random.default_rng(3)


def f_true(x):
    return 1.0 + 1.2 * x - 0.25 * x**2


def sd_true(x):
    return 0.15 * np.exp(0.5 * x)


def sample(n):
    x = rng.uniform(0.0, 4.0, n)
    return x, f_true(x) + sd_true(x) * rng.standard_normal(n)


x, y = sample(400)
x_test, y_test = sample(20000)
Phi = np.column_stack([np.ones_like(x), x, x**2])  # mean features
Psi = np.column_stack([np.ones_like(x), x])  # log-variance features

# %%
# Homoscedastic fit
# -----------------
# Ordinary least squares for the mean, then the mean squared residual as the
# variance. We pass that variance to gnll as a plain Python float: it is
# broadcast to every element, and its gradient comes back as a 0-d array,
# summed over all the elements it was applied to. At the maximum-likelihood
# variance that gradient is zero.

beta_h = np.linalg.lstsq(Phi, y, rcond=None)[0]
resid = y - Phi @ beta_h
var_h = float(np.mean(resid**2))
loss_h, g_h = gnll.gaussian_nll_loss_and_grad(Phi @ beta_h, y, var_h, full=True)
print(f"homoscedastic: sigma^2 = {var_h:.4f}, training NLL {loss_h:.4f}")
print(f"  gradient w.r.t. the shared variance: {g_h.var!r} "
      f"(shape {np.shape(g_h.var)}, zero at the MLE)")

# %%
# Heteroscedastic fit
# -------------------
# Two alternating steps, each solved well:
#
# * with the variances fixed, the best mean is **weighted** least squares
#   with weights :math:`1/\sigma^2(x_i)`. This is the "weighted-regression
#   effect" of the Gaussian NLL: noisy points count less;
# * with the mean fixed, the log-variance coefficients :math:`\gamma` take a
#   Fisher-scoring step. gnll gives :math:`\partial L/\partial\sigma^2_i`; the
#   chain rule through :math:`\sigma^2_i = e^{\psi_i^\top\gamma}` gives
#   :math:`\partial L/\partial\gamma = \Psi^\top (\partial L/\partial\sigma^2
#   \odot \sigma^2)`, and the Fisher information of a log-variance is the
#   constant :math:`\tfrac12` per point, so the scoring matrix is
#   :math:`\Psi^\top\Psi / (2n)`.

gamma = np.array([np.log(var_h), 0.0])
fisher = Psi.T @ Psi / (2 * x.size)  # for the *mean* loss over n points
for it in range(30):
    var_x = np.exp(Psi @ gamma)
    w = 1.0 / var_x
    beta = np.linalg.solve(Phi.T @ (w[:, None] * Phi), Phi.T @ (w * y))
    _, g = gnll.gaussian_nll_loss_and_grad(Phi @ beta, y, var_x, wrt=("var",))
    grad_gamma = Psi.T @ (g.var * var_x)
    gamma = gamma - np.linalg.solve(fisher, grad_gamma)

var_x = np.exp(Psi @ gamma)
loss_x, g = gnll.gaussian_nll_loss_and_grad(Phi @ beta, y, var_x, full=True)
print(f"heteroscedastic: log sigma^2(x) = {gamma[0]:.3f} + {gamma[1]:.3f} x, "
      f"training NLL {loss_x:.4f}")
print(f"  |dL/dbeta|  = {np.abs(Phi.T @ g.input).max():.1e}, "
      f"|dL/dgamma| = {np.abs(Psi.T @ (g.var * var_x)).max():.1e}  (both ~0: converged)")

# %%
# Held-out comparison
# -------------------
# NLL (with the constant) and coverage of :math:`\mu \pm 1.96\sigma` on
# 20 000 fresh points, against the true model.


def report(name, mu, var):
    nll = gnll.gaussian_nll_loss(mu, y_test, var, full=True)
    cover = np.mean(np.abs(y_test - mu) <= 1.96 * np.sqrt(var))
    print(f"{name:18s} test NLL {nll:7.4f}   95% coverage {100 * cover:5.1f}%")


Phi_t = np.column_stack([np.ones_like(x_test), x_test, x_test**2])
Psi_t = np.column_stack([np.ones_like(x_test), x_test])
report("homoscedastic", Phi_t @ beta_h, var_h)  # a float var broadcasts
report("heteroscedastic", Phi_t @ beta, np.exp(Psi_t @ gamma))
report("true model", f_true(x_test), sd_true(x_test) ** 2)

# %%
# What to look at: the heteroscedastic model's NLL is far lower and close to
# the truth's. Both cover close to 95% overall. The figures show why that
# single number is misleading.

grid = np.linspace(0, 4, 200)
G3 = np.column_stack([np.ones_like(grid), grid, grid**2])
G2 = np.column_stack([np.ones_like(grid), grid])
fits = {"homoscedastic: one variance": (G3 @ beta_h, np.full_like(grid, var_h)),
        r"heteroscedastic: $\log\sigma^2(x)$ linear in $x$": (G3 @ beta, np.exp(G2 @ gamma))}

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
for ax, (name, (mu, var)) in zip(axes, fits.items()):
    ax.scatter(x, y, s=6, color="0.55", alpha=0.6, label="training data")
    ax.fill_between(grid, f_true(grid) - 2 * sd_true(grid), f_true(grid) + 2 * sd_true(grid),
                    color="tab:orange", alpha=0.25, label=r"true $f \pm 2\sigma_{\rm true}$")
    ax.plot(grid, mu, color="tab:blue", lw=2, label=r"fitted $\mu(x)$")
    ax.plot(grid, mu + 2 * np.sqrt(var), color="tab:blue", lw=1, label=r"$\mu \pm 2\sigma$")
    ax.plot(grid, mu - 2 * np.sqrt(var), color="tab:blue", lw=1)
    ax.set_title(name)
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].legend(loc="upper left", fontsize=8)
fig.suptitle("Same data, same mean model, two noise models")

# %%
# Standardised residuals and local coverage
# -----------------------------------------
# If the variance is right, the standardised residuals
# :math:`z = (y - \mu)/\sigma` look like standard normal noise at every
# :math:`x`. With one shared variance they fan out like a funnel: the error
# bars are too wide on the left and too narrow on the right, and the local
# coverage drops from 100% to well below 95%.

mu_h_t, mu_x_t = Phi_t @ beta_h, Phi_t @ beta
sd_h_t, sd_x_t = np.sqrt(var_h), np.exp(0.5 * (Psi_t @ gamma))
fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
show = slice(0, 1500)
for ax, mu_t, sd_t, name, c in [(axes[0], mu_h_t, sd_h_t, "homoscedastic", "tab:gray"),
                                (axes[1], mu_x_t, sd_x_t, "heteroscedastic", "tab:blue")]:
    ax.scatter(x_test[show], ((y_test - mu_t) / sd_t)[show], s=4, alpha=0.6, color=c)
    ax.axhline(1.96, color="k", ls="--", lw=1)
    ax.axhline(-1.96, color="k", ls="--", lw=1)
    ax.set_ylim(-5.5, 5.5)
    ax.set_xlabel("x")
    ax.set_ylabel(r"standardised residual $(y - \mu)/\sigma$")
    ax.set_title(f"{name}: held-out residuals (dashed: ±1.96)", fontsize=10)
axes[1].sharey(axes[0])

bins = np.linspace(0, 4, 9)
mid = 0.5 * (bins[1:] + bins[:-1])
for mu_t, sd_t, name, c in [(mu_h_t, sd_h_t, "homoscedastic", "tab:gray"),
                            (mu_x_t, sd_x_t, "heteroscedastic", "tab:blue")]:
    inside = np.abs(y_test - mu_t) <= 1.96 * sd_t
    idx = np.digitize(x_test, bins) - 1
    cov = [100 * inside[idx == b].mean() for b in range(mid.size)]
    axes[2].plot(mid, cov, "o-", color=c, lw=2, label=name)
axes[2].axhline(95, color="k", ls="--", lw=1, label="nominal 95%")
axes[2].set_ylim(60, 101)
axes[2].set_xlabel("x (bins of width 0.5)")
axes[2].set_ylabel("coverage of the 95% interval (%)")
axes[2].set_title("Local coverage of μ ± 1.96σ (held-out)")
axes[2].legend(fontsize=8, loc="lower left")

plt.show()
