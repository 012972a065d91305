"""Litter sites from synthetic sightings whose ground truth is known (no database)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidCoordinatesError, SiteParameterError
from analytics.sites import (
    CATEGORY_VOLUME_L,
    SiteParams,
    cleared_sites,
    find_sites,
    label_sightings,
    summarise_sites,
)

ORIGIN = (60.1699, 24.9384)  # central Helsinki
M_PER_DEG = 111_320.0
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def to_lat_lon(x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = ORIGIN[0] + np.asarray(y_m) / M_PER_DEG
    lon = ORIGIN[1] + np.asarray(x_m) / (M_PER_DEG * math.cos(math.radians(ORIGIN[0])))
    return lat, lon


def sightings_of(
    objects: list[tuple[float, float, str]],
    *,
    seed: int = 0,
    noise_m: float = 2.5,
    survey_id: int = 1,
    start: dt.datetime = START,
    first_image: int = 0,
) -> pd.DataFrame:
    """Each object (x, y metres from ORIGIN, category) seen from a passing vehicle: 3 to 8
    frames taken 15 m to 2 m before it along a random heading, with GPS noise. A mixed-litter
    object is detected as plastic in some frames and paper in others (a detector confusion)."""
    rng = np.random.default_rng(seed)
    rows = []
    image = first_image
    for k, (x, y, category) in enumerate(objects):
        heading = rng.uniform(0, 2 * math.pi)
        frames = int(rng.integers(3, 9))
        for f, back in enumerate(np.linspace(15.0, 2.0, frames)):
            cx = x - back * math.cos(heading) + rng.normal(0, noise_m)
            cy = y - back * math.sin(heading) + rng.normal(0, noise_m)
            lat, lon = to_lat_lon(np.array([cx]), np.array([cy]))
            seen = category
            if category == "plastic" and f % 3 == 1:
                seen = "paper"
            for _ in range(1 + (f % 2)):  # sometimes two boxes of it in one frame
                rows.append(
                    {
                        "detection_id": len(rows) + 1,
                        "image_id": image,
                        "survey_id": survey_id,
                        "category": seen,
                        "score": 0.9,
                        "captured_at": start + dt.timedelta(minutes=10 * k, seconds=2 * f),
                        "latitude": float(lat[0]),
                        "longitude": float(lon[0]),
                        "truth": k,
                    }
                )
            image += 1
    return pd.DataFrame(rows)


def grid_objects(n: int, spacing_m: float = 90.0, category: str = "plastic") -> list:
    return [((k % 5) * spacing_m, (k // 5) * spacing_m, category) for k in range(n)]


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


def test_known_objects_become_exactly_n_sites() -> None:
    objects = grid_objects(12)
    objects.append((0.0, 0.0, "hazardous"))  # a battery beside the first pile: its own site
    objects.append((185.0, 95.0, "organic"))
    sightings = sightings_of(objects, seed=3)
    labels, sites = find_sites(sightings)
    assert len(sites) == len(objects) == 14
    assert same_partition(labels, sightings["truth"].to_numpy())
    assert sorted(sites["site"]) == list(range(14))
    hazardous = sites[sites["hazardous"]]
    assert len(hazardous) == 1 and hazardous["categories"].iloc[0] == ["hazardous"]


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_ground_truth_holds_for_other_seeds(seed: int) -> None:
    sightings = sightings_of(grid_objects(20, spacing_m=70.0), seed=seed)
    labels, sites = find_sites(sightings)
    assert len(sites) == 20
    assert same_partition(labels, sightings["truth"].to_numpy())


def test_incremental_landing_gives_the_same_sites() -> None:
    sightings = sightings_of(grid_objects(10), seed=4).sort_values("captured_at")
    sightings = sightings.reset_index(drop=True)
    site_of = np.full(len(sightings), -1)
    known = pd.DataFrame(columns=["site", "latitude", "longitude", "category_group"])
    next_id = 100
    for chunk in np.array_split(np.arange(len(sightings)), 7):  # batches land one by one
        part = sightings.iloc[chunk]
        labels = label_sightings(part, known)
        new = labels < 0
        ids = {label: next_id + i for i, label in enumerate(sorted(set(labels[new]), reverse=True))}
        next_id += len(ids)
        site_of[chunk] = [ids[x] if x < 0 else x for x in labels]
        done = sightings.iloc[: chunk[-1] + 1].assign(site=site_of[: chunk[-1] + 1])
        known = summarise_sites(done)[["site", "latitude", "longitude", "category_group"]]
    assert len(known) == 10
    assert same_partition(site_of, sightings["truth"].to_numpy())


def test_litter_along_a_street_does_not_chain_into_one_site() -> None:
    # A bottle every 8 m along 240 m of kerb, seen from the vehicle at each one.
    xs = np.arange(0.0, 240.0, 8.0)
    lat, lon = to_lat_lon(xs, np.zeros_like(xs))
    street = pd.DataFrame(
        {"latitude": lat, "longitude": lon, "category": "glass", "score": 0.8, "image_id": xs}
    )
    params = SiteParams(distance_m=30.0)
    labels, sites = find_sites(street, params=params)
    assert len(sites) >= 240 / 30.0
    for label in set(labels):
        members = xs[labels == label]
        assert members.max() - members.min() <= 30.0


def test_incompatible_categories_at_one_place_stay_apart() -> None:
    lat, lon = to_lat_lon(np.zeros(4), np.zeros(4))
    frame = pd.DataFrame(
        {
            "latitude": lat,
            "longitude": lon,
            "category": ["plastic", "metal", "e-waste", "hazardous"],
            "score": 0.9,
        }
    )
    labels, sites = find_sites(frame)
    assert labels.tolist() == [0, 0, 1, 2]
    assert sites["category_group"].tolist() == ["mixed", "e-waste", "hazardous"]


def test_summary_counts_first_last_seen_and_amount() -> None:
    lat, lon = to_lat_lon(np.array([0.0, 3.0, 6.0, 4.0]), np.zeros(4))
    frame = pd.DataFrame(
        {
            "site": 7,
            "image_id": [1, 1, 2, 3],
            "survey_id": [1, 1, 1, 2],
            "category": ["plastic", "plastic", "plastic", "paper"],
            "score": [0.5, 0.7, 0.9, 0.6],
            "captured_at": [
                START,
                START,
                START + dt.timedelta(seconds=5),
                START + dt.timedelta(days=7),
            ],
            "latitude": [lat[0], lat[1], lat[2], lat[3]],
            "longitude": [lon[0], lon[1], lon[2], lon[3]],
        }
    )
    site = summarise_sites(frame).iloc[0]
    assert site["site"] == 7
    assert site["sightings"] == 3 and site["detections"] == 4 and site["surveys"] == 2
    assert site["survey_ids"] == [1, 2]
    assert site["first_seen_at"] == pd.Timestamp(START)
    assert site["last_seen_at"] == pd.Timestamp(START + dt.timedelta(days=7))
    # two plastic objects seen together in frame 1, one paper object: 2 x 2 L + 1 x 3 L
    assert site["category_counts"] == {"plastic": 2, "paper": 1}
    assert site["categories"] == ["plastic", "paper"] and site["category"] == "plastic"
    assert site["objects"] == 3
    assert site["estimated_amount_l"] == pytest.approx(
        2 * CATEGORY_VOLUME_L["plastic"] + CATEGORY_VOLUME_L["paper"]
    )
    assert not site["hazardous"] and site["max_score"] == pytest.approx(0.9)
    assert site["radius_m"] == pytest.approx(3.25, abs=0.05)  # centre at 3.25 m


def _frames_past(x_m: float, y_m: float, *, survey_id: int, start: dt.datetime, n: int):
    xs = x_m + np.linspace(-12, 12, n)
    lat, lon = to_lat_lon(xs, np.full(n, y_m))
    return pd.DataFrame(
        {
            "image_id": np.arange(n) + 1000 * survey_id,
            "survey_id": survey_id,
            "captured_at": [start + dt.timedelta(seconds=2 * i) for i in range(n)],
            "latitude": lat,
            "longitude": lon,
        }
    )


def test_a_site_a_later_survey_does_not_see_is_cleared() -> None:
    objects = [(0.0, 0.0, "plastic"), (300.0, 0.0, "glass"), (0.0, 300.0, "paper")]
    sightings = sightings_of(objects, seed=8, survey_id=1)
    labels, sites = find_sites(sightings)
    sites = sites.sort_values("site").reset_index(drop=True)
    week = START + dt.timedelta(days=7)
    images = pd.concat(
        [
            _frames_past(0.0, 0.0, survey_id=2, start=week, n=6),  # cleaned up: not seen
            _frames_past(300.0, 0.0, survey_id=3, start=week, n=1),  # one glance is not enough
            _frames_past(0.0, 300.0, survey_id=1, start=START - dt.timedelta(days=1), n=6),
        ]
    )
    cleared = cleared_sites(sites, images)
    truth_of = dict(zip(labels, sightings["truth"], strict=True))
    assert [truth_of[s] for s in cleared["site"]] == [0]
    row = cleared.iloc[0]
    assert row["cleared_by_survey_id"] == 2 and row["cleared_at"] == pd.Timestamp(week)
    # The same survey seeing it after all keeps it open.
    seen_again = sites.assign(
        survey_ids=[[1, 2] if truth_of[s] == 0 else [1] for s in sites["site"]]
    )
    assert cleared_sites(seen_again, images).empty
    # Frames of a survey taken before the site was last seen say nothing.
    earlier = _frames_past(0.0, 0.0, survey_id=2, start=START - dt.timedelta(days=3), n=6)
    assert cleared_sites(sites, earlier).empty


def test_cleared_sites_match_a_brute_force_check() -> None:
    """Random sites, surveys and frames: each site against every frame, one by one."""
    rng = np.random.default_rng(3)
    n_sites, n_images = 60, 600
    sx, sy = rng.uniform(0, 400, n_sites), rng.uniform(0, 400, n_sites)
    ix, iy = rng.uniform(0, 400, n_images), rng.uniform(0, 400, n_images)
    hours = [dt.timedelta(hours=float(h)) for h in rng.uniform(0, 100, n_sites)]
    slat, slon = to_lat_lon(sx, sy)
    sites = pd.DataFrame(
        {
            "site": np.arange(n_sites) + 100,
            "latitude": slat,
            "longitude": slon,
            "last_seen_at": [START + h for h in hours],
            "survey_ids": [list(rng.choice(6, size=2, replace=False)) for _ in range(n_sites)],
        }
    )
    sites.loc[5, "last_seen_at"] = pd.NaT  # never dated: never cleared
    ilat, ilon = to_lat_lon(ix, iy)
    images = pd.DataFrame(
        {
            "survey_id": rng.integers(0, 6, n_images),
            "captured_at": [
                START + dt.timedelta(hours=float(h)) for h in rng.uniform(0, 200, n_images)
            ],
            "latitude": ilat,
            "longitude": ilon,
        }
    )
    params = SiteParams()
    expected = {}
    for s in range(n_sites):
        if pd.isna(sites["last_seen_at"][s]):
            continue
        passes: dict[int, list] = {}
        for i in range(n_images):
            survey = int(images["survey_id"][i])
            when = images["captured_at"][i]
            close = math.hypot(sx[s] - ix[i], sy[s] - iy[i]) <= params.clear_radius - 0.01
            far = math.hypot(sx[s] - ix[i], sy[s] - iy[i]) > params.clear_radius + 0.01
            assert close or far, "a frame on the radius: pick another seed"
            if close and when > sites["last_seen_at"][s] and survey not in sites["survey_ids"][s]:
                passes.setdefault(survey, []).append(when)
        enough = [(min(t), k) for k, t in passes.items() if len(t) >= params.clear_min_images]
        if enough:
            expected[int(sites["site"][s])] = min(enough)
    cleared = cleared_sites(sites, images, params=params)
    got = {int(r.site): (r.cleared_at, int(r.cleared_by_survey_id)) for r in cleared.itertuples()}
    assert got == expected
    assert 5 + 100 not in got and len(got) > 10


def test_cleared_site_takes_late_sightings_but_not_new_litter() -> None:
    lat, lon = to_lat_lon(np.array([0.0]), np.array([0.0]))
    known = pd.DataFrame(
        {
            "site": [5],
            "latitude": lat,
            "longitude": lon,
            "category_group": ["mixed"],
            "status": ["cleared"],
            "cleared_at": [pd.Timestamp(START + dt.timedelta(days=7))],
            "cleared_by_survey_id": [2],
        }
    )
    new = pd.DataFrame(
        {
            "latitude": [lat[0]] * 3,
            "longitude": [lon[0]] * 3,
            "category": ["plastic"] * 3,
            "survey_id": [1, 2, 3],
            "captured_at": [
                START + dt.timedelta(days=1),  # before the clean-up: a late upload
                START + dt.timedelta(days=7, seconds=30),  # the clearing survey, a later frame
                START + dt.timedelta(days=20),  # new litter at the same place
            ],
        }
    )
    assert label_sightings(new, known).tolist() == [5, 5, -1]


def test_bad_inputs_are_named() -> None:
    with pytest.raises(SiteParameterError, match="positive number of metres"):
        SiteParams(distance_m=0)
    with pytest.raises(SiteParameterError, match="min_score"):
        SiteParams(min_score=2)
    with pytest.raises(SiteParameterError, match="'category'"):
        label_sightings(pd.DataFrame({"latitude": [60.0], "longitude": [24.0]}))
    with pytest.raises(InvalidCoordinatesError, match="latitude=91"):
        label_sightings(pd.DataFrame({"latitude": [91.0], "longitude": [24.0], "category": ["x"]}))


def test_no_sightings_no_sites() -> None:
    empty = pd.DataFrame(columns=["latitude", "longitude", "category"])
    labels, sites = find_sites(empty)
    assert len(labels) == 0 and sites.empty
