"""``wastemap train | eval | detect`` (placeholder module, filled in by the detector work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the detector commands to ``app``."""
