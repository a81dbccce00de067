r"""
Is my variance right? PIT, coverage, reliability and CRPS
=========================================================

A low NLL is good, but it does not tell you *how* a predictive
distribution is wrong. Following Gneiting, Balabdaoui & Raftery (2007), a
good forecast maximises *sharpness* (narrow predictive distributions)
subject to *calibration* (the predicted probabilities match the observed
frequencies). This example computes the standard regression diagnostics for
four Gaussian predictors on data whose truth we know:

* **calibrated**: the true mean and the true standard deviation;
* **over-confident**: the true mean, half the true standard deviation;
* **under-confident**: the true mean, twice the true standard deviation;
* **biased**: the true standard deviation, but a mean shifted upwards.

The diagnostics:

* the **PIT** (probability integral transform) :math:`u_i = \Phi((y_i -
  \mu_i)/\sigma_i)`: uniform on [0, 1] when the forecast is calibrated;
* **coverage** of central intervals :math:`\mu \pm z_{(1+p)/2}\,\sigma`
  against their nominal level :math:`p`;
* the **reliability curve** (Kuleshov et al., 2018): the observed fraction
  of targets below the predicted :math:`p`-quantile against :math:`p`;
* proper scores: the **NLL** (gnll) and the **CRPS**, which for a Gaussian
  has the closed form (Gneiting et al., 2005)

.. math::

    \mathrm{CRPS}(\mathcal N(\mu, \sigma^2), y) = \sigma\left[z\,(2\Phi(z) - 1)
    + 2\varphi(z) - \frac{1}{\sqrt\pi}\right], \qquad z = \frac{y - \mu}{\sigma}.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy import integrate, stats

import gnll

# %%
# Data and four predictors
# ------------------------
# :math:`y = \sin x + \varepsilon` with :math:`\sigma(x) = 0.01 + |x - 5|/10`
# on [0, 15], 5000 points.

rng = np.random.default_rng(0)
n = 5000
x = rng.uniform(0.0, 15.0, n)
f = np.sin(x)
sd = 0.01 + np.abs(x - 5.0) / 10.0
y = f + sd * rng.standard_normal(n)

predictors = {
    "over-confident (σ × 0.5)": (f, 0.5 * sd),
    "calibrated (true μ, σ)": (f, sd),
    "under-confident (σ × 2)": (f, 2.0 * sd),
    "biased (μ + 0.7σ)": (f + 0.7 * sd, sd),
}
colors = ["tab:red", "tab:green", "tab:blue", "tab:purple"]


def crps_gaussian(mu, sigma, y):
    z = (y - mu) / sigma
    return sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


# %%
# The closed-form CRPS, checked
# -----------------------------
# The CRPS is defined as :math:`\int (F(t) - \mathbf 1\{t \ge y\})^2\,dt`, with
# :math:`F` the predictive CDF. Numerical integration agrees with the closed
# form; for a standard normal and :math:`y = -3` the value is 2.43657473.

for mu_, s_, y_ in [(0.0, 1.0, -3.0), (1.0, 0.5, 2.5), (0.0, 1.0, 0.3)]:
    cdf = stats.norm(mu_, s_).cdf
    below = integrate.quad(lambda t: cdf(t) ** 2, -np.inf, y_)[0]
    above = integrate.quad(lambda t: (1 - cdf(t)) ** 2, y_, np.inf)[0]
    print(f"CRPS(N({mu_}, {s_}^2), y={y_}): closed form {crps_gaussian(mu_, s_, y_):.8f}, "
          f"numerical {below + above:.8f}")

# %%
# Scores and coverage
# -------------------
# The NLL is computed by gnll with ``full=True`` (so it is the true negative
# log-density; remember gnll's ``var`` is the *variance*, so we pass
# :math:`\sigma^2`). ECE is the mean absolute gap of the reliability curve
# over 21 levels; sharpness is the root mean square of the predicted
# :math:`\sigma`, a property of the forecast alone.

levels = np.linspace(0.0, 1.0, 21)
print(f"\n{'predictor':26s} {'NLL':>7s} {'CRPS':>7s} {'90% cov':>8s} {'ECE':>6s} {'sharpness':>9s}")
for name, (mu, s) in predictors.items():
    nll = gnll.gaussian_nll_loss(mu, y, s**2, full=True)
    crps = crps_gaussian(mu, s, y).mean()
    cover90 = np.mean(np.abs(y - mu) <= stats.norm.ppf(0.95) * s)
    pit = stats.norm.cdf((y - mu) / s)
    ece = np.mean(np.abs([np.mean(pit <= p) - p for p in levels]))
    print(f"{name:26s} {nll:7.3f} {crps:7.4f} {100 * cover90:7.1f}% {ece:6.3f} "
          f"{np.sqrt(np.mean(s**2)):9.3f}")

# %%
# What to look at: the calibrated predictor wins on both proper scores. The
# two scores disagree about which mistake is worse: the NLL punishes the
# over-confident predictor far more than the under-confident one, the CRPS
# the reverse. For a standard deviation off by a factor :math:`k` the
# expected NLL excess is :math:`\log k + 1/(2k^2) - \tfrac12`, about 0.81 for
# :math:`k = 1/2` but only 0.32 for :math:`k = 2`: the log-likelihood is
# harsh on over-confidence. The sharpness column alone would pick the
# over-confident predictor, which is why sharpness is only judged *subject to*
# calibration.
#
# PIT histograms
# --------------
# Each shape has a meaning: flat is calibrated; a U shape means too many
# targets fall in the tails (over-confident); a hump means too few do
# (under-confident); a slope means the mean is biased (here, too high, so
# the PIT values pile up near 0).

fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True, layout="constrained")
for ax, (name, (mu, s)), c in zip(axes, predictors.items(), colors):
    pit = stats.norm.cdf((y - mu) / s)
    ax.hist(pit, bins=20, range=(0, 1), density=True, color=c, alpha=0.8)
    ax.axhline(1.0, color="k", ls="--", lw=1.2)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("PIT value u")
axes[0].set_ylabel("density (dashed: uniform)")
fig.suptitle("PIT histograms")

# %%
# Reliability and coverage curves
# -------------------------------
# Left: the observed fraction of targets below the predicted
# :math:`p`-quantile. Right: the observed coverage of the central interval
# of nominal level :math:`p`. A calibrated forecast follows the diagonal in
# both. On the right, over-confident curves fall below the diagonal
# (intervals too narrow) and under-confident ones above it. The biased
# predictor shows there only as a moderate loss of coverage, easily mistaken
# for mild over-confidence; the left panel tells the two apart: its curve lies
# above the diagonal at *every* level, so targets fall below the predicted
# quantiles too often, i.e. the mean is too high. Over- and under-confident
# curves instead cross the diagonal at :math:`p = \tfrac12`, in opposite
# directions. Drawing both views is cheap and worth it.

fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
p = np.linspace(0.0, 1.0, 41)
for (name, (mu, s)), c in zip(predictors.items(), colors):
    z = (y - mu) / s
    below = [np.mean(z <= stats.norm.ppf(q)) for q in p]
    inside = [np.mean(np.abs(z) <= stats.norm.ppf(0.5 + q / 2)) for q in p]
    axes[0].plot(p, below, color=c, lw=2, label=name)
    axes[1].plot(p, inside, color=c, lw=2, label=name)
for ax in axes:
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    ax.set_aspect("equal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
axes[0].set_xlabel("quantile level p")
axes[0].set_ylabel("observed fraction of y below the p-quantile")
axes[0].set_title("Reliability curve (one-sided)")
axes[1].set_xlabel("nominal coverage p of the central interval")
axes[1].set_ylabel("observed coverage")
axes[1].set_title("Coverage of central intervals")
axes[1].legend(fontsize=8, loc="upper left")

plt.show()
