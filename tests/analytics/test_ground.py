"""Detections placed on the ground: the ray through the bottom of a box met with flat ground."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyproj
import pytest

from analytics.errors import SiteParameterError
from analytics.ground import (
    ABOVE_HORIZON,
    DASH_CAMERA,
    NO_BOX,
    NO_HEADING,
    TOO_FAR,
    CameraModel,
    ground_offsets,
    ground_position,
    object_positions,
)

HELSINKI = (60.1699, 24.9384)
SIZE = (1280, 720)
W, H = SIZE
F = W / 2 / math.tan(math.radians(62.0) / 2)  # the dash camera's focal length, pixels
CX = 0.42 * W
HORIZON = 0.36 * H
GEOD = pyproj.Geod(ellps="WGS84")


def box_at(u: float, v: float) -> tuple[float, float, float, float]:
    """A 20 x 12 pixel box whose bottom centre is pixel (u, v)."""
    return (u - 10, v - 12, u + 10, v)


def moved(position, latitude: float = HELSINKI[0], longitude: float = HELSINKI[1]):
    """(azimuth in degrees, metres) from the camera to ``position``."""
    azimuth, _, metres = GEOD.inv(longitude, latitude, position.longitude, position.latitude)
    return azimuth % 360, metres


def test_focal_length_from_the_field_of_view_or_in_pixels() -> None:
    assert float(DASH_CAMERA.focal_length_px(W)) == pytest.approx(F)
    assert float(CameraModel(focal_px=900.0).focal_length_px(W)) == 900.0


def test_a_box_at_the_image_bottom_is_at_the_nearest_ground_distance() -> None:
    angle = math.atan((H - HORIZON) / F)  # below the horizon, of the bottom row
    right, ahead, reason = ground_offsets([box_at(CX, H)], widths=W, heights=H)
    assert reason[0] is None
    assert ahead[0] == pytest.approx(1.7 / math.tan(angle))  # 3.93 m
    assert right[0] == pytest.approx(0.0, abs=1e-12)


def test_offsets_scale_as_a_pinhole_camera_sees_the_ground() -> None:
    # 10 m ahead and 2 m to the right of a 1.7 m high camera.
    u, v = CX + F * 2.0 / 10.0, HORIZON + F * 1.7 / 10.0
    right, ahead, _ = ground_offsets([box_at(u, v)], widths=W, heights=H)
    assert (right[0], ahead[0]) == pytest.approx((2.0, 10.0))
    # The same ray in a half-size image of the same camera.
    right, ahead, _ = ground_offsets([np.divide(box_at(u, v), 2)], widths=W / 2, heights=H / 2)
    assert (right[0], ahead[0]) == pytest.approx((2.0, 10.0))


def test_a_pitched_camera_sees_its_principal_point_at_the_pitch_angle() -> None:
    camera = CameraModel(height_m=2.0, pitch_deg=10.0, horizon=0.2, focal_px=800.0)
    cy = 0.2 * 600 + 800 * math.tan(math.radians(10.0))  # the principal point's row
    right, ahead, reason = ground_offsets(
        [box_at(camera.principal_x * 1000, cy)], widths=1000, heights=600, camera=camera
    )
    assert reason[0] is None
    assert ahead[0] == pytest.approx(2.0 / math.tan(math.radians(10.0)))
    assert right[0] == pytest.approx(0.0, abs=1e-9)
    # The horizon row is still where it was said to be.
    _, _, reason = ground_offsets([box_at(500, 0.2 * 600)], widths=1000, heights=600, camera=camera)
    assert reason[0] == ABOVE_HORIZON


@pytest.mark.parametrize(
    ("heading", "azimuth"), [(0.0, 0.0), (90.0, 90.0), (180.0, 180.0), (270.0, 270.0)]
)
def test_the_heading_turns_the_offset(heading: float, azimuth: float) -> None:
    position = ground_position(
        *HELSINKI, heading_deg=heading, image_size=SIZE, box=box_at(CX, HORIZON + F * 1.7 / 8)
    )
    assert position.reason is None and position.distance_m == pytest.approx(8.0)
    assert moved(position) == pytest.approx((azimuth, 8.0), abs=1e-6)


def test_heading_east_moves_east() -> None:
    position = ground_position(
        *HELSINKI, heading_deg=90.0, image_size=SIZE, box=box_at(CX, HORIZON + F * 1.7 / 8)
    )
    assert position.longitude > HELSINKI[1]
    assert position.latitude == pytest.approx(HELSINKI[0], abs=1e-6)
    # Litter to the right of a vehicle driving east lies south of its path.
    right = ground_position(
        *HELSINKI, heading_deg=90.0, image_size=SIZE, box=box_at(CX + 200, HORIZON + F * 1.7 / 8)
    )
    assert right.latitude < HELSINKI[0] and right.longitude > HELSINKI[1]


@pytest.mark.parametrize(
    ("heading", "v", "reason"),
    [
        (None, H, NO_HEADING),
        (float("nan"), H, NO_HEADING),
        (0.0, HORIZON, ABOVE_HORIZON),  # the bottom of the box on the horizon
        (0.0, HORIZON - 50, ABOVE_HORIZON),  # in the sky
        (0.0, HORIZON + F * 1.7 / 41, TOO_FAR),  # 41 m away
    ],
)
def test_refusals_keep_the_camera_position_and_say_why(heading, v, reason) -> None:
    position = ground_position(*HELSINKI, heading_deg=heading, image_size=SIZE, box=box_at(CX, v))
    assert position.reason == reason
    assert (position.latitude, position.longitude) == HELSINKI
    assert math.isnan(position.distance_m)


def test_the_maximum_distance_is_part_of_the_camera_model() -> None:
    box = box_at(CX, HORIZON + F * 1.7 / 30)  # 30 m away
    near = CameraModel(max_distance_m=25.0)
    assert ground_position(*HELSINKI, heading_deg=0, image_size=SIZE, box=box).reason is None
    position = ground_position(*HELSINKI, heading_deg=0, image_size=SIZE, box=box, camera=near)
    assert position.reason == TOO_FAR


def test_object_positions_of_a_detection_frame() -> None:
    frame = pd.DataFrame(
        {
            "detection_id": [1, 2, 3],
            "latitude": [HELSINKI[0]] * 3,
            "longitude": [HELSINKI[1]] * 3,
            "heading_deg": [0.0, None, 0.0],  # a dash-cam frame, a phone close-up, a bad box
            "width": [W, 3000, W],
            "height": [H, 4000, H],
            "x1": [CX - 10, 1000, np.nan],
            "y1": [HORIZON + F * 1.7 / 10 - 12, 2500, np.nan],
            "x2": [CX + 10, 2000, np.nan],
            "y2": [HORIZON + F * 1.7 / 10, 3900, np.nan],
        }
    )
    out = object_positions(frame)
    assert out["position_reason"].tolist() == [None, NO_HEADING, NO_BOX]
    assert out["ground_distance_m"].iloc[0] == pytest.approx(10.0)
    assert out["ground_distance_m"].iloc[1:].isna().all()
    assert out["latitude"].iloc[0] > HELSINKI[0]
    kept_camera = out[["latitude", "longitude"]].iloc[1:].to_numpy()
    assert (kept_camera == np.asarray(HELSINKI)).all()
    assert (out[["camera_latitude", "camera_longitude"]].to_numpy() == np.asarray(HELSINKI)).all()
    assert list(frame["latitude"]) == [HELSINKI[0]] * 3  # the input is left as it was
    # No heading column at all: every row keeps its camera position.
    kept = object_positions(frame.drop(columns="heading_deg"))
    assert set(kept["position_reason"]) == {NO_HEADING}
    assert object_positions(frame.iloc[:0]).empty


@pytest.mark.parametrize(
    ("field", "value"),
    [("height_m", 0), ("hfov_deg", 180), ("horizon", 1.5), ("focal_px", -1), ("pitch_deg", 90)],
)
def test_impossible_cameras_are_named(field: str, value: float) -> None:
    with pytest.raises(SiteParameterError, match=f"camera {field}=.*WASTEMAP_CAMERA_"):
        CameraModel(**{field: value})
