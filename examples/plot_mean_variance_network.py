r"""
A mean-variance network from scratch (Nix & Weigend, 1994)
==========================================================

Nix and Weigend (1994) proposed giving a regression network a second
output, the variance σ²(x) of the target around the predicted mean μ(x),
and training both by minimising the Gaussian negative
log-likelihood. The network then learns *local error bars* without ever
being shown a variance label. They also recommended fitting the mean first
and only then the variance.

This example builds such a network in plain NumPy: a small tanh multilayer
perceptron, hand-written backpropagation and the Adam optimiser. The only
thing taken from gnll is the loss and its analytic gradients:
:func:`gnll.gaussian_nll_loss_and_grad` returns :math:`\partial L/\partial\mu`
and :math:`\partial L/\partial\sigma^2` for the whole batch in one call, and
the rest is the chain rule.

Three models are trained on the same data:

1. **MSE only**: the usual regression network; its error bar is one
   constant standard deviation, the root-mean-square training residual;
2. **NLL from the start**: mean and variance trained jointly from step one;
3. **mean first, then NLL** (a simplified version of the Nix & Weigend
   procedure): a warm-up that fits the mean with the variance fixed at one
   (the NLL is then half the squared error), then the joint NLL.
"""

import contextlib

import matplotlib.pyplot as plt
import numpy as np

import gnll

# %%
# Data with a known noise level
# -----------------------------
# The toy problem of Detlefsen, Jørgensen & Hauberg (2019):
# :math:`y = x \sin x + 0.3\,\varepsilon_1 + 0.3\,x\,\varepsilon_2` with
# :math:`x` uniform on [0, 10], so the true standard deviation is
# :math:`0.3\sqrt{1 + x^2}`: the noise grows tenfold across the range.
# Targets are divided by their standard deviation, a cheap step that keeps
# the initial variance of one on the right scale.

rng = np.random.default_rng(0)


def f_true(x):
    return x * np.sin(x)


def sd_true(x):
    return 0.3 * np.sqrt(1.0 + x**2)


def sample(n):
    x = rng.uniform(0.0, 10.0, n)
    return x, f_true(x) + sd_true(x) * rng.standard_normal(n)


x_train, y_train = sample(500)
x_test, y_test = sample(5000)
y_scale = y_train.std()


def features(x):
    return ((x - 5.0) / 5.0)[:, None]  # inputs scaled to [-1, 1]


# %%
# The network, its backward pass and Adam
# ---------------------------------------
# Two tanh hidden layers of 32 units feed two linear heads: the mean
# :math:`\mu` and the log-variance :math:`s`, with :math:`\sigma^2 = e^s`.
# The variance head starts at zero, so every initial variance is one.
# gnll gives :math:`\partial L/\partial\sigma^2`; the chain rule through
# :math:`\sigma^2 = e^s` multiplies it by :math:`\sigma^2`. (gnll can also
# take the log-variance directly, ``log_var=s``, and return
# :math:`\partial L/\partial s`; here the chain rule stays visible.)


def init(seed, hidden=32):
    r = np.random.default_rng(seed)
    return {"W1": r.normal(0, 1.0, (1, hidden)), "b1": np.zeros(hidden),
            "W2": r.normal(0, hidden**-0.5, (hidden, hidden)), "b2": np.zeros(hidden),
            "Wm": r.normal(0, hidden**-0.5, (hidden, 1)), "bm": np.zeros(1),
            "Wv": np.zeros((hidden, 1)), "bv": np.zeros(1)}


def forward(p, a0):
    h1 = np.tanh(a0 @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    return (h2 @ p["Wm"] + p["bm"])[:, 0], (h2 @ p["Wv"] + p["bv"])[:, 0], (a0, h1, h2)


def backward(p, cache, d_mu, d_s):
    a0, h1, h2 = cache
    d_mu, d_s = d_mu[:, None], d_s[:, None]
    g = {"Wm": h2.T @ d_mu, "bm": d_mu.sum(0), "Wv": h2.T @ d_s, "bv": d_s.sum(0)}
    d2 = (d_mu @ p["Wm"].T + d_s @ p["Wv"].T) * (1 - h2**2)
    g["W2"], g["b2"] = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ p["W2"].T) * (1 - h1**2)
    g["W1"], g["b1"] = a0.T @ d1, d1.sum(0)
    return g


def train(mode, steps=3000, warmup=1500, lr=5e-3, seed=1):
    """mode: "mse", "nll" or "warmup" (mean first, then joint NLL)."""
    p = init(seed)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    a0, y = features(x_train), y_train / y_scale
    ones = np.ones_like(y)
    for t in range(1, steps + 1):
        mu, s, cache = forward(p, a0)
        if mode == "mse" or (mode == "warmup" and t <= warmup):
            # Variance fixed at 1: the loss is half the mean squared error and
            # only the mean head and the trunk receive gradient.
            _, g = gnll.gaussian_nll_loss_and_grad(mu, y, ones, wrt=("input",))
            d_s = np.zeros_like(s)
        else:
            var = np.exp(s)
            _, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, wrt=("input", "var"))
            d_s = g.var * var  # chain rule through var = exp(s)
        grads = backward(p, cache, g.input, d_s)
        for k in p:  # Adam
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            p[k] -= lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    if mode == "mse":
        # A constant error bar: the RMS training residual.
        resid = y - forward(p, a0)[0]
        p["bv"] = np.array([np.log(np.mean(resid**2))])
    return p


def predict(p, x):
    mu, s, _ = forward(p, features(x))
    return mu * y_scale, np.exp(s) * y_scale**2  # back to the original units


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

with one_blas_thread:
    models = {"MSE only (constant error bar)": train("mse"),
              "NLL from the start": train("nll"),
              "Nix & Weigend: mean first, then NLL": train("warmup")}

# %%
# Results on held-out data
# ------------------------
# The RMSE is measured against the noise-free function, so it shows how good
# the mean is; the NLL (with the constant, ``full=True``) and the coverage of
# the central 95% interval :math:`\mu \pm 1.96\sigma` judge the variance.

print(f"{'model':38s} {'RMSE vs f':>9s} {'test NLL':>9s} {'95% cover':>9s}")
for name, p in models.items():
    mu, var = predict(p, x_test)
    rmse = np.sqrt(np.mean((mu - f_true(x_test)) ** 2))
    nll = gnll.gaussian_nll_loss(mu, y_test, var, full=True)
    cover = np.mean(np.abs(y_test - mu) <= 1.96 * np.sqrt(var))
    print(f"{name:38s} {rmse:9.3f} {nll:9.3f} {100 * cover:8.1f}%")
oracle = gnll.gaussian_nll_loss(f_true(x_test), y_test, sd_true(x_test) ** 2, full=True)
cover = np.mean(np.abs(y_test - f_true(x_test)) <= 1.96 * sd_true(x_test))
print(f"{'true mean and variance':38s} {0.0:9.3f} {oracle:9.3f} {100 * cover:8.1f}%")

# %%
# What to look at: the two NLL-trained models have a much better held-out
# NLL than the MSE model, because their error bars follow the noise, and
# the model trained with the warm-up has the most accurate mean here, even
# better than the MSE model, in line with the "weighted-regression effect"
# Nix & Weigend reported: down-weighting noisy points helps the fit. The model
# trained on the NLL from the start has a wiggly mean and a wiggly variance
# in the noisy region: wherever its variance happens to shrink around a few
# training points, the :math:`1/\sigma^2` factor in the mean's gradient
# pulls the mean onto those points, which in turn justifies the small
# variance. Fitting the mean first avoids most of this. The constant error
# bar of the MSE model covers roughly the right fraction of points *on
# average*, but in the wrong places (see the last figure). All NLL models
# cover a little less than 95%: with 500 points the learned variance is
# somewhat optimistic. Exact numbers change with the seed.

grid = np.linspace(0, 10, 300)
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True, layout="constrained")
for ax, (name, p) in zip(axes, models.items()):
    mu, var = predict(p, grid)
    sd = np.sqrt(var)
    ax.scatter(x_train, y_train, s=5, color="0.55", alpha=0.5, label="training data")
    ax.fill_between(grid, f_true(grid) - 2 * sd_true(grid), f_true(grid) + 2 * sd_true(grid),
                    color="tab:orange", alpha=0.25, label=r"true $f \pm 2\sigma_{\rm true}$")
    ax.plot(grid, f_true(grid), "--", color="tab:orange", lw=1.5, label=r"true $f(x) = x\sin x$")
    ax.plot(grid, mu, color="tab:blue", lw=2, label=r"predicted $\mu(x)$")
    ax.plot(grid, mu + 2 * sd, color="tab:blue", lw=1, label=r"$\mu \pm 2\sigma$")
    ax.plot(grid, mu - 2 * sd, color="tab:blue", lw=1)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].legend(loc="upper left", fontsize=7.5)
fig.suptitle("Mean ± 2σ of three networks against the true noise band")

# %%
# Learned noise level against the truth
# -------------------------------------
# The clearest check of a variance head: plot the predicted standard
# deviation against the true one. Both NLL models track the tenfold rise of
# the noise; typically they slightly *under*-estimate it, because the
# training residuals they learn from are a little smaller than fresh ones
# (the mean was fitted to the same points).

fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
ax.plot(grid, sd_true(grid), "k--", lw=2, label=r"true $\sigma(x) = 0.3\sqrt{1+x^2}$")
for (name, p), c in zip(models.items(), ["tab:gray", "tab:red", "tab:blue"]):
    ax.plot(grid, np.sqrt(predict(p, grid)[1]), color=c, lw=2, label=name)
ax.set_xlabel("x")
ax.set_ylabel(r"predicted standard deviation $\sigma(x)$")
ax.set_title("The variance head learns the local noise level")
ax.legend(fontsize=9)
ax.grid(alpha=0.3)

# %%
# Coverage where it matters
# -------------------------
# Overall coverage can hide a lot. Splitting the test points into five bins
# of :math:`x` shows where the constant error bar fails: far too wide where
# the noise is small, too narrow where it is large.

bins = np.linspace(0, 10, 6)
centers = 0.5 * (bins[1:] + bins[:-1])
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for k, ((name, p), c) in enumerate(zip(models.items(), ["tab:gray", "tab:red", "tab:blue"])):
    mu, var = predict(p, x_test)
    inside = np.abs(y_test - mu) <= 1.96 * np.sqrt(var)
    cov = [inside[(x_test >= lo) & (x_test < hi)].mean() for lo, hi in zip(bins[:-1], bins[1:])]
    ax.bar(centers + (k - 1) * 0.6, np.array(cov) * 100, width=0.6, color=c, label=name)
ax.axhline(95, color="k", ls="--", lw=1.5, label="nominal 95%")
ax.set_ylim(50, 102)
ax.set_xlabel("x (bins of width 2)")
ax.set_ylabel("coverage of the 95% interval (%)")
ax.set_title("Coverage of μ ± 1.96σ per region of x (held-out data)")
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)

plt.show()
