"""The ``python -m gnll demo`` command: a mean-variance network in NumPy.

The demo fits a small two-headed multilayer perceptron to a synthetic data
set whose noise level depends on the input.  One head predicts the mean
``mu(x)``, the other the log-variance ``s(x) = log sigma^2(x)``.  The network,
its backpropagation and the Adam optimiser are plain NumPy; the loss and
its gradients with respect to the mean and the variance come from
:func:`gnll.gaussian_nll_loss_and_grad`.

Training follows the recipe of Nix & Weigend (1994): the mean is fitted
first with the variance held at one (a squared-error warm-up), then mean and
variance are trained jointly on the Gaussian negative log-likelihood.

This module is private; its command-line entry point is ``python -m gnll``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import numpy as np

__all__ = ["make_data", "true_mean", "true_std", "train", "predict", "evaluate",
           "run_demo"]

#: Range of the inputs of the synthetic data set.
X_RANGE = (-3.0, 3.0)
#: Two-sided standard-normal quantile of the central 95% interval.
Z95 = 1.959963984540054


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def true_mean(x):
    """Noise-free regression function of the demo data set."""
    x = np.asarray(x, dtype=np.float64)
    return np.sin(1.5 * x) + 0.3 * x


def true_std(x):
    """True noise standard deviation: small near 0, large at both ends."""
    x = np.asarray(x, dtype=np.float64)
    return 0.08 + 0.25 * (1.0 - np.cos(x))


def make_data(n, rng):
    """Draw ``n`` points ``(x, y)`` with ``y ~ N(true_mean(x), true_std(x)**2)``.

    Parameters
    ----------
    n : int
        Number of points.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    x, y : ndarray of shape (n,)
    """
    x = rng.uniform(X_RANGE[0], X_RANGE[1], size=n)
    y = true_mean(x) + true_std(x) * rng.standard_normal(n)
    return x, y


# --------------------------------------------------------------------------
# Model: x -> tanh -> tanh -> (mu, s = log var)
# --------------------------------------------------------------------------
def _init_params(hidden, rng):
    def dense(n_in, n_out):
        return rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, n_out))

    return {
        "W1": dense(1, hidden), "b1": np.zeros(hidden),
        "W2": dense(hidden, hidden), "b2": np.zeros(hidden),
        "Wm": dense(hidden, 1), "bm": np.zeros(1),
        # A zero log-variance head starts every prediction at var = 1.
        "Wv": np.zeros((hidden, 1)), "bv": np.zeros(1),
    }


def _features(x):
    # Inputs are scaled to roughly [-1, 1] before the first layer.
    return (np.asarray(x, dtype=np.float64) / X_RANGE[1])[:, None]


def _forward(params, x):
    a0 = _features(x)
    h1 = np.tanh(a0 @ params["W1"] + params["b1"])
    h2 = np.tanh(h1 @ params["W2"] + params["b2"])
    mu = (h2 @ params["Wm"] + params["bm"])[:, 0]
    s = (h2 @ params["Wv"] + params["bv"])[:, 0]
    return mu, s, (a0, h1, h2)


def _backward(params, cache, d_mu, d_s):
    """Gradients of the loss w.r.t. every parameter, given dL/dmu and dL/ds."""
    a0, h1, h2 = cache
    d_mu = d_mu[:, None]
    d_s = d_s[:, None]
    g = {
        "Wm": h2.T @ d_mu, "bm": d_mu.sum(axis=0),
        "Wv": h2.T @ d_s, "bv": d_s.sum(axis=0),
    }
    d_h2 = d_mu @ params["Wm"].T + d_s @ params["Wv"].T
    d_z2 = d_h2 * (1.0 - h2 * h2)
    g["W2"] = h1.T @ d_z2
    g["b2"] = d_z2.sum(axis=0)
    d_z1 = (d_z2 @ params["W2"].T) * (1.0 - h1 * h1)
    g["W1"] = a0.T @ d_z1
    g["b1"] = d_z1.sum(axis=0)
    return g


def predict(params, x):
    """Predicted mean and variance at ``x``.

    Returns
    -------
    mu, var : ndarray
    """
    mu, s, _ = _forward(params, x)
    return mu, np.exp(s)


def train(x, y, *, steps=2000, seed=0, hidden=16, lr=1e-2, warmup_frac=0.3,
          progress=None):
    """Fit the mean-variance network with full-batch Adam.

    Parameters
    ----------
    x, y : array_like of shape (n,)
        Training data.
    steps : int
        Total number of Adam steps, warm-up included.
    seed : int
        Seed of the weight initialisation.
    hidden : int
        Width of both hidden layers.
    lr : float
        Adam learning rate.
    warmup_frac : float
        Fraction of the steps spent fitting the mean alone with the
        variance fixed at one (the loss is then half the mean squared error).
    progress : callable, optional
        Called as ``progress(step, loss)`` after every step.

    Returns
    -------
    params : dict of ndarray
        The trained weights; pass them to :func:`predict`.
    """
    import gnll

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    params = _init_params(hidden, rng)
    # Adam state: first and second moment estimates for every parameter.
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    n_warmup = int(round(warmup_frac * steps))
    ones = np.ones_like(y)
    for t in range(1, steps + 1):
        mu, s, cache = _forward(params, x)
        if t <= n_warmup:
            # Phase 1: variance fixed at 1, only the mean is learned.
            loss, grads = gnll.gaussian_nll_loss_and_grad(mu, y, ones, wrt=("input",))
            d_s = np.zeros_like(s)
        else:
            # Phase 2: joint NLL.  gnll returns dL/dvar; chain rule through
            # var = exp(s) gives dL/ds = dL/dvar * var.
            var = np.exp(s)
            loss, grads = gnll.gaussian_nll_loss_and_grad(mu, y, var, wrt=("input", "var"))
            d_s = grads.var * var
        g = _backward(params, cache, grads.input, d_s)
        for k in params:
            m[k] = beta1 * m[k] + (1.0 - beta1) * g[k]
            v2[k] = beta2 * v2[k] + (1.0 - beta2) * g[k] * g[k]
            m_hat = m[k] / (1.0 - beta1 ** t)
            v_hat = v2[k] / (1.0 - beta2 ** t)
            params[k] -= lr * m_hat / (np.sqrt(v_hat) + adam_eps)
        if progress is not None:
            progress(t, float(loss))
    return params


def evaluate(params, x, y):
    """Held-out metrics of a trained model.

    Returns
    -------
    dict
        ``nll``: mean Gaussian NLL including the constant ``0.5*log(2*pi)``;
        ``rmse``: root mean squared error of the predicted mean against ``y``;
        ``coverage95``: fraction of ``y`` inside ``mu +- 1.96*sigma``.
    """
    import gnll

    mu, var = predict(params, x)
    nll = float(gnll.gaussian_nll_loss(mu, y, var, full=True))
    rmse = float(np.sqrt(np.mean((y - mu) ** 2)))
    coverage = float(np.mean(np.abs(y - mu) <= Z95 * np.sqrt(var)))
    return {"nll": nll, "rmse": rmse, "coverage95": coverage}


def _one_blas_thread():
    """Limit BLAS to one thread if threadpoolctl is installed.

    The network's matrices are small; several BLAS threads only add
    synchronisation overhead, which becomes very large on a busy machine.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------
# Progress bar (no dependencies; plain lines when stderr is not a terminal)
# --------------------------------------------------------------------------
class _ProgressBar:
    def __init__(self, total, stream, width=30):
        self.total = max(int(total), 1)
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_shown = -1

    def __call__(self, step, loss):
        if self.tty:
            # Redraw at most ~100 times in total.
            every = max(self.total // 100, 1)
            if step % every and step != self.total:
                return
            frac = step / self.total
            filled = int(round(self.width * frac))
            bar = "#" * filled + "-" * (self.width - filled)
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"\rtraining [{bar}] {step:>{len(str(self.total))}}/{self.total}"
                              f"  loss {loss:8.4f}  {elapsed:5.1f}s")
            if step == self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            # One line per quarter, so logs stay short.
            quarter = (4 * step) // self.total
            if quarter != self._last_shown and (4 * step) % self.total < 4:
                self._last_shown = quarter
                self.stream.write(f"training: step {step}/{self.total} "
                                  f"({100 * step // self.total}%), loss {loss:.4f}\n")
                self.stream.flush()


# --------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------
def _write_figure(path, params, x_train, y_train, metrics):
    """Write the PNG; return False when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    grid = np.linspace(X_RANGE[0], X_RANGE[1], 400)
    mu, var = predict(params, grid)
    sd = np.sqrt(var)
    f, sd_true = true_mean(grid), true_std(grid)

    fig = Figure(figsize=(8, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(x_train, y_train, s=6, color="0.6", alpha=0.6, label="training data")
    ax.fill_between(grid, f - 2 * sd_true, f + 2 * sd_true, color="tab:orange",
                    alpha=0.25, label=r"true band $f(x) \pm 2\sigma_{\mathrm{true}}(x)$")
    ax.plot(grid, f, color="tab:orange", lw=1.5, ls="--", label="true mean $f(x)$")
    ax.plot(grid, mu, color="tab:blue", lw=2, label=r"predicted mean $\mu(x)$")
    ax.plot(grid, mu - 2 * sd, color="tab:blue", lw=1)
    ax.plot(grid, mu + 2 * sd, color="tab:blue", lw=1,
            label=r"predicted $\mu(x) \pm 2\sigma(x)$")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("gnll demo: mean-variance network trained with gnll's gradients\n"
                 f"held-out NLL {metrics['nll']:.3f}, RMSE {metrics['rmse']:.3f}, "
                 f"95% coverage {100 * metrics['coverage95']:.1f}%", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=110, format="png")
    return True


def run_demo(output="gnll-demo.png", *, seed=0, steps=2000, n_train=2000,
             n_test=4000, quiet=False, out=None, err=None):
    """Train, evaluate, write the figure; return the metrics.

    Parameters
    ----------
    output : str or os.PathLike or None
        Where to write the PNG; None skips the figure.
    seed : int
        Seed of the data and of the weight initialisation.
    steps : int
        Number of training steps.
    n_train, n_test : int
        Sizes of the training and held-out sets.
    quiet : bool
        Suppress the progress bar.
    out, err : file-like, optional
        Streams for the results and the progress bar (default: sys.stdout,
        sys.stderr).

    Returns
    -------
    dict
        The metrics of :func:`evaluate`, plus ``figure`` (the absolute path
        of the PNG, or None) and ``seconds`` (the training time).
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    rng = np.random.default_rng(seed)
    x_train, y_train = make_data(n_train, rng)
    x_test, y_test = make_data(n_test, rng)

    print(f"gnll demo: {n_train} training points, y ~ N(sin(1.5x) + 0.3x, "
          f"sigma(x)^2) with sigma(x) = 0.08 + 0.25(1 - cos x), "
          f"x in [{X_RANGE[0]:g}, {X_RANGE[1]:g}]", file=out)
    print(f"model: 1-16-16-2 tanh network (mean and log-variance heads), Adam, "
          f"{steps} steps (the first {int(round(0.3 * steps))} fit the mean only)",
          file=out)
    out.flush()
    bar = None if quiet else _ProgressBar(steps, err)
    start = time.perf_counter()
    with _one_blas_thread():
        params = train(x_train, y_train, steps=steps, seed=seed, progress=bar)
    seconds = time.perf_counter() - start
    metrics = evaluate(params, x_test, y_test)

    print(f"\nheld-out results ({n_test} points, trained in {seconds:.1f} s):", file=out)
    print(f"  NLL (mean, incl. 0.5*log(2*pi))  {metrics['nll']:8.4f}", file=out)
    print(f"  RMSE of the mean                 {metrics['rmse']:8.4f}", file=out)
    print(f"  coverage of the 95% interval     {100 * metrics['coverage95']:7.1f}%",
          file=out)
    import gnll

    f_test, sd_test = true_mean(x_test), true_std(x_test)
    oracle_nll = float(gnll.gaussian_nll_loss(f_test, y_test, sd_test ** 2, full=True))
    oracle_rmse = float(np.sqrt(np.mean((y_test - f_test) ** 2)))
    print(f"  (the true mean and noise level score NLL {oracle_nll:.4f} and "
          f"RMSE {oracle_rmse:.4f} on the same points)", file=out)

    figure = None
    if output is not None:
        path = os.path.abspath(os.fspath(output))
        if _write_figure(path, params, x_train, y_train, metrics):
            figure = path
            print(f"\nfigure written to {path}", file=out)
        else:
            print("\nmatplotlib is not installed, so no figure was written.\n"
                  "Install it with:  python -m pip install matplotlib", file=out)
    out.flush()
    metrics.update(figure=figure, seconds=seconds)
    return metrics
