r"""
Training a PyTorch model with gnll.torch
========================================

:mod:`gnll.torch` is a drop-in replacement for PyTorch's Gaussian negative
log-likelihood loss: :class:`gnll.torch.GaussianNLLLoss` takes the place of
:class:`torch.nn.GaussianNLLLoss`, takes the same arguments and returns the
same values and gradients, but computes the loss and its gradients on the CPU
in gnll's fused kernels. Nothing else in a training script changes.

This example trains a small two-headed network, one head for the mean
:math:`\mu(x)` and one for the variance :math:`\sigma^2(x)`, on data whose
noise grows along :math:`x`, and plots the predicted mean with a band of
:math:`\pm 2\sigma` against the truth. It needs PyTorch
(``pip install "gnll[torch]"``).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from gnll.torch import GaussianNLLLoss

torch.manual_seed(0)
# A network this small trains fastest on one thread: with more, thread
# synchronisation costs more than the arithmetic. (Restored at the end.)
threads = torch.get_num_threads()
torch.set_num_threads(1)

# %%
# Data with a known noise level
# -----------------------------
# :math:`y = x \sin x + 0.3\,\varepsilon_1 + 0.3\,x\,\varepsilon_2` with
# :math:`x` uniform on [0, 10]: the true mean is :math:`x \sin x` and the
# true standard deviation :math:`0.3\sqrt{1 + x^2}` grows tenfold across the
# range. The inputs are scaled to [-1, 1] for the network.
n = 2000
x = 10 * torch.rand(n, 1)
y = x * torch.sin(x) + 0.3 * torch.randn(n, 1) + 0.3 * x * torch.randn(n, 1)
x_in = x / 5 - 1


def true_std(x):
    return 0.3 * np.sqrt(1 + x**2)


# %%
# A two-headed network
# --------------------
# A shared body of two tanh layers feeds a mean head and a variance head.
# The variance head ends in a softplus, which keeps :math:`\sigma^2`
# positive, plus a small floor.


class MeanVarianceNet(torch.nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(1, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Tanh(),
        )
        self.mean = torch.nn.Linear(hidden, 1)
        self.var = torch.nn.Sequential(torch.nn.Linear(hidden, 1), torch.nn.Softplus())

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), self.var(h) + 1e-4


model = MeanVarianceNet()
loss_fn = GaussianNLLLoss()
print(loss_fn)

# %%
# Training
# --------
# An ordinary PyTorch loop: the loss module is the only gnll-specific line.
# Mini-batches of 256, Adam with a learning rate that decays over the run.
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
steps = 6000
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
history = []
start = time.perf_counter()
for step in range(steps):
    idx = torch.randint(0, n, (256,))
    mean, var = model(x_in[idx])
    loss = loss_fn(mean, y[idx], var)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    history.append(loss.item())
print(f"{steps} steps in {time.perf_counter() - start:.1f} s; final loss {np.mean(history[-100:]):.3f}")

# %%
# Same values and gradients as PyTorch's own loss
# -----------------------------------------------
# On the full data set, the loss and the gradients of every parameter agree
# with :class:`torch.nn.GaussianNLLLoss` to float32 rounding.
mean, var = model(x_in)
ours = loss_fn(mean, y, var)
grads_ours = torch.autograd.grad(ours, list(model.parameters()), retain_graph=True)
theirs = torch.nn.GaussianNLLLoss()(mean, y, var)
grads_theirs = torch.autograd.grad(theirs, list(model.parameters()))
worst = max(
    ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
    for a, b in zip(grads_ours, grads_theirs)
)
print(f"loss: gnll {ours.item():.6f}, torch {theirs.item():.6f}")
print(f"largest relative difference in a parameter gradient: {worst:.1e}")

# %%
# Mean and :math:`\pm 2\sigma` against the truth
# ----------------------------------------------
# The band should contain about 95 % of the points and widen with
# :math:`x` as the true noise does; the right panel compares the learned
# standard deviation with the true one.
grid = torch.linspace(0, 10, 400).unsqueeze(1)
with torch.no_grad():
    mu, var = model(grid / 5 - 1)
g = grid.squeeze(1).numpy()
mu = mu.squeeze(1).numpy()
sd = var.sqrt().squeeze(1).numpy()
with torch.no_grad():
    m_all, v_all = model(x_in)
inside = ((y - m_all).abs() <= 2 * v_all.sqrt()).float().mean().item()
print(f"fraction of points within mean +- 2 sigma: {inside:.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[1.6, 1])
ax1.scatter(x.squeeze(1), y.squeeze(1), s=4, color="0.6", alpha=0.5, label="data")
ax1.fill_between(g, mu - 2 * sd, mu + 2 * sd, color="C0", alpha=0.25, label=r"predicted $\mu \pm 2\sigma$")
ax1.plot(g, mu, color="C0", lw=2, label=r"predicted $\mu$")
ax1.plot(g, g * np.sin(g), "k--", lw=1, label=r"true mean $x \sin x$")
ax1.plot(g, g * np.sin(g) + 2 * true_std(g), "k:", lw=1, label=r"true $\pm 2\sigma$")
ax1.plot(g, g * np.sin(g) - 2 * true_std(g), "k:", lw=1)
ax1.set_xlabel("x")
ax1.set_ylabel("y")
ax1.set_title(f"gnll.torch.GaussianNLLLoss: {100 * inside:.1f}% of points inside the band")
ax1.legend(loc="upper left", fontsize=8)

ax2.plot(g, sd, color="C0", lw=2, label=r"learned $\sigma(x)$")
ax2.plot(g, true_std(g), "k--", lw=1, label=r"true $0.3\sqrt{1+x^2}$")
ax2.set_xlabel("x")
ax2.set_ylabel(r"$\sigma$")
ax2.set_title("Standard deviation")
ax2.legend(loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Where gnll.torch computes, and where torch does
# ------------------------------------------------
# CPU tensors of float32 or float64 go to gnll's kernels without copying; in
# the training pass above the gradients were computed together with the
# loss, in one pass over the batch. Anything gnll cannot serve (CUDA or
# other devices, float16 and bfloat16, ``torch.compile`` tracing,
# forward-mode AD, double backward) is computed by PyTorch's own
# implementation, with the same results, so the module can stay in a script
# that later moves to a GPU.

torch.set_num_threads(threads)
