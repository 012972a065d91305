"""What a reviewer is told when a decision cannot be stored: the reason in their words, from the
errors real PostgreSQL raises (the page's own handling is in test_pages.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.views.review import _failure_message


def raised_by_postgres(url: str, sqlstate: str, message: str) -> Exception:
    """The SQLAlchemy error for a PostgreSQL error of this SQLSTATE, raised by the server."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}', "
                    f"MESSAGE = '{message}'; END $$"
                )
            )
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("PostgreSQL raised nothing")


@pytest.mark.parametrize(
    ("sqlstate", "message", "told"),
    [
        ("40P01", "deadlock detected", "being saved at the same moment"),
        ("40001", "could not serialize access", "being saved at the same moment"),
        ("23505", "duplicate key value violates unique constraint", "changed meanwhile"),
        ("22012", "division by zero", "the database refused the change (DivisionByZero)"),
    ],
)
def test_database_errors_are_told_in_the_reviewers_words(
    postgis_at_head: str, sqlstate: str, message: str, told: str
) -> None:
    exc = raised_by_postgres(postgis_at_head, sqlstate, message)
    shown = _failure_message(7, "rejected", exc)
    assert shown.startswith("Your decision on detection 7 (rejected) was **not saved**: ")
    assert told in shown and "Try again" in shown
    assert message not in shown  # the server's text goes to the log, not to the reviewer


def test_an_unreachable_database_is_told_so() -> None:
    engine = sa.create_engine("postgresql+psycopg2://wastemap@127.0.0.1:9/wastemap")
    with pytest.raises(sa.exc.OperationalError) as raised:
        engine.connect()
    shown = _failure_message(3, "accepted", raised.value)
    assert "the database could not be reached" in shown
    assert "127.0.0.1" not in shown
