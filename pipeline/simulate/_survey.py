"""The sample survey: frames planned along the drive, rendered on a few threads, written
with their EXIF, labels and ground truth.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np

from pipeline.simulate._camera import _Camera
from pipeline.simulate._files import (
    _exif,
    _prepare,
    _write_data_yaml,
    _write_ground_truth,
    _write_yolo_labels,
)
from pipeline.simulate._frame import _render_frame
from pipeline.simulate._noise import _seed_of
from pipeline.simulate._results import DEFAULT_START, LitterBox, SampleSurvey, SurveyFrame
from pipeline.simulate._route import (
    _GEOD,
    _plan_route,
    _sample_route,
    _speed_kmh,
    _street_name,
    _view_at,
)
from pipeline.simulate._scene import _street_style, _StreetStyle, _View, _Weather
from pipeline.simulate._street import _Textures

_ALTITUDE_M = 12.0  # central Helsinki is 5-20 m above sea level


@dataclass(frozen=True)
class _FrameJob:
    """Everything one frame needs, small enough to send to another process."""

    index: int
    seed: int
    cam: _Camera
    style: _StreetStyle
    view: _View
    weather: _Weather
    litter_mean: float
    exif: bytes
    jpeg_quality: int


@functools.lru_cache(maxsize=4)
def _textures(seed: int) -> _Textures:
    return _Textures(_seed_of("textures", seed))


def _render_job(job: _FrameJob) -> tuple[bytes, list[LitterBox]]:
    rng = np.random.default_rng([job.seed, 1, job.index])
    tex = _textures(job.seed)
    image, boxes = _render_frame(
        job.cam, job.style, job.view, job.weather, tex, rng, job.litter_mean
    )
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=job.jpeg_quality, exif=job.exif)
    return buf.getvalue(), boxes


def _on_the_ground(
    boxes: list[LitterBox], lat: float, lon: float, heading_deg: float
) -> list[LitterBox]:
    """``boxes`` with their true latitude and longitude: the street ahead of a frame is drawn
    straight along its heading, from its GPS position on the street's centre line."""
    out = []
    for box in boxes:
        if box.offset_m is None:
            out.append(box)
            continue
        right, ahead = box.offset_m
        azimuth = heading_deg + math.degrees(math.atan2(right, ahead))
        box_lon, box_lat, _ = _GEOD.fwd(lon, lat, azimuth, math.hypot(right, ahead))
        out.append(dataclasses.replace(box, lat=float(box_lat), lon=float(box_lon)))
    return out


def _run_jobs(
    jobs: list[_FrameJob], workers: int | None
) -> Iterator[tuple[bytes, list[LitterBox]]]:
    """Render the frames in order, on a few threads (numpy and Pillow release the GIL)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    if workers <= 1 or len(jobs) < 2:
        yield from map(_render_job, jobs)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="wastemap-simulate") as pool:
        yield from pool.map(_render_job, jobs)


# --------------------------------------------------------------------------------------------
# Public API


def build_sample_survey(
    out_dir: str | Path,
    *,
    frames: int = 40,
    spacing_m: float = 10.0,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    size: tuple[int, int] = (1280, 720),
    graph: nx.MultiDiGraph | None = None,
    litter_per_frame: float = 1.8,
    jpeg_quality: int = 90,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSurvey:
    """Render a SIMULATED survey drive through central Helsinki with litter ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write to (created): ``images/``, ``labels/``, ``data.yaml``,
        ``ground_truth.json``. Files of an earlier run with the same names are replaced.
    frames : int
        Number of frames.
    spacing_m : float
        Metres driven between consecutive frames, measured along the route.
    seed : int
        Seeds the route, the scenes and the litter; the same arguments give the same files.
    start : datetime
        Capture time of the first frame; must be timezone-aware.
    size : (int, int)
        Image width and height in pixels.
    graph : networkx.MultiDiGraph, optional
        A road network from :func:`analytics.network.load_road_network`; default: the bundled
        Helsinki extract (parsed once, then cached).
    litter_per_frame : float
        Mean number of litter objects placed in a frame (Poisson).
    jpeg_quality : int
        JPEG quality, 1-95.
    workers : int, optional
        Threads rendering frames at once (numpy and Pillow release the GIL). Default: the CPU
        count, at most 4. The files do not depend on it.
    progress : callable, optional
        Called as ``progress(frames_done, frames)`` after each frame.

    Returns
    -------
    SampleSurvey
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if not spacing_m > 0:
        raise ValueError(f"spacing_m must be positive metres, got {spacing_m}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(
            f"start must be timezone-aware, got {start.isoformat()}; e.g. "
            "datetime(2024, 5, 14, 9, 30, tzinfo=ZoneInfo('Europe/Helsinki'))"
        )
    if size[0] < 160 or size[1] < 90:
        raise ValueError(f"size must be at least 160 x 90 pixels, got {size}")
    if graph is None:
        from analytics.network import load_road_network

        graph = load_road_network()
    root, images_dir, labels_dir = _prepare(out_dir)
    survey_rng = np.random.default_rng([seed, 0])
    offset_m = 5.0
    route = _plan_route(graph, offset_m + (frames - 1) * spacing_m + 1.0, survey_rng)
    distances = offset_m + spacing_m * np.arange(frames, dtype=float)
    lons, lats, headings, edge_idx = _sample_route(route, distances)
    weather = _Weather.draw(survey_rng)
    cam = _Camera.for_size(size)
    styles: dict[int, _StreetStyle] = {}
    when = start
    jobs: list[_FrameJob] = []
    meta: list[tuple[datetime, str | None]] = []
    for i in range(frames):
        data = route.edges[int(edge_idx[i])]
        style = styles.setdefault(id(data), _street_style(data, seed))
        if i > 0:
            speed = _speed_kmh(route.edges[int(edge_idx[i - 1])], seed)
            when = when + timedelta(milliseconds=round(spacing_m / (speed / 3.6) * 1000))
        street = _street_name(data)
        description = (
            f"SIMULATED WasteMap sample survey frame {i + 1} of {frames}"
            f"{f' on {street}' if street else ''}, Helsinki: rendered image with synthetic litter, "
            "not a photograph"
        )
        exif = _exif(
            description=description,
            when=when,
            lat=float(lats[i]),
            lon=float(lons[i]),
            altitude_m=_ALTITUDE_M,
            heading_deg=float(headings[i]),
            speed_kmh=_speed_kmh(data, seed),
        )
        view = _view_at(route, float(distances[i]), float(headings[i]))
        jobs.append(
            _FrameJob(
                i, seed, cam, style, view, weather, litter_per_frame, exif.tobytes(), jpeg_quality
            )
        )
        meta.append((when, street))
    out: list[SurveyFrame] = []
    for i, (jpeg, rendered) in enumerate(_run_jobs(jobs, workers)):
        boxes = _on_the_ground(rendered, float(lats[i]), float(lons[i]), float(headings[i]))
        name = f"frame_{i:04d}"
        path = images_dir / f"{name}.jpg"
        path.write_bytes(jpeg)
        _write_yolo_labels(labels_dir / f"{name}.txt", boxes, size)
        out.append(
            SurveyFrame(
                file=path,
                lat=float(lats[i]),
                lon=float(lons[i]),
                captured_at=meta[i][0],
                heading_deg=float(headings[i]),
                distance_m=float(distances[i]),
                street=meta[i][1],
                boxes=tuple(boxes),
            )
        )
        if progress is not None:
            progress(i + 1, frames)
    _write_data_yaml(root / "data.yaml", "sample survey frames")
    survey = SampleSurvey(
        out_dir=root,
        images_dir=images_dir,
        labels_dir=labels_dir,
        data_yaml=root / "data.yaml",
        ground_truth_json=root / "ground_truth.json",
        frames=tuple(out),
        route_length_m=float(distances[-1] - distances[0]),
        seed=seed,
    )
    _write_ground_truth(survey, graph, spacing_m, size, weather)
    return survey
