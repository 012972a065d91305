"""WasteMap configuration: every ``WASTEMAP_*`` environment variable is read here and nowhere else.

Settings are read when :func:`get_settings` is called (never at import time), so each CLI command,
Celery worker process and dashboard session sees the environment it was started with.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration of WasteMap, from ``WASTEMAP_<NAME>`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="WASTEMAP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///wastemap.db",
        description="SQLAlchemy URL. Default: an embedded SQLite file in the working directory; "
        "production: postgresql+psycopg2://user:pass@host/db with PostGIS.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://host:6379/0). Unset: batches run in-process.",
    )
    result_backend: str | None = Field(default=None, description="Celery result backend.")
    visibility_timeout_s: int = Field(
        default=3600,
        gt=0,
        description="Seconds before Redis hands an unacknowledged task (its worker died) to "
        "another worker.",
    )
    requeue_after_s: float = Field(
        default=300.0,
        gt=0,
        description="Chunks left pending and untouched this long are sent again by beat.",
    )
    task_soft_time_limit_s: int = Field(default=600, gt=0)
    task_max_retries: int = Field(default=5, ge=0)
    inbox: Path | None = Field(default=None, description="Folder scanned by beat for new files.")
    inbox_scan_seconds: float = Field(default=60.0, gt=0)
    inbox_survey: str = Field(
        default="inbox",
        description="Survey of files put directly in the inbox; files in a sub-folder go to the "
        "survey named after that sub-folder.",
    )

    max_image_pixels: int = Field(
        default=100_000_000,
        gt=0,
        description="Images with more pixels than this are quarantined (decompression bombs).",
    )
    max_track_gap_s: float = Field(
        default=60.0,
        gt=0,
        description="Longest gap between two track points that a photo may be interpolated into.",
    )
    camera_timezone: str = Field(
        default="UTC",
        description="IANA timezone of camera clocks that record neither a UTC offset nor GPS time.",
    )
    future_tolerance_s: float = Field(
        default=300.0,
        ge=0,
        description="Capture times later than now + this are quarantined as 'future_timestamp'.",
    )

    model_path: Path | None = Field(
        default=None, description="Detector checkpoint; default: the shipped models/weights model."
    )
    device: str = Field(default="cpu", description="torch device for detection.")
    detect_batch_size: int = Field(default=4, gt=0)
    num_threads: int | None = Field(default=None, description="torch threads; default: all cores.")

    recyclable_overrides: dict[str, bool] = Field(
        default_factory=dict,
        description='JSON object category -> recyclable, e.g. {"glass": false}.',
    )


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
