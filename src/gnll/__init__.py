"""gnll: the Gaussian negative log-likelihood loss and its gradients, fast.

An OpenMP-parallel, SIMD-dispatched CPU implementation of the Gaussian
negative log-likelihood with PyTorch's semantics (broadcasting, reductions,
the ``eps`` clamp and its straight-through gradient), computing the loss and
its analytic gradients in one fused pass over float32 or float64 arrays.

>>> import numpy as np
>>> import gnll
>>> gnll.gaussian_nll_loss(np.zeros(3), np.ones(3), np.ones(3))
np.float64(0.5)
"""
from ._buffers import set_buffer_cache
from ._config import show_config
from ._curvature import Curvature, gaussian_nll_curvature
from ._loss import GaussianNLLLoss, Grads, gaussian_nll_loss, gaussian_nll_loss_and_grad

__version__ = "0.1.0"

__all__ = [
    "gaussian_nll_loss",
    "gaussian_nll_loss_and_grad",
    "Grads",
    "GaussianNLLLoss",
    "gaussian_nll_curvature",
    "Curvature",
    "show_config",
    "set_buffer_cache",
    "__version__",
]
