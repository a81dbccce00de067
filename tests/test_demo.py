"""Tests of the ``python -m gnll demo`` command and its training code."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from gnll import _demo
from gnll.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "gnll", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_demo_command_writes_png_and_prints_metrics(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sub dir" / "demo.png"
    out.parent.mkdir()
    proc = _run("demo", "--steps", "40", "--seed", "3", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000  # a real figure, not an empty image
    for text in ("NLL", "RMSE", "coverage of the 95% interval", str(out)):
        assert text in proc.stdout
    # The progress bar goes to stderr, and reaches the last step.
    assert "40/40" in proc.stderr


def test_demo_default_output_is_in_current_directory(tmp_path):
    pytest.importorskip("matplotlib")
    proc = _run("demo", "--steps", "5", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gnll-demo.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "training" not in proc.stderr  # --quiet: no progress bar


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_help(args):
    proc = _run(*args)
    assert proc.returncode == 0
    assert "usage: python -m gnll" in proc.stdout
    assert "demo" in proc.stdout
    assert "%%" not in proc.stdout
    if "demo" in args:
        for option in ("--output", "--seed", "--steps"):
            assert option in proc.stdout
        assert "95% interval" in proc.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--steps", "0"], ["--steps", "x"], ["--seed", "-1"],
                                 ["--bogus"]])
def test_bad_arguments_are_rejected(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", *bad])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_missing_output_folder_is_reported_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--output", str(tmp_path / "no such folder" / "x.png")])
    assert info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_plot_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--steps", "3", "--no-plot", "--quiet"]) == 0
    assert "coverage of the 95% interval" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_metrics_still_printed(tmp_path, monkeypatch):
    # Make "from matplotlib... import ..." fail as if matplotlib were absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / "demo.png"
    metrics = _demo.run_demo(path, steps=5, out=out, err=err)
    text = out.getvalue()
    assert "matplotlib is not installed" in text
    assert "pip install matplotlib" in text
    assert "RMSE" in text and "NLL" in text
    assert metrics["figure"] is None
    assert not path.exists()


def test_progress_bar_without_tty():
    err = io.StringIO()
    bar = _demo._ProgressBar(100, err)
    for step in range(1, 101):
        bar(step, 0.5)
    lines = err.getvalue().splitlines()
    assert len(lines) == 4  # one line per quarter
    assert lines[-1].startswith("training: step 100/100 (100%)")


def test_data_is_reproducible_and_heteroscedastic():
    x1, y1 = _demo.make_data(500, np.random.default_rng(1))
    x2, y2 = _demo.make_data(500, np.random.default_rng(1))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    sd = _demo.true_std(np.array([0.0, 3.0]))
    assert sd[1] > 5 * sd[0]


def test_training_reaches_sensible_fit():
    """A full-length run must be close to the true model on held-out data."""
    rng = np.random.default_rng(0)
    x, y = _demo.make_data(2000, rng)
    x_test, y_test = _demo.make_data(4000, rng)
    params = _demo.train(x, y, steps=2000, seed=0)
    metrics = _demo.evaluate(params, x_test, y_test)

    import gnll

    f, sd = _demo.true_mean(x_test), _demo.true_std(x_test)
    oracle_nll = float(gnll.gaussian_nll_loss(f, y_test, sd ** 2, full=True))
    oracle_rmse = float(np.sqrt(np.mean((y_test - f) ** 2)))
    assert metrics["nll"] < oracle_nll + 0.05
    assert metrics["rmse"] < 1.03 * oracle_rmse
    assert 0.93 <= metrics["coverage95"] <= 0.97
    # The learned noise level follows the true one: small at 0, large at the ends.
    mu, var = _demo.predict(params, np.array([-2.8, 0.0, 2.8]))
    ratio = np.sqrt(var) / _demo.true_std(np.array([-2.8, 0.0, 2.8]))
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_short_training_is_worse_than_long():
    rng = np.random.default_rng(5)
    x, y = _demo.make_data(1000, rng)
    x_test, y_test = _demo.make_data(2000, rng)
    short = _demo.evaluate(_demo.train(x, y, steps=20, seed=5), x_test, y_test)
    long = _demo.evaluate(_demo.train(x, y, steps=1500, seed=5), x_test, y_test)
    assert long["nll"] < short["nll"] - 0.3


def test_config_command_prints_configuration(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "gnll" in out and "OpenMP" in out
