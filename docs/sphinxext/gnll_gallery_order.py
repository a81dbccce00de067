"""Order of the examples in the gallery: a teaching sequence, not file names.

Used by ``sphinx_gallery_conf["within_subsection_order"]`` in ``conf.py``.
Examples not listed here come after the listed ones, sorted by file name, so
a new example never breaks the build.
"""

from __future__ import annotations

from pathlib import Path

TEACHING_ORDER = (
    # What the loss is and how it behaves.
    "plot_loss_anatomy.py",
    "plot_loss_landscape.py",
    "plot_homoscedastic_vs_heteroscedastic.py",
    # Training a mean-variance model, and what can go wrong.
    "plot_mean_variance_network.py",
    "plot_parameterizations.py",
    "plot_variance_collapse_and_eps.py",
    "plot_beta_nll.py",
    # Judging the result.
    "plot_calibration_diagnostics.py",
    # gnll with other tools.
    "plot_scipy_heteroscedastic_linear.py",
    "plot_torch_training.py",
    "plot_speed_comparison.py",
)


class TeachingOrder:
    """Sort key for sphinx-gallery (called with each example's file name)."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        try:
            return (TEACHING_ORDER.index(name), name)
        except ValueError:
            return (len(TEACHING_ORDER), name)

    def __repr__(self):
        return f"<{type(self).__name__}>"
