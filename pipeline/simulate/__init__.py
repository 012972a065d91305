"""The sample survey: a SIMULATED vehicle drive with rendered street images and litter.

Nothing here is a photograph. :func:`build_sample_survey` drives a virtual survey vehicle along
real streets of central Helsinki (the road network from :mod:`analytics.network`), takes a frame
every ``spacing_m`` metres, renders a street-level image for it (sky, facades with windows, road
with lane markings in perspective, kerbs and sidewalks, lamp posts, litter on the ground) and
writes:

``images/frame_NNNN.jpg``
    JPEGs with EXIF GPS (latitude, longitude, altitude, image direction), capture time with its
    UTC offset, Make ``WasteMap``, Model ``Simulated survey camera`` and an ImageDescription that
    starts with ``SIMULATED``;
``labels/frame_NNNN.txt`` and ``data.yaml``
    the litter boxes as a YOLO dataset, classes in the order of the trash-filter data set
    (:data:`CLASSES`);
``ground_truth.json``
    the camera model, and per frame: file, lat, lon, captured_at, heading, street and boxes
    with their class, distance from the camera and the litter's true lat, lon.

:func:`render_litter_closeups` renders 416 x 416 close-ups of the same litter models on asphalt,
grass, soil, paving, gravel or sand, like the trash-filter photos, as extra training data.

Everything is seeded: the same arguments give byte-identical files.

The package, one concern a module:

``_results``
    the public dataclasses, :data:`CLASSES` and the names written into every file;
``_noise``
    hash-based value noise, fBm, blurs and box-filtered stripes;
``_litter``
    the litter models (bottle, can, cup, crumple, board, clamshell, mask) and the random choice
    of one for a class;
``_sprite``
    shading a model, its transparency and cast shadow, compositing it onto a scene;
``_camera``
    the pinhole camera and the sensor's finish;
``_scene``, ``_street``, ``_cars``, ``_frame``
    weather and street style; the street rendered per pixel; parked cars; a whole frame with
    its litter and labels;
``_route``
    the drive along the road graph: route, positions, headings, speeds;
``_files``
    EXIF, YOLO labels, ``data.yaml``, ``ground_truth.json``;
``_survey``, ``_closeups``
    :func:`build_sample_survey` and :func:`render_litter_closeups`.
"""

from __future__ import annotations

from pipeline.simulate._closeups import render_litter_closeups
from pipeline.simulate._results import (
    CAMERA_MAKE,
    CAMERA_MODEL,
    CLASSES,
    DEFAULT_START,
    SIMULATED_NOTE,
    CloseupSet,
    LitterBox,
    SampleSurvey,
    SurveyFrame,
)
from pipeline.simulate._survey import build_sample_survey

__all__ = [
    "CAMERA_MAKE",
    "CAMERA_MODEL",
    "CLASSES",
    "DEFAULT_START",
    "SIMULATED_NOTE",
    "CloseupSet",
    "LitterBox",
    "SampleSurvey",
    "SurveyFrame",
    "build_sample_survey",
    "render_litter_closeups",
]
