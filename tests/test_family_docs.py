"""The public names added by issue 5 have numpydoc docstrings whose Examples
run, and the signatures keep the core API's positional order."""

import doctest
import inspect

import numpy as np
import pytest

import gnll

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("name", ["gaussian_nll_curvature", "Curvature",
                                  "gaussian_nll_loss", "gaussian_nll_loss_and_grad",
                                  "GaussianNLLLoss"])
def test_examples_run(name):
    obj = getattr(gnll, name)
    doc = obj.__doc__ or ""
    assert "Examples" in doc and ">>>" in doc
    tests = doctest.DocTestFinder(exclude_empty=True, recurse=False).find(
        obj, name, globs={"np": np, "gnll": gnll})
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = []
    for t in tests:
        runner.run(t, out=out.append)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, "".join(out)


@pytest.mark.parametrize("name", ["gaussian_nll_loss", "gaussian_nll_loss_and_grad",
                                  "gaussian_nll_curvature"])
def test_new_options_are_documented(name):
    doc = getattr(gnll, name).__doc__
    for word in ("log_var", "std", "beta", "weight", "clamp_grad"):
        assert word in doc, word


def test_positional_order_of_the_core_api_is_kept():
    for f in (gnll.gaussian_nll_loss, gnll.gaussian_nll_loss_and_grad):
        params = list(inspect.signature(f).parameters.values())
        assert [p.name for p in params[:6]] == ["input", "target", "var", "full", "eps",
                                                "reduction"]
        assert params[2].default is None
        for p in params[6:]:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, p.name
