r"""
When the NLL gives up on a region: β-NLL on a three-segment sine
================================================================

Seitzer, Tavakoli, Antic & Martius (ICLR 2022) point out a failure of
training a mean-variance network on the plain Gaussian NLL. The mean's
gradient is (μ − y)/σ²: every point is weighted by its predicted
*precision*. A region the mean has not fitted yet gets a large
predicted variance, which shrinks its weight, so it is learned ever more
slowly. Training can settle in a stable but poor state where the network
explains a hard region as *noise* instead of fitting it.

Their fix, **β-NLL**, multiplies each element's loss by its predicted
variance raised to a power :math:`\beta`, treated as a constant
(a *stop-gradient*, written :math:`\lfloor\cdot\rfloor`):

.. math::

    L_\beta = \frac1n \sum_i \lfloor\sigma_i^{2\beta}\rfloor\,
    \ell_i, \qquad
    \frac{\partial L_\beta}{\partial\mu_i} = \frac{1}{n}\,
    \frac{\mu_i - y_i}{\sigma_i^{2 - 2\beta}} .

:math:`\beta = 0` is the NLL; with :math:`\beta = 1` the mean's gradient is
exactly that of the squared error :math:`\tfrac12(\mu - y)^2`, with no
:math:`1/\sigma^2` factor. The variance's optimum is still
:math:`\sigma^2 = r^2` for every :math:`\beta`, because the weight is held
constant.

**In this example the β weighting is done by hand**, on top of gnll's
per-element loss and gradients, to show the mechanism: the weights enter as
the upstream gradient ``grad_output`` of
:func:`gnll.gaussian_nll_loss_and_grad` with ``reduction="none"``. gnll
also has it built in (``beta=``); we check that both give the same
gradients.
"""

import contextlib

import matplotlib.pyplot as plt
import numpy as np

import gnll

# %%
# The data: one hard segment between two easy ones
# ------------------------------------------------
# 600 points on [0, 12], noise standard deviation 0.01. The outer thirds
# are a slow sine of amplitude 0.2, the middle third a sine of twice the
# frequency and amplitude 0.4. The true noise is tiny everywhere, so any
# large predicted variance is a sign of an unfitted mean.

rng = np.random.default_rng(0)
n = 600
x = np.linspace(0.0, 12.0, n)
middle = (x >= 4.0) & (x < 8.0)


def f_true(x):
    freq = np.where((x >= 4.0) & (x < 8.0), 1.0, 0.5)
    amp = np.where((x >= 4.0) & (x < 8.0), 0.4, 0.2)
    return amp * np.sin(2 * np.pi * freq * x)


y = f_true(x) + 0.01 * rng.standard_normal(n)
a0 = ((x - x.mean()) / x.std())[:, None]

# %%
# A small mean-variance network and the β-weighted training step
# --------------------------------------------------------------
# Two tanh layers of 32 units, a mean head and a log-variance head
# (:math:`\sigma^2 = e^s`), full-batch Adam. The first layer starts with
# large random weights so that its units can follow a fast sine. The weights
# :math:`w_i = \sigma_i^{2\beta}/n` are computed from the current variances
# and passed as ``grad_output``, so gnll returns
# :math:`w_i\,\partial\ell_i/\partial\mu_i` and
# :math:`w_i\,\partial\ell_i/\partial\sigma_i^2`: the weights are constants
# to the gradient, which is exactly the stop-gradient.


def init(seed, hidden=32):
    r = np.random.default_rng(seed)
    return {"W1": r.normal(0, 3.0, (1, hidden)), "b1": r.normal(0, 3.0, hidden),
            "W2": r.normal(0, hidden**-0.5, (hidden, hidden)), "b2": np.zeros(hidden),
            "Wm": r.normal(0, hidden**-0.5, (hidden, 1)), "bm": np.zeros(1),
            "Wv": np.zeros((hidden, 1)), "bv": np.zeros(1)}


def forward(p, a0):
    h1 = np.tanh(a0 @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    return (h2 @ p["Wm"] + p["bm"])[:, 0], (h2 @ p["Wv"] + p["bv"])[:, 0], (h1, h2)


def backward(p, cache, d_mu, d_s):
    h1, h2 = cache
    d_mu, d_s = d_mu[:, None], d_s[:, None]
    g = {"Wm": h2.T @ d_mu, "bm": d_mu.sum(0), "Wv": h2.T @ d_s, "bv": d_s.sum(0)}
    d2 = (d_mu @ p["Wm"].T + d_s @ p["Wv"].T) * (1 - h2**2)
    g["W2"], g["b2"] = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ p["W2"].T) * (1 - h1**2)
    g["W1"], g["b1"] = a0.T @ d1, d1.sum(0)
    return g


def train(beta, steps=3000, lr=5e-3, seed=1):
    p = init(seed)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    for t in range(1, steps + 1):
        mu, s, cache = forward(p, a0)
        var = np.exp(s)
        weight = var**beta / n  # stop-gradient: just numbers to gnll
        _, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, reduction="none",
                                               grad_output=weight, wrt=("input", "var"))
        grads = backward(p, cache, g.input, g.var * var)  # chain rule: dvar/ds = var
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            p[k] -= lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    mu, s, _ = forward(p, a0)
    return mu, np.exp(s)


# %%
# One BLAS thread for small matrices
# ----------------------------------
# The matrices in this network are small (hundreds of rows, 32 columns).
# Spreading such products over several BLAS threads costs more than it
# saves, and on a busy machine it can slow training down many times over, so
# training runs with one BLAS thread when threadpoolctl is installed (gnll's
# own threads are not affected).

try:
    from threadpoolctl import threadpool_limits

    one_blas_thread = threadpool_limits(limits=1, user_api="blas")
except ImportError:  # threadpoolctl is optional
    one_blas_thread = contextlib.nullcontext()

# %%
# The hand-made weighting equals gnll's built-in ``beta=`` option (which
# uses the clamped variance, the same thing here since every variance is
# far above ``eps``):

mu_t, s_t, _ = forward(init(5), a0)
var_t = np.exp(s_t - 3.0 * np.abs(np.sin(x)))  # some uneven variances
for beta in (0.5, 1.0):
    _, g_hand = gnll.gaussian_nll_loss_and_grad(mu_t, y, var_t, reduction="none",
                                                grad_output=var_t**beta / n,
                                                wrt=("input", "var"))
    _, g_built = gnll.gaussian_nll_loss_and_grad(mu_t, y, var_t, beta=beta,
                                                 wrt=("input", "var"))
    np.testing.assert_allclose(g_hand.input, g_built.input, rtol=1e-12)
    np.testing.assert_allclose(g_hand.var, g_built.var, rtol=1e-12)
print("by-hand beta weighting == gnll's beta= option (gradients w.r.t. mean and var)")

# %%
betas = [0.0, 0.5, 0.75, 1.0]
with one_blas_thread:
    fits = {beta: train(beta) for beta in betas}

# %%
# Results, judged by the plain NLL
# --------------------------------
# β-NLL is a training device, not a likelihood, so models are compared on
# the ordinary NLL (``full=True``) and on the RMSE of the mean against the
# noise-free function, separately for the easy and the hard segments.

print(f"{'beta':>5s} {'NLL':>8s} {'RMSE easy':>10s} {'RMSE hard':>10s} "
      f"{'median sigma easy':>18s} {'median sigma hard':>18s}")
for beta, (mu, var) in fits.items():
    nll = gnll.gaussian_nll_loss(mu, y, var, full=True)
    err = mu - f_true(x)
    sd = np.sqrt(var)
    print(f"{beta:5.2f} {nll:8.3f} {np.sqrt(np.mean(err[~middle]**2)):10.3f} "
          f"{np.sqrt(np.mean(err[middle]**2)):10.3f} {np.median(sd[~middle]):18.3f} "
          f"{np.median(sd[middle]):18.3f}")

mu0, var0 = fits[0.0]
ratio = np.median(var0[middle]) / np.median(var0[~middle])
print(f"\nplain NLL: the hard segment's predicted variance is {ratio:.0f} times the easy "
      f"segments', so its points get {ratio:.0f} times less weight in the mean's gradient")

# %%
# What to look at: with the plain NLL (:math:`\beta = 0`) the hard middle
# segment keeps a large error and a predicted standard deviation far above
# the true 0.01: the network has explained the signal as noise. Larger
# :math:`\beta` restore the weight of that segment and fit it. The exact
# numbers depend on the seed and the number of steps; :math:`\beta = 0.5`,
# a common default, is often still on its way after 3000 steps.

fig, axes = plt.subplots(len(betas), 1, figsize=(10, 9), sharex=True, layout="constrained")
for ax, beta in zip(axes, betas):
    mu, var = fits[beta]
    sd = np.sqrt(var)
    ax.axvspan(4, 8, color="0.93", zorder=0)
    ax.plot(x, y, ".", ms=2.5, color="0.45", label="data (noise sd 0.01)")
    ax.fill_between(x, mu - 2 * sd, mu + 2 * sd, color="tab:blue", alpha=0.3,
                    label=r"$\mu \pm 2\sigma$")
    ax.plot(x, mu, color="tab:blue", lw=1.5, label=r"predicted mean $\mu$")
    ax.set_ylim(-0.75, 0.75)
    ax.set_ylabel("y")
    name = "plain NLL" if beta == 0 else f"β-NLL, β = {beta:g}"
    ax.set_title(f"{name}  (shaded: the hard segment)", fontsize=10)
axes[0].legend(loc="upper left", fontsize=8, ncol=3)
axes[-1].set_xlabel("x")
fig.suptitle("Three-segment sine after 3000 Adam steps")

# %%
# The predicted noise level
# -------------------------
# The true standard deviation is 0.01 everywhere. A predicted standard
# deviation near the signal's amplitude in the middle means the model has
# given up on the mean there.

fig, ax = plt.subplots(figsize=(10, 3.8), layout="constrained")
ax.axvspan(4, 8, color="0.93", zorder=0)
for beta, c in zip(betas, ["tab:red", "tab:orange", "tab:green", "tab:blue"]):
    ax.semilogy(x, np.sqrt(fits[beta][1]), color=c, lw=1.5, label=f"β = {beta:g}")
ax.axhline(0.01, color="k", ls="--", lw=1.5, label="true σ = 0.01")
ax.set_ylim(5e-3, 2.0)
ax.set_xlabel("x")
ax.set_ylabel(r"predicted $\sigma(x)$ (log scale)")
ax.set_title("Learned noise level: the plain NLL calls the hard segment noise")
ax.legend(fontsize=8, ncol=5, loc="upper left")

plt.show()
