"""Where on the ground a detected object lies: the camera's ray through a box, met with the road.

A street frame is taken by a dash camera at ``height_m`` above flat ground, looking along the
vehicle's heading. The bottom centre of a box is where the object touches the ground, so the ray
through that pixel, intersected with the ground plane, gives the object's offset from the camera
(metres ahead and to the right) and, with the camera's position and heading, its latitude and
longitude.

The camera (:class:`CameraModel`) is a pinhole: focal length from the horizontal field of view
(or in pixels), principal point ``principal_x`` across the image, the horizon at row
``horizon`` of the image height and an optional pitch. With ``pitch_deg=0`` the image plane is
upright and the lens shifted, as in the survey camera of the sample survey
(``pipeline/simulate``): a ground point ``z`` metres ahead then lies ``f * height_m / z`` pixels
below the horizon.

No estimate is made, and the camera's own position is kept with a reason
(:data:`REASONS`), when the frame has no heading (phone close-ups), no image size or box, when
the bottom of the box is at or above the horizon (the ray never meets the ground), or when the
ground point is farther than ``max_distance_m`` (a pixel there spans metres).

Offsets become positions on the WGS84 ellipsoid with :class:`pyproj.Geod` (azimuths are from
true north, as headings are; a UTM grid's north is off by the meridian convergence, about 2
degrees in Helsinki).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyproj

from analytics.camera import DASH_CAMERA, MAX_GROUND_DISTANCE_M, CameraModel

__all__ = [
    "DASH_CAMERA",
    "MAX_GROUND_DISTANCE_M",
    "REASONS",
    "CameraModel",
    "GroundPosition",
    "ground_offsets",
    "ground_position",
    "ground_positions",
    "object_positions",
]

#: Why an estimate was refused (the camera's position is kept).
NO_HEADING = "no_heading"
NO_BOX = "no_box"
ABOVE_HORIZON = "above_horizon"
TOO_FAR = "too_far"
REASONS: tuple[str, ...] = (NO_HEADING, NO_BOX, ABOVE_HORIZON, TOO_FAR)

_GEOD = pyproj.Geod(ellps="WGS84")


class GroundPosition(NamedTuple):
    """One object's estimated position: degrees, distance from the camera in metres (NaN when
    refused) and the reason it was refused (None when estimated)."""

    latitude: float
    longitude: float
    distance_m: float
    reason: str | None


def ground_offsets(
    boxes: Any,
    *,
    widths: Any,
    heights: Any,
    camera: CameraModel = DASH_CAMERA,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground offsets from the camera of the bottom centres of ``boxes``.

    Parameters
    ----------
    boxes : array-like, shape (n, 4)
        ``x1, y1, x2, y2`` in pixels of the upright image.
    widths, heights : array-like, shape (n,) or scalars
        Image size in pixels.
    camera : CameraModel

    Returns
    -------
    right_m, ahead_m : numpy.ndarray
        Metres to the right of and ahead of the camera, along its heading; NaN where there is no
        ground point.
    reason : numpy.ndarray of object
        None, or :data:`NO_BOX` / :data:`ABOVE_HORIZON` / :data:`TOO_FAR`.
    """
    xyxy = np.asarray(boxes, dtype=float).reshape(-1, 4)
    n = len(xyxy)
    width = np.broadcast_to(np.asarray(widths, dtype=float), (n,))
    height = np.broadcast_to(np.asarray(heights, dtype=float), (n,))
    f = camera.focal_length_px(width)
    pitch = math.radians(camera.pitch_deg)
    cy = camera.horizon * height + f * math.tan(pitch)  # principal point row
    a = ((xyxy[:, 0] + xyxy[:, 2]) / 2 - camera.principal_x * width) / f
    b = (xyxy[:, 3] - cy) / f
    # The ray (a, b, 1) in camera axes (x right, y down, z forward), tilted down by the pitch.
    down = b * math.cos(pitch) + math.sin(pitch)
    forward = math.cos(pitch) - b * math.sin(pitch)
    reason = np.full(n, None, dtype=object)
    no_box = ~(np.isfinite(xyxy).all(axis=1) & (width > 0) & (height > 0))
    above = ~no_box & ~(down > 1e-9)
    reason[no_box] = NO_BOX
    reason[above] = ABOVE_HORIZON
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(no_box | above, np.nan, camera.height_m / down)
    ahead, right = forward * t, a * t
    too_far = np.isfinite(t) & (np.hypot(ahead, right) > camera.max_distance_m)
    reason[too_far] = TOO_FAR
    refused = reason != None  # noqa: E711 (elementwise over an object array)
    ahead[refused] = np.nan
    right[refused] = np.nan
    return right, ahead, reason


def ground_positions(
    latitudes: Any,
    longitudes: Any,
    headings_deg: Any,
    boxes: Any,
    *,
    widths: Any,
    heights: Any,
    camera: CameraModel = DASH_CAMERA,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimated ground positions of the objects in ``boxes``, seen from cameras at
    ``latitudes``/``longitudes`` (degrees, EPSG:4326) facing ``headings_deg`` (degrees clockwise
    from true north; NaN or None when unknown).

    Returns
    -------
    latitude, longitude : numpy.ndarray
        The object's position, or the camera's where refused.
    distance_m : numpy.ndarray
        Ground distance from the camera, metres; NaN where refused.
    reason : numpy.ndarray of object
        None where estimated, else one of :data:`REASONS`.
    """
    lat = np.asarray(latitudes, dtype=float).ravel()
    lon = np.asarray(longitudes, dtype=float).ravel()
    heading = pd.to_numeric(pd.Series(np.ravel(np.asarray(headings_deg, dtype=object))))
    heading = np.broadcast_to(heading.to_numpy(dtype=float), lat.shape)  # None -> NaN
    right, ahead, reason = ground_offsets(boxes, widths=widths, heights=heights, camera=camera)
    no_heading = ~np.isfinite(heading)
    reason[no_heading] = NO_HEADING
    ok = reason == None  # noqa: E711 (elementwise over an object array)
    out_lat, out_lon = lat.copy(), lon.copy()
    distance = np.full(lat.shape, np.nan)
    if ok.any():
        distance[ok] = np.hypot(right[ok], ahead[ok])
        azimuth = heading[ok] + np.degrees(np.arctan2(right[ok], ahead[ok]))
        moved_lon, moved_lat, _ = _GEOD.fwd(lon[ok], lat[ok], azimuth, distance[ok])
        out_lat[ok], out_lon[ok] = moved_lat, moved_lon
    return out_lat, out_lon, distance, reason


def ground_position(
    latitude: float,
    longitude: float,
    *,
    heading_deg: float | None,
    image_size: tuple[int, int],
    box: Sequence[float],
    camera: CameraModel = DASH_CAMERA,
) -> GroundPosition:
    """The estimated ground position of the object in ``box`` (``x1, y1, x2, y2`` pixels of an
    image ``image_size = (width, height)``), seen by a camera at ``latitude``/``longitude``
    facing ``heading_deg``; the camera's position with a reason when it cannot be estimated."""
    lat, lon, distance, reason = ground_positions(
        [latitude],
        [longitude],
        [heading_deg],
        [box],
        widths=image_size[0],
        heights=image_size[1],
        camera=camera,
    )
    return GroundPosition(float(lat[0]), float(lon[0]), float(distance[0]), reason[0])


def object_positions(
    detections: pd.DataFrame, *, camera: CameraModel = DASH_CAMERA
) -> pd.DataFrame:
    """``detections`` with ``latitude``/``longitude`` moved from the camera to the object.

    Parameters
    ----------
    detections : pandas.DataFrame
        ``latitude``, ``longitude`` (the camera, degrees), ``heading_deg`` (of the frame; a
        missing column means no heading), ``width``, ``height`` (of the frame, pixels) and the
        box ``x1``, ``y1``, ``x2``, ``y2`` (pixels).
    camera : CameraModel

    Returns
    -------
    pandas.DataFrame
        A copy with ``latitude``/``longitude`` the object's estimated position (the camera's
        where refused), ``camera_latitude``/``camera_longitude``, ``ground_distance_m`` (NaN
        where refused) and ``position_reason`` (None where estimated, else one of
        :data:`REASONS`).
    """
    out = detections.copy()
    n = len(out)
    out["camera_latitude"] = out["latitude"].astype(float)
    out["camera_longitude"] = out["longitude"].astype(float)
    if n == 0:
        out["ground_distance_m"] = pd.Series(dtype=float)
        out["position_reason"] = pd.Series(dtype=object)
        return out
    nan = np.full(n, np.nan)

    def column(name: str) -> np.ndarray:
        if name not in out:
            return nan
        return pd.to_numeric(out[name], errors="coerce").to_numpy(dtype=float)

    lat, lon, distance, reason = ground_positions(
        out["camera_latitude"].to_numpy(),
        out["camera_longitude"].to_numpy(),
        column("heading_deg"),
        np.column_stack([column(c) for c in ("x1", "y1", "x2", "y2")]),
        widths=column("width"),
        heights=column("height"),
        camera=camera,
    )
    out["latitude"], out["longitude"] = lat, lon
    out["ground_distance_m"] = distance
    out["position_reason"] = pd.Series(reason, index=out.index, dtype=object)
    return out
