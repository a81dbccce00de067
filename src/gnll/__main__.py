"""Command-line entry point: ``python -m gnll``.

Sub-commands
------------
demo
    Train a small mean-variance network with gnll's gradients on synthetic
    heteroscedastic data, print held-out metrics and write a PNG.
config
    Print gnll's build and run-time configuration (``gnll.show_config()``).
"""

from __future__ import annotations

import argparse
import sys


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser():
    """Return the argument parser of ``python -m gnll``."""
    parser = argparse.ArgumentParser(
        prog="python -m gnll",
        description="gnll: Gaussian negative log-likelihood loss and its analytic "
                    "gradients for NumPy.",
        epilog="Run 'python -m gnll demo --help' for the demo's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train a small mean-variance network and plot its error bars",
        description=(
            "Train a small mean-variance network (NumPy, Adam, gnll's analytic "
            "gradients) on a built-in synthetic data set whose noise level "
            "depends on x. The mean is fitted first, then mean and variance "
            "jointly on the Gaussian NLL. Prints the held-out NLL, the RMSE of "
            "the mean and the coverage of the 95% interval, and writes a PNG of "
            "mean +- 2 sigma against the true noise band (needs matplotlib)."
        ),
        epilog="example: python -m gnll demo --output fit.png --seed 1 --steps 3000",
    )
    demo.add_argument("-o", "--output", default="gnll-demo.png", metavar="PATH",
                      help="where to write the PNG (default: %(default)s in the "
                           "current directory)")
    demo.add_argument("--seed", type=_non_negative_int, default=0,
                      help="seed of the data and of the initial weights (default: %(default)s)")
    demo.add_argument("--steps", type=_positive_int, default=2000,
                      help="number of training steps (default: %(default)s)")
    demo.add_argument("--no-plot", action="store_true",
                      help="do not write the PNG")
    demo.add_argument("-q", "--quiet", action="store_true",
                      help="no progress bar")

    sub.add_parser("config", help="print gnll's build and threading configuration",
                   description="Print gnll.show_config(): version, OpenMP, threads, "
                               "compiler and SIMD information.")
    return parser


def main(argv=None):
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        import os

        from gnll._demo import run_demo

        if not args.no_plot:
            folder = os.path.dirname(os.path.abspath(args.output))
            if not os.path.isdir(folder):
                parser.error(f"--output: the folder {folder!r} does not exist")

        run_demo(None if args.no_plot else args.output, seed=args.seed,
                 steps=args.steps, quiet=args.quiet)
        return 0
    if args.command == "config":
        import gnll

        gnll.show_config()
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
