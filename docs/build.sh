#!/usr/bin/env bash
# Build the gnll documentation (HTML) with every warning treated as an error.
#
#   bash docs/build.sh            # from the repository root, in the venv that has gnll
#   PYTHON=/path/to/python bash docs/build.sh
#
# Extra arguments are passed to sphinx-build (e.g. -E for a full rebuild).
# The site is written to docs/_build/html and works offline (MathJax is bundled).
# The gallery executes examples/plot_*.py, so matplotlib (and scipy for some
# examples) must be installed; see the "docs" extra in pyproject.toml.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
export MPLBACKEND=Agg
exec "$PYTHON" -m sphinx -W --keep-going -b html "$@" "$here" "$here/_build/html"
