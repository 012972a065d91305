"""``wastemap --help`` starts fast: importing the CLI, and showing its help, imports none of the
heavy libraries (pandas, GeoPandas, Folium, NetworkX, SciPy, torch, Celery, PyAV, SQLAlchemy...).

Each check runs in a fresh interpreter, since this test session has imported them all already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HEAVY = (
    "pandas",
    "geopandas",
    "folium",
    "networkx",
    "scipy",
    "torch",
    "celery",
    "av",
    "sqlalchemy",
    "numpy",
    "pyvrp",
)


def heavy_imported(code: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    report = f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    check = f"{code}\nimport json, sys\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library() -> None:
    assert heavy_imported("import pipeline.cli") == []


@pytest.mark.parametrize(
    "command",
    [[], ["ingest"], ["ingest-video"], ["export"], ["routes", "plan"], ["users", "add"], ["demo"]],
)
def test_help_imports_no_heavy_library(command: list[str]) -> None:
    code = (
        "import contextlib, io\n"
        "from pipeline.cli import app\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        app([*{command!r}, '--help'])\n"
        "    except SystemExit as exc:\n        assert exc.code == 0, exc.code\n"
    )
    assert heavy_imported(code) == []


def test_the_options_defaults_are_the_modules_defaults() -> None:
    """The constants the CLI takes from light modules are the ones the heavy modules use."""
    from analytics import defaults, routing, sites
    from db import roles, users
    from pipeline import batches
    from pipeline import defaults as pipeline_defaults

    assert batches.DEFAULT_CHUNK_SIZE is pipeline_defaults.DEFAULT_CHUNK_SIZE
    assert sites.DEFAULT_DISTANCE_M is defaults.DEFAULT_DISTANCE_M
    assert routing.DEFAULT_SERVICE_MINUTES is defaults.DEFAULT_SERVICE_MINUTES
    assert routing.DEFAULT_SOLVER.time_limit_s == defaults.DEFAULT_SOLVER_TIME_LIMIT_S
    assert users.ROLES is roles.ROLES
