"""Errors a user can cause, each with a message naming the input and the fix."""

from __future__ import annotations


class WasteMapError(Exception):
    """Base of the errors the CLI reports as one clear line (exit code 2)."""


class DatabaseNotAtHeadError(WasteMapError, RuntimeError):
    """The database schema is missing or older (or newer) than this version of WasteMap."""


class DatabaseUnavailableError(WasteMapError, ConnectionError):
    """The database server cannot be reached."""


class BrokerUnavailableError(WasteMapError, ConnectionError):
    """The message broker (WASTEMAP_BROKER_URL) cannot be reached; ``batch_id``: the batch that
    was recorded before it stopped answering (its unsent chunks stay pending), if any."""

    def __init__(self, message: str, *, batch_id: str | None = None) -> None:
        super().__init__(message)
        self.batch_id = batch_id


class TrackError(WasteMapError, ValueError):
    """A GPX/CSV track file cannot be read."""


class SourceNotFoundError(WasteMapError, FileNotFoundError):
    """The folder or file to ingest does not exist."""
