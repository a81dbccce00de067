r"""
Parameterising the variance: σ², log σ² or softplus
===================================================

A network cannot output a variance directly: the value must stay positive.
Common choices are to output

* the variance itself, :math:`\sigma^2 = p` (and hope it stays positive),
* the log-variance, :math:`\sigma^2 = e^{s}` (Kendall & Gal, 2017),
* a softplus, :math:`\sigma^2 = \log(1 + e^{z})` (used by deep ensembles,
  Lakshminarayanan et al., 2017).

The choice changes the gradient the optimiser sees, by the chain rule:

.. math::

    \frac{\partial L}{\partial p} = \frac{\partial L}{\partial \sigma^2},\qquad
    \frac{\partial L}{\partial s} = \frac{\partial L}{\partial \sigma^2}\,\sigma^2,\qquad
    \frac{\partial L}{\partial z} = \frac{\partial L}{\partial \sigma^2}\,
    \operatorname{sigmoid}(z).

Here every parameterisation is built by hand on gnll's variance gradient:
call gnll with ``var``, get :math:`\partial L/\partial\sigma^2`, multiply by
:math:`d\sigma^2/d(\text{parameter})`. For the log-variance and the standard
deviation gnll can also do this itself: pass ``log_var=`` or ``std=``
instead of ``var`` and the gradient comes back with respect to that
parameter. We check once that both routes agree.

The task is the simplest possible: learn **one** noise variance from 1000
residuals whose true variance is :math:`10^{-4}`, :math:`1` or :math:`10^{4}`,
starting from :math:`\sigma^2 = 1` each time. The answer is known in closed
form, the mean squared residual, so we can watch how each parameterisation
gets there, with plain gradient descent and with Adam.
"""

import matplotlib.pyplot as plt
import numpy as np

import gnll

rng = np.random.default_rng(0)
scales = [1e-4, 1.0, 1e4]
residuals = {v0: rng.normal(0.0, np.sqrt(v0), 1000) for v0 in scales}


def softplus(z):
    return np.logaddexp(0.0, z)


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# name: (variance from parameter, d variance / d parameter, parameter giving var = 1)
params = {
    "var": (lambda p: p, lambda p: np.ones_like(p), 1.0),
    "log-var": (np.exp, np.exp, 0.0),
    "softplus": (softplus, sigmoid, np.log(np.e - 1.0)),
}
labels = {"var": r"$\sigma^2 = p$", "log-var": r"$\sigma^2 = e^s$",
          "softplus": r"$\sigma^2 = \mathrm{softplus}(z)$"}

# %%
# One training loop for all
# -------------------------
# The variance is passed to gnll as a 0-d array, which broadcasts against the
# 1000 residuals; its gradient comes back 0-d, already summed (and divided by
# 1000 for ``reduction="mean"``). A negative variance makes gnll raise
# ``ValueError``, which we record as a failure instead of continuing.


def fit(to_var, dvar, theta0, r, optimiser, steps):
    theta, m, v = float(theta0), 0.0, 0.0
    path = []
    for t in range(1, steps + 1):
        var = to_var(np.float64(theta))
        if not np.isfinite(var) or var == 0:
            break  # overflow or underflow of the variance
        try:
            _, g = gnll.gaussian_nll_loss_and_grad(np.zeros_like(r), r, np.asarray(var),
                                                   eps=0.0, wrt=("var",))
        except ValueError:  # "var has negative entry"
            break
        path.append(var)
        grad = float(g.var) * dvar(np.float64(theta))  # chain rule
        if optimiser == "gd":
            theta -= 0.1 * grad
        else:  # Adam, learning rate 0.05
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad**2
            theta -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-12)
    return np.array(path), len(path) < steps


results = {}
for opt, steps in [("gd", 500), ("adam", 2000)]:
    for v0 in scales:
        for name, (to_var, dvar, theta0) in params.items():
            results[opt, v0, name] = fit(to_var, dvar, theta0, residuals[v0], opt, steps)

# %%
# The gradients at the start
# --------------------------
# At :math:`\sigma^2 = 1` the NLL gradient is
# :math:`\tfrac12(1 - \overline{r^2})`: about :math:`+\tfrac12` when the true
# variance is tiny and about :math:`-5000` when it is huge. The
# parameterisation rescales that by :math:`d\sigma^2/d\theta` at the start
# (1, 1 and sigmoid(z) = 1 - 1/e for the three), so all three see the same
# huge or tiny numbers at first. They differ in what a step *does*: an
# additive step in :math:`p` or :math:`z` moves the variance by a fixed
# amount, an additive step in :math:`s` multiplies it by a fixed factor.

for v0 in scales:
    _, g = gnll.gaussian_nll_loss_and_grad(np.zeros(1000), residuals[v0], 1.0, wrt=("var",))
    print(f"true variance {v0:7.0e}: dL/dvar at var = 1 is {float(g.var):10.3f}")

# %%
# The chain rule by hand gives the same gradient as gnll's own ``log_var=``
# option (which, in addition, evaluates the loss in a form that cannot
# overflow for large log-variances):

s = np.float64(0.7)
r = residuals[1.0]
_, g_var = gnll.gaussian_nll_loss_and_grad(np.zeros_like(r), r, np.exp(s), eps=0.0,
                                           wrt=("var",))
_, g_log = gnll.gaussian_nll_loss_and_grad(np.zeros_like(r), r, log_var=s, eps=0.0,
                                           wrt=("log_var",))
np.testing.assert_allclose(g_log.var, g_var.var * np.exp(s), rtol=1e-12)
print(f"dL/ds at s = 0.7: chain rule {float(g_var.var * np.exp(s)):.6f}, "
      f"log_var= {float(g_log.var):.6f}")

# %%
# Trajectories
# ------------
# Each panel shows the learned variance divided by the maximum-likelihood
# answer (1 = solved, on a log axis). A cross marks a run that had to stop
# because the variance became negative (gnll raised ``ValueError``) or
# overflowed. Values beyond :math:`10^{\pm 6}` are drawn at the edge.

colors = dict(zip(params, ["tab:red", "tab:blue", "tab:green"]))
fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharey=True, layout="constrained")
for row, (opt, title) in enumerate([("gd", "gradient descent, lr 0.1"),
                                    ("adam", "Adam, lr 0.05")]):
    for col, v0 in enumerate(scales):
        ax = axes[row, col]
        mle = np.mean(residuals[v0] ** 2)
        for name in params:
            path, failed = results[opt, v0, name]
            ratio = np.clip(path / mle, 1e-6, 1e6)  # values beyond are drawn at the edge
            ax.plot(np.arange(ratio.size), ratio, color=colors[name], lw=2, label=labels[name])
            if failed:
                ax.plot(ratio.size - 1, ratio[-1], "x", color=colors[name], ms=12, mew=3)
        ax.axhline(1.0, color="k", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_ylim(3e-7, 3e6)
        ax.set_title(f"{title}; true variance {v0:g}", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[row, 0].set_ylabel("learned variance / MLE")
axes[0, 0].legend(fontsize=9, loc="lower right")
fig.suptitle("Learning one noise variance: three parameterisations, three scales "
             "(x: the run broke down)")

print(f"\n{'optimiser':9s} {'true var':>8s} {'parameterisation':>16s}  final var / MLE")
for (opt, v0, name), (path, failed) in results.items():
    mle = np.mean(residuals[v0] ** 2)
    status = "FAILED (var <= 0 or overflow)" if failed else f"{path[-1] / mle:.3g}"
    print(f"{opt:9s} {v0:8.0e} {name:>16s}  {status}")

# %%
# What to look at:
#
# * **True variance 1** (middle column): every parameterisation works; the
#   problem is well scaled.
# * **True variance** :math:`10^{-4}`: the gradient in :math:`p`,
#   :math:`\tfrac12(1/\sigma^2 - \overline{r^2}/\sigma^4)`, grows like
#   :math:`1/(2\sigma^2)` as the variance shrinks, so a step near zero
#   overshoots and the variance becomes negative (gnll refuses it, as PyTorch
#   does). The softplus cannot go negative, and near zero it behaves like an
#   exponential; the log-variance glides down by equal factors. Both arrive.
# * **True variance** :math:`10^{4}`: the first gradient is about
#   :math:`-4800`. Gradient descent jumps: :math:`p` to about 480 and
#   :math:`z` to about 300, then both crawl, because the gradient there is
#   tiny; :math:`s` to about
#   480, i.e. a variance of :math:`e^{480}`, far off the chart, and crawls
#   back down by 0.05 per step. Adam takes steps of about the learning rate,
#   but its running average of squared gradients remembers the huge first
#   gradient, so its later steps are small too. After 2000 steps the
#   log-variance is within a factor of about 8 of the answer; :math:`p` and
#   :math:`z`, which move by additive steps, are still at about 17, some 600
#   times too small.
#
# The lesson is the same as for any regression: **standardise the targets**
# so that the variance to learn is of order one, and prefer a
# parameterisation that makes multiplicative progress (log-variance) with a
# step-size-robust optimiser. The log-variance also has a constant Fisher
# information, :math:`\tfrac12` per point, whatever the variance, which is
# why its steps behave the same at every scale.

plt.show()
