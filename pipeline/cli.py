"""The ``wastemap`` command line (Typer).

Each group of commands lives in its own module beside this one and registers itself here:
``cli_db`` (db upgrade/downgrade/current), ``cli_ingest`` (ingest, export), ``cli_batches``
(batches, worker, beat), ``cli_detector`` (train, eval, detect), ``cli_survey`` (survey
simulate), ``cli_routes`` (sites, routes), ``cli_dashboard`` (dashboard, users) and ``demo``.
Commands that read or write the database check first that it is at the latest migration and say
how to fix it.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="wastemap",
    help="WasteMap: map street litter from geotagged imagery and plan its collection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from pipeline import (
        cli_batches,
        cli_dashboard,
        cli_db,
        cli_detector,
        cli_ingest,
        cli_routes,
        cli_survey,
        demo,
    )

    for module in (
        cli_db,
        cli_ingest,
        cli_batches,
        cli_detector,
        cli_survey,
        cli_routes,
        cli_dashboard,
        demo,
    ):
        module.register(app)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
