"""Run the numpydoc Examples in gnll's docstrings as doctests.

Every importable module of the installed package is searched (compiled
modules included, where doctest can see their docstrings); examples must
pass with NORMALIZE_WHITESPACE | ELLIPSIS, and the public API must actually
have examples (so a silently empty run cannot pass).
"""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import gnll

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
# __main__ is the command-line entry point: importing it may run it.
SKIP = {"gnll.__main__"}
# modules whose examples need an optional dependency
OPTIONAL = {"gnll.torch": "torch"}

MODULES = ["gnll"] + sorted(
    m.name for m in pkgutil.walk_packages(gnll.__path__, prefix="gnll.")
    if m.name not in SKIP
)


def _run_module_doctests(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    tests = finder.find(module, name, globs={"np": np, "gnll": gnll, **vars(module)})
    old = np.get_printoptions()
    try:
        for test in sorted(tests, key=lambda t: t.name):
            runner.run(test, out=_collect)
    finally:
        np.set_printoptions(**old)
    return runner.summarize(verbose=False)


_REPORT = []


def _collect(text):
    _REPORT.append(text)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    _REPORT.clear()
    result = _run_module_doctests(name)
    assert result.failed == 0, "".join(_REPORT)


PUBLIC = ["gaussian_nll_loss", "gaussian_nll_loss_and_grad", "GaussianNLLLoss",
          "show_config"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_api_has_runnable_examples(name):
    obj = getattr(gnll, name)
    doc = obj.__doc__ or ""
    assert "Examples" in doc and ">>>" in doc, f"{name} has no numpydoc Examples section"
    tests = doctest.DocTestFinder(exclude_empty=True, recurse=False).find(
        obj, name, globs={"np": np, "gnll": gnll})
    attempted = sum(len(t.examples) for t in tests)
    assert attempted > 0
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    _REPORT.clear()
    for t in tests:
        runner.run(t, out=_collect)
    assert runner.summarize(verbose=False).failed == 0, "".join(_REPORT)


def test_doctests_are_attempted():
    attempted = 0
    for name in ("gnll", "gnll._loss", "gnll._config"):
        if name in MODULES:
            attempted += _run_module_doctests(name).attempted
    assert attempted > 0
