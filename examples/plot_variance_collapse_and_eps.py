r"""
Variance collapse and the role of ``eps``
=========================================

For a single point the Gaussian NLL is minimised by σ² = r² (see the
anatomy example). If a model can make its mean hit a training point
*exactly*, r = 0, the best variance is zero and the loss, ½ log σ², goes to
minus infinity. A flexible model can do
this on every training point at once: the likelihood is **unbounded below**,
and training drives the variances towards zero. This is *variance collapse*,
a form of over-fitting that no amount of training "fixes".

gnll, like PyTorch, clamps the variance from below in the forward pass:
the loss uses :math:`\max(\sigma^2, \varepsilon)` with ``eps = 1e-6`` by
default. This example shows what the clamp does, and what it does not do,
with the most flexible model there is: a lookup table with a free mean and
a free log-variance for each of 20 points.
"""

import matplotlib.pyplot as plt
import numpy as np

import gnll

# sphinx_gallery_thumbnail_number = 2

rng = np.random.default_rng(1)
n = 20
y = rng.normal(size=n)

# %%
# Training a lookup table
# -----------------------
# Parameters: one mean :math:`\mu_i` and one log-variance :math:`s_i` per
# point, :math:`\sigma_i^2 = e^{s_i}`, trained with Adam on the mean NLL
# (``full=True``, so the values are true negative log-densities). We try
# four floors, including ``eps=0`` (no floor at all).


def train_lookup_table(eps, steps=5000, lr=0.05, seed=0):
    # Start: means near the data, every variance 1 (the same start for every eps).
    start = np.random.default_rng(seed)
    params = np.concatenate([y + start.normal(0, 0.5, n), np.zeros(n)])
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    losses, min_var = [], []
    for t in range(1, steps + 1):
        mu, s = params[:n], params[n:]
        var = np.exp(s)
        loss, g = gnll.gaussian_nll_loss_and_grad(mu, y, var, full=True, eps=eps,
                                                  wrt=("input", "var"))
        grad = np.concatenate([g.input, g.var * var])  # chain rule: dvar/ds = var
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        params = params - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-12)
        losses.append(loss)
        min_var.append(var.min())
    return np.array(losses), np.array(min_var)


eps_values = [1e-2, 1e-4, 1e-6, 0.0]
runs = {eps: train_lookup_table(eps) for eps in eps_values}

print(f"{'eps':>8s} {'final NLL':>10s} {'floor 0.5*log(2*pi*eps)':>24s} {'smallest var':>13s}")
for eps, (losses, min_var) in runs.items():
    floor = 0.5 * np.log(2 * np.pi * eps) if eps > 0 else -np.inf
    print(f"{eps:8.0e} {losses[-1]:10.3f} {floor:24.3f} {min_var[-1]:13.2e}")

# %%
# What to look at: without a floor the NLL keeps falling (it would go on
# for ever; only the number of steps stops it). With a floor it levels off
# at :math:`\tfrac12\log(2\pi\varepsilon)`, the loss of a perfect fit with
# variance :math:`\varepsilon`, and can never go below it (with
# ``eps = 1e-6`` a few points are still on their way after 5000 steps).
#
# Note the last column, though: the *parameters* keep moving. gnll's clamp
# is "straight-through" for the gradient, exactly as in PyTorch: below
# :math:`\varepsilon` the gradient is evaluated at the clamped value and
# handed to :math:`\sigma^2` unchanged. It stays positive when the point is
# fitted exactly, so the variance keeps shrinking below :math:`\varepsilon`
# while the loss no longer changes (with Adam, whose steps do not shrink
# with the gradient, it shrinks quickly). ``eps`` bounds the *loss* and the
# size of the gradients; it does not stop collapse. Early stopping on
# held-out data, a regularised or smoother variance model, or a floor built
# into the variance head do.
#
# The spikes in the loss (clipped at the top of the figure) are the other
# face of collapse: once a variance is tiny, a small step of the mean away
# from its point makes :math:`r^2/\sigma^2` enormous. The floor bounds the
# mean's gradient by :math:`|r|/\varepsilon`; with ``eps = 1e-2`` (green)
# training is smooth.

steps = np.arange(1, runs[0.0][0].size + 1)
colors = dict(zip(eps_values, ["tab:green", "tab:blue", "tab:purple", "tab:red"]))
fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), layout="constrained")
for eps in reversed(eps_values):  # the no-floor run first, so the others stay visible
    losses, min_var = runs[eps]
    label = "no floor (eps=0)" if eps == 0 else f"eps = {eps:g}"
    axes[0].plot(steps, losses, color=colors[eps], lw=1.5, label=label)
    axes[1].semilogy(steps, min_var, color=colors[eps], lw=2, label=label)
    if eps > 0:
        axes[0].axhline(0.5 * np.log(2 * np.pi * eps), color=colors[eps], ls=":", lw=1.2)
        axes[1].axhline(eps, color=colors[eps], ls=":", lw=1.2)
axes[0].set_xlabel("Adam step")
axes[0].set_ylim(-13, 6)
axes[0].set_ylabel("mean training NLL (full=True)")
axes[0].set_title(r"The loss stops at $\frac{1}{2}\log(2\pi\varepsilon)$ (dotted)")
axes[0].legend(fontsize=9)
axes[1].set_xlabel("Adam step")
axes[1].set_ylabel(r"smallest predicted variance $\min_i \sigma_i^2$")
axes[1].set_title(r"... but the variances keep shrinking below $\varepsilon$ (dotted)")
axes[1].legend(fontsize=9)
fig.suptitle("Variance collapse of a lookup-table model (20 points, free mean and variance each)")

# %%
# Three ways to put a floor under the variance
# --------------------------------------------
# Near the floor, what the gradient does depends on how the floor is
# implemented. For a point fitted exactly (:math:`r = 0`) and
# :math:`\varepsilon = 10^{-6}`:
#
# * **clamp with a straight-through gradient** (gnll and PyTorch): the loss is
#   flat below :math:`\varepsilon`, the gradient is frozen at its value at
#   :math:`\varepsilon`, :math:`\tfrac{1}{2\varepsilon}`;
# * **hard clamp** (differentiating :math:`\max(\sigma^2, \varepsilon)` as a
#   function): same loss, but zero gradient below :math:`\varepsilon`, so a
#   variance that falls under the floor never receives a signal again;
# * **additive** :math:`\sigma^2 + \varepsilon`: smooth, the gradient goes
#   to the same :math:`\tfrac{1}{2\varepsilon}`, but every variance is biased
#   upwards by :math:`\varepsilon`.
#
# gnll gives the first by default and the second with ``clamp_grad="zero"``
# (MLX's convention); the additive floor is ``var + eps`` passed with
# ``eps=0``.

eps = 1e-6
var = np.logspace(-9, -3, 400)
zeros = np.zeros_like(var)
loss_clamp, g_clamp = gnll.gaussian_nll_loss_and_grad(zeros, zeros, var, eps=eps,
                                                      reduction="none", wrt=("var",))
_, g_zero = gnll.gaussian_nll_loss_and_grad(zeros, zeros, var, eps=eps, reduction="none",
                                            wrt=("var",), clamp_grad="zero")
g_hard = g_zero.var
np.testing.assert_array_equal(g_hard, np.where(var > eps, g_clamp.var, 0.0))
loss_add, g_add = gnll.gaussian_nll_loss_and_grad(zeros, zeros, var + eps, eps=0.0,
                                                  reduction="none", wrt=("var",))

fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), layout="constrained")
axes[0].semilogx(var, loss_clamp, color="tab:blue", lw=2.5,
                 label=r"clamp: $\max(\sigma^2, \varepsilon)$")
axes[0].semilogx(var, loss_add, color="tab:orange", lw=2, ls="--",
                 label=r"additive: $\sigma^2 + \varepsilon$")
axes[0].semilogx(var, 0.5 * np.log(var), color="0.5", lw=1, ls=":", label="no floor")
axes[0].set_ylabel(r"loss at $r = 0$ (full=False)")
axes[0].set_title("Loss near the floor")
axes[1].loglog(var, g_clamp.var, color="tab:blue", lw=2.5,
               label="clamp, straight-through (gnll default, PyTorch)")
axes[1].loglog(var, np.where(g_hard > 0, g_hard, np.nan), color="tab:red", lw=2,
               label='hard clamp (clamp_grad="zero", MLX)')
axes[1].loglog(var, g_add.var, color="tab:orange", lw=2, ls="--", label="additive")
axes[1].loglog(var, 0.5 / var, color="0.5", lw=1, ls=":", label=r"no floor: $1/(2\sigma^2)$")
axes[1].set_ylabel(r"gradient $\partial\ell/\partial\sigma^2$ at $r = 0$")
axes[1].set_title("Gradient near the floor (hard clamp: zero left of the line)")
for ax in axes:
    ax.axvline(eps, color="k", lw=1)
    ax.set_xlabel(r"variance $\sigma^2$ (vertical line: $\varepsilon = 10^{-6}$)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

# %%
# What to look at: left of the vertical line the three floors agree on the
# loss (up to the smooth bend of the additive one) but not on the gradient.
# Only the straight-through clamp keeps a positive gradient there, which is
# why, in the first figure, the variances kept shrinking below ``eps``.
#
# The clamp also bounds the mean's gradient: :math:`|\partial\ell/\partial\mu|
# = |r|/\max(\sigma^2, \varepsilon) \le |r|/\varepsilon`.

r = np.array([1e-4, 1e-3])
_, g = gnll.gaussian_nll_loss_and_grad(np.zeros(2), r, np.full(2, 1e-12), eps=1e-6,
                                       reduction="none", wrt=("input",))
print("dL/dmu at var = 1e-12 < eps = 1e-6:", g.input, "= -r/eps:", -r / 1e-6)

plt.show()
