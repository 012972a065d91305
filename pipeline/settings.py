"""WasteMap configuration: every ``WASTEMAP_*`` environment variable is read here and nowhere else.

Settings are read when :func:`get_settings` is called (never at import time), so each CLI command,
Celery worker process and dashboard session sees the environment it was started with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.camera import DASH_CAMERA, CameraModel

if TYPE_CHECKING:
    from analytics.sites import SiteParams


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
        default=900.0,
        gt=0,
        description="Chunks left pending and untouched this long (no heartbeat: not running) are "
        "sent again by beat, unless they may still be waiting in the queue. At least twice "
        "heartbeat_s; the default also exceeds the task soft time limit, so even a run whose "
        "heartbeats fail is not taken for lost while it may still be going.",
    )
    heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        description="How often a worker running a chunk touches its pending items, to show beat "
        "that the chunk is alive.",
    )
    task_soft_time_limit_s: int = Field(default=600, gt=0)
    task_max_retries: int = Field(default=5, ge=0)
    beat_schedule_file: Path = Field(
        default=Path("/tmp/wastemap-beat-schedule"),
        description="Where `wastemap beat` keeps the state of its schedule (when each periodic "
        "job last ran).",
    )
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
    num_threads: int | None = Field(
        default=None,
        description="torch threads; default: all cores (in a worker: the cores shared among its "
        "pool's processes, at least 1 each).",
    )

    camera_height_m: float = Field(
        default=DASH_CAMERA.height_m,
        gt=0,
        description="Height of the survey vehicles' dash camera above the road, metres. With "
        "the settings below it places each detection on the ground ahead of the camera "
        "(frames without a heading, such as phone close-ups, keep the camera's position).",
    )
    camera_hfov_deg: float = Field(
        default=DASH_CAMERA.hfov_deg, gt=0, lt=180, description="Horizontal field of view, degrees."
    )
    camera_focal_px: float | None = Field(
        default=DASH_CAMERA.focal_px,
        gt=0,
        description="Focal length in pixels at the frames' width; overrides camera_hfov_deg.",
    )
    camera_horizon: float = Field(
        default=DASH_CAMERA.horizon,
        ge=0,
        le=1,
        description="Row of the horizon in a frame, as a fraction of its height (0 top).",
    )
    camera_principal_x: float = Field(
        default=DASH_CAMERA.principal_x,
        ge=0,
        le=1,
        description="Column straight ahead of the vehicle, as a fraction of the frame width.",
    )
    camera_pitch_deg: float = Field(
        default=DASH_CAMERA.pitch_deg,
        description="Downward tilt of the camera, degrees; 0 for an upright image plane.",
    )
    camera_max_distance_m: float = Field(
        default=DASH_CAMERA.max_distance_m,
        gt=0,
        description="Detections whose ground point is farther than this keep the camera's "
        "position, metres.",
    )

    site_min_score: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Detections scored lower are not made into litter sites (nor routed to); "
        "0.2 suits the shipped model (on the demo's frames 77 % of its detections scoring 0.2 "
        "or more lie on litter and they find 91 % of it; at 0.3, 80 % and 82 %: "
        "`wastemap eval --at-score`).",
    )

    dashboard_login_hours: float = Field(
        default=12.0,
        gt=0,
        description="How long a dashboard login lasts (over reloads and new tabs of the same "
        "browser) before the user must log in again.",
    )
    recyclable_overrides: dict[str, bool] = Field(
        default_factory=dict,
        description='JSON object category -> recyclable, e.g. {"glass": false}.',
    )

    @model_validator(mode="after")
    def _requeue_after_heartbeats(self) -> Settings:
        if self.requeue_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"WASTEMAP_REQUEUE_AFTER_S ({self.requeue_after_s:g} s) must be at least twice "
                f"WASTEMAP_HEARTBEAT_S ({self.heartbeat_s:g} s): a running chunk touches its items "
                "every heartbeat, and one late heartbeat must not make beat send it again; raise "
                "WASTEMAP_REQUEUE_AFTER_S or lower WASTEMAP_HEARTBEAT_S"
            )
        return self

    def site_params(self, **overrides: Any) -> SiteParams:
        """Site clustering parameters: the defaults with ``site_min_score``, then ``overrides``."""
        from analytics.sites import SiteParams  # scipy and pandas: only when sites are built

        return SiteParams(**{"min_score": self.site_min_score, **overrides})

    def camera_model(self) -> CameraModel:
        """The dash camera of the survey vehicles (``camera_*`` settings)."""
        return CameraModel(
            height_m=self.camera_height_m,
            hfov_deg=self.camera_hfov_deg,
            horizon=self.camera_horizon,
            principal_x=self.camera_principal_x,
            pitch_deg=self.camera_pitch_deg,
            focal_px=self.camera_focal_px,
            max_distance_m=self.camera_max_distance_m,
        )


def get_settings() -> Settings:
    """Read the settings from the environment now, and from the ``.env`` file of the current
    folder (``WASTEMAP_ENV_FILE`` names another file; set empty, none is read)."""
    env_file = os.environ.get("WASTEMAP_ENV_FILE", ".env")
    if "WASTEMAP_ENV_FILE" in os.environ and env_file and not Path(env_file).is_file():
        raise FileNotFoundError(
            f"WASTEMAP_ENV_FILE {env_file} does not exist: name a .env file, or set it empty "
            "to read none"
        )
    return Settings(_env_file=env_file or None)
