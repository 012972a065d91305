"""Litter sites: the sightings of the same litter, in several frames or surveys, as one site.

A *sighting* is one detection: a category, a score, a capture time and a position (WGS84
degrees). Callers pass the estimated ground position of the object where it can be estimated
(:func:`analytics.ground.object_positions`: the ray through the bottom of its box met with the
road, from the camera's position, heading and model), and the position of the camera that took
the frame where it cannot (no heading, as for phone close-ups, or the box at or above the horizon
or too far away); these functions use whatever ``latitude``/``longitude`` they are given. Sightings
close to
each other whose categories are *compatible* (:data:`COMPATIBLE_CATEGORIES`: the detector confuses
plastic, paper, metal and glass, and a pile of mixed litter holds all of them, but a hazardous find
never merges into a pile of paper) are one site.

Clustering works in metres, in the local UTM zone:

1. a sighting joins the nearest *open* site of its category group whose centre is at most
   ``distance_m`` away (:func:`label_sightings` with ``sites``), so sites grow incrementally as
   batches land;
2. the remaining sightings are grouped by complete linkage with ``distance_m`` as the largest
   distance between two sightings of one site, so litter strewn along a street does not chain
   into one site a kilometre long.

With no existing sites the two steps are a plain clustering of everything (:func:`find_sites`).

A site is *cleared* when a later survey passed it (at least ``clear_min_images`` of its frames
within ``clear_radius_m``, all taken after the site was last seen) and saw nothing of it
(:func:`cleared_sites`).

Each site keeps first and last seen, sightings (distinct frames), surveys, categories and an
estimated amount in litres (:func:`summarise_sites`): objects per category, counted as the most
seen together in one frame, times a typical volume per object (:data:`CATEGORY_VOLUME_L`).

All functions are plain functions over data frames; the database layer (``db/sites.py``) stores
their results and ``pipeline/sites.py`` runs them as batches land.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyproj
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

# DEFAULT_DISTANCE_M lives in analytics.defaults (no imports) for the CLI's help; re-exported.
from analytics.defaults import DEFAULT_DISTANCE_M as DEFAULT_DISTANCE_M
from analytics.errors import InvalidCoordinatesError, SiteParameterError

__all__ = [
    "CATEGORY_VOLUME_L",
    "COMPATIBLE_CATEGORIES",
    "DEFAULT_DISTANCE_M",
    "SITE_COLUMNS",
    "SiteParams",
    "category_groups",
    "cleared_sites",
    "find_sites",
    "label_sightings",
    "metric_crs",
    "summarise_sites",
]

#: Category -> group; sightings merge into one site only within a group. Categories missing
#: here are groups of their own.
COMPATIBLE_CATEGORIES: Mapping[str, str] = {
    "plastic": "mixed",
    "paper": "mixed",
    "metal": "mixed",
    "glass": "mixed",
    "other": "mixed",
    "organic": "organic",
    "e-waste": "e-waste",
    "hazardous": "hazardous",
}

#: Typical volume in litres of one object of each category (a bottle, a crumpled box, a bag of
#: garden waste, a small appliance, a paint can); used for the estimated amount of a site.
CATEGORY_VOLUME_L: Mapping[str, float] = {
    "plastic": 2.0,
    "paper": 3.0,
    "metal": 1.0,
    "glass": 1.5,
    "organic": 10.0,
    "e-waste": 20.0,
    "hazardous": 5.0,
    "other": 5.0,
}
#: Volume in litres of one object of a category missing from the table.
FALLBACK_VOLUME_L = 5.0

#: Sightings are clustered by complete linkage in pieces of at most this many distinct
#: positions (the linkage needs memory quadratic in it).
_MAX_LINKAGE_POINTS = 3000

#: The columns of a site summary, in order.
SITE_COLUMNS: tuple[str, ...] = (
    "site",
    "category_group",
    "category",
    "categories",
    "category_counts",
    "latitude",
    "longitude",
    "radius_m",
    "first_seen_at",
    "last_seen_at",
    "sightings",
    "detections",
    "surveys",
    "survey_ids",
    "objects",
    "estimated_amount_l",
    "hazardous",
    "max_score",
)


@dataclass(frozen=True)
class SiteParams:
    """How sightings become sites and when a site counts as cleared.

    Parameters
    ----------
    distance_m : float
        Largest distance in metres between two sightings of one site, and from a new sighting
        to the centre of the site it joins.
    groups : mapping
        Category -> group of compatible categories (:data:`COMPATIBLE_CATEGORIES`).
    volume_l : mapping
        Category -> typical litres per object (:data:`CATEGORY_VOLUME_L`).
    min_score : float
        Detections scored below this are not sightings.
    clear_radius_m : float, optional
        A frame within this many metres of a site's centre looked at it; default
        ``distance_m``.
    clear_min_images : int
        Frames of one later survey that must have looked at a site, seeing nothing of it, for the
        site to count as cleared.
    """

    distance_m: float = DEFAULT_DISTANCE_M
    groups: Mapping[str, str] = field(default_factory=lambda: dict(COMPATIBLE_CATEGORIES))
    volume_l: Mapping[str, float] = field(default_factory=lambda: dict(CATEGORY_VOLUME_L))
    min_score: float = 0.0
    clear_radius_m: float | None = None
    clear_min_images: int = 2

    def __post_init__(self) -> None:
        if not (np.isfinite(self.distance_m) and self.distance_m > 0):
            raise SiteParameterError(
                f"site distance {self.distance_m!r} m: give a positive number of metres "
                f"(default {DEFAULT_DISTANCE_M:g})"
            )
        if self.clear_radius_m is not None and not self.clear_radius_m > 0:
            raise SiteParameterError(
                f"clear radius {self.clear_radius_m!r} m: give a positive number of metres"
            )
        if self.clear_min_images < 1:
            raise SiteParameterError(
                f"clear_min_images={self.clear_min_images}: at least one frame must pass a site"
            )
        if not 0.0 <= self.min_score <= 1.0:
            raise SiteParameterError(f"min_score={self.min_score!r}: give a score in [0, 1]")

    @property
    def clear_radius(self) -> float:
        """``clear_radius_m``, or ``distance_m`` when it is not set (metres)."""
        return float(self.clear_radius_m if self.clear_radius_m is not None else self.distance_m)


def category_groups(
    categories: Any, *, groups: Mapping[str, str] = COMPATIBLE_CATEGORIES
) -> np.ndarray:
    """The compatibility group of each category (a category missing from ``groups`` is its own)."""
    return np.asarray([groups.get(str(c), str(c)) for c in np.atleast_1d(categories)], dtype=object)


def metric_crs(lons: Any, lats: Any) -> pyproj.CRS:
    """The WGS 84 / UTM zone (metres) around the mean of ``lons``/``lats`` (degrees)."""
    from analytics.network import utm_crs_for

    lon = float(np.nanmean(np.asarray(lons, dtype=float)))
    lat = float(np.nanmean(np.asarray(lats, dtype=float)))
    return utm_crs_for(lon, lat)


def _project(crs: pyproj.CRS, lons: Any, lats: Any) -> np.ndarray:
    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


# --------------------------------------------------------------------------------------------
# Labelling sightings


def label_sightings(
    sightings: pd.DataFrame,
    sites: pd.DataFrame | None = None,
    *,
    params: SiteParams | None = None,
) -> np.ndarray:
    """The site of each sighting: an existing one it joins, or a new one.

    Parameters
    ----------
    sightings : pandas.DataFrame
        One row per detection with ``latitude``, ``longitude`` (degrees, EPSG:4326) and
        ``category``; ``captured_at`` and ``survey_id`` when ``sites`` holds cleared sites.
    sites : pandas.DataFrame, optional
        Sites the sightings may join: ``site`` (an integer id >= 0), ``latitude``,
        ``longitude``, ``category_group``, and optionally ``status``, ``cleared_at`` and
        ``cleared_by_survey_id``. A cleared site takes only sightings captured before it was
        cleared, or by the survey that cleared it (that survey saw it after all).
    params : SiteParams, optional
        Distance and category groups; default :class:`SiteParams`.

    Returns
    -------
    numpy.ndarray of int
        One label per sighting, in input order: the ``site`` id it joins (>= 0), or -1, -2, ...
        for the new sites the remaining sightings form (numbered in order of first appearance).
    """
    params = params or SiteParams()
    n = len(sightings)
    labels = np.zeros(n, dtype=np.int64)
    if n == 0:
        return labels
    _check_positions(sightings, "sightings")
    lons = sightings["longitude"].to_numpy(dtype=float)
    lats = sightings["latitude"].to_numpy(dtype=float)
    have_sites = sites is not None and len(sites) > 0
    crs = metric_crs(
        np.concatenate([lons, sites["longitude"].to_numpy(float)]) if have_sites else lons,
        np.concatenate([lats, sites["latitude"].to_numpy(float)]) if have_sites else lats,
    )
    xy = _project(crs, lons, lats)
    group = category_groups(sightings["category"].to_numpy(), groups=params.groups)
    joined = np.full(n, -1, dtype=np.int64)
    if have_sites:
        assert sites is not None
        joined = _join_existing(sightings, xy, group, sites, crs, params.distance_m)
    labels[:] = joined
    rest = np.flatnonzero(joined < 0)
    offset = 0
    for g in sorted(set(group[rest])):
        members = rest[group[rest] == g]
        clusters = _complete_linkage(xy[members], params.distance_m)
        labels[members] = -(clusters + offset) - 1
        offset += int(clusters.max()) + 1
    return _renumber_new(labels)


def _renumber_new(labels: np.ndarray) -> np.ndarray:
    """New sites numbered -1, -2, ... in order of their first sighting in the input."""
    out = labels.copy()
    mapping: dict[int, int] = {}
    for i, label in enumerate(labels):
        if label < 0:
            if label not in mapping:
                mapping[int(label)] = -(len(mapping) + 1)
            out[i] = mapping[int(label)]
    return out


def _check_positions(frame: pd.DataFrame, what: str) -> None:
    for column in ("latitude", "longitude", "category"):
        if column not in frame.columns:
            raise SiteParameterError(f"{what} have no {column!r} column; pass detection rows")
    lat = frame["latitude"].to_numpy(dtype=float)
    lon = frame["longitude"].to_numpy(dtype=float)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidCoordinatesError(
            f"{what} row {i} has latitude={float(lat[i])!r}, longitude={float(lon[i])!r}: give "
            "WGS84 degrees "
            "(latitude in [-90, 90], longitude in [-180, 180])"
        )


def _join_existing(
    sightings: pd.DataFrame,
    xy: np.ndarray,
    group: np.ndarray,
    sites: pd.DataFrame,
    crs: pyproj.CRS,
    distance_m: float,
) -> np.ndarray:
    """For each sighting, the id of the nearest open site of its group within ``distance_m``."""
    joined = np.full(len(sightings), -1, dtype=np.int64)
    site_xy = _project(crs, sites["longitude"], sites["latitude"])
    site_ids = sites["site"].to_numpy(dtype=np.int64)
    site_group = np.asarray(sites["category_group"].astype(str), dtype=object)
    cleared_at = _utc(sites["cleared_at"]) if "cleared_at" in sites else None
    cleared_by = (
        sites["cleared_by_survey_id"].to_numpy() if "cleared_by_survey_id" in sites else None
    )
    is_cleared = (
        (sites["status"].astype(str) == "cleared").to_numpy()
        if "status" in sites
        else np.zeros(len(sites), dtype=bool)
    )
    captured = _utc(sightings["captured_at"]) if "captured_at" in sightings else None
    survey = sightings["survey_id"].to_numpy() if "survey_id" in sightings else None
    for g in set(group):
        mine = np.flatnonzero(group == g)
        theirs = np.flatnonzero(site_group == g)
        if len(theirs) == 0:
            continue
        tree = cKDTree(site_xy[theirs])
        k = min(len(theirs), 8)
        dist, nearest = tree.query(xy[mine], k=k, distance_upper_bound=distance_m)
        dist = dist.reshape(len(mine), k)
        nearest = nearest.reshape(len(mine), k)
        for row, i in enumerate(mine):
            for d, j in zip(dist[row], nearest[row], strict=True):
                if not np.isfinite(d):
                    break
                s = theirs[j]
                if is_cleared[s] and not _may_join_cleared(
                    i, s, captured, survey, cleared_at, cleared_by
                ):
                    continue
                joined[i] = site_ids[s]
                break
    return joined


def _may_join_cleared(
    i: int,
    s: int,
    captured: pd.Series | None,
    survey: np.ndarray | None,
    cleared_at: pd.Series | None,
    cleared_by: np.ndarray | None,
) -> bool:
    """Whether sighting ``i`` belongs to cleared site ``s``: it was captured before the site
    was cleared, or by the very survey that cleared it."""
    if survey is not None and cleared_by is not None and survey[i] == cleared_by[s]:
        return True
    if captured is None or cleared_at is None:
        return False
    when, until = captured.iloc[i], cleared_at.iloc[s]
    return bool(pd.notna(when) and pd.notna(until) and when < until)


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def _utc_naive(series: pd.Series) -> np.ndarray:
    """UTC times as a plain ``datetime64[ns]`` array (fast to index and compare)."""
    return _utc(series).dt.tz_convert(None).to_numpy("datetime64[ns]")


def _complete_linkage(xy: np.ndarray, distance_m: float) -> np.ndarray:
    """Cluster labels (0..k-1) such that no two points of a cluster are farther apart than
    ``distance_m``: connected pieces first, then complete linkage inside each."""
    n = len(xy)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    # Distinct positions (many detections share their frame's position), to the centimetre.
    keys, inverse = np.unique(np.round(xy, 2), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    m = len(keys)
    pairs = cKDTree(keys).query_pairs(distance_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, piece = connected_components(graph, directed=False)
    point_label = np.empty(m, dtype=np.int64)
    next_label = 0
    for p in np.unique(piece):
        members = np.flatnonzero(piece == p)
        for chunk in _chunks_along_x(keys, members):
            if len(chunk) == 1:
                point_label[chunk] = next_label
                next_label += 1
                continue
            tree = linkage(keys[chunk], method="complete")
            sub = fcluster(tree, t=distance_m, criterion="distance")
            point_label[chunk] = sub - 1 + next_label
            next_label += int(sub.max())
    return point_label[inverse]


def _chunks_along_x(points: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    if len(members) <= _MAX_LINKAGE_POINTS:
        return [members]
    ordered = members[np.argsort(points[members, 0], kind="stable")]
    return [
        ordered[i : i + _MAX_LINKAGE_POINTS] for i in range(0, len(ordered), _MAX_LINKAGE_POINTS)
    ]


# --------------------------------------------------------------------------------------------
# Summaries


def summarise_sites(sightings: pd.DataFrame, *, params: SiteParams | None = None) -> pd.DataFrame:
    """One row per site from all of its sightings.

    Parameters
    ----------
    sightings : pandas.DataFrame
        Every sighting of the sites to summarise: ``site``, ``latitude``, ``longitude``,
        ``category``, ``score``, and when present ``captured_at``, ``image_id``
        (frames; default one per row), ``model_version_id``, ``survey_id``.
    params : SiteParams, optional
        Category groups and volumes per object.

    Returns
    -------
    pandas.DataFrame
        :data:`SITE_COLUMNS`: the centre (mean position of the sightings, degrees),
        ``radius_m`` (farthest sighting from the centre), ``first_seen_at``/``last_seen_at``
        (UTC), ``sightings`` (distinct frames), ``detections``, ``surveys`` and
        ``survey_ids``, ``categories`` (most seen first) and ``category_counts`` (objects per
        category), ``category`` (the most seen), ``objects`` (for each category the most seen
        together in one frame, summed), ``estimated_amount_l`` (objects times
        :data:`CATEGORY_VOLUME_L`), ``hazardous`` and ``max_score``.
    """
    params = params or SiteParams()
    if len(sightings) == 0:
        return pd.DataFrame(columns=list(SITE_COLUMNS))
    frame = sightings.copy()
    if "image_id" not in frame:
        frame["image_id"] = np.arange(len(frame))
    if "model_version_id" not in frame:
        frame["model_version_id"] = 0
    if "survey_id" not in frame:
        frame["survey_id"] = 0
    if "captured_at" not in frame:
        frame["captured_at"] = pd.NaT
    frame["captured_at"] = _utc(frame["captured_at"])
    frame["category"] = frame["category"].astype(str)
    crs = metric_crs(frame["longitude"], frame["latitude"])
    xy = _project(crs, frame["longitude"], frame["latitude"])
    frame["_x"], frame["_y"] = xy[:, 0], xy[:, 1]

    per_frame = (
        frame.groupby(["site", "image_id", "model_version_id", "category"], sort=False)
        .size()
        .rename("n")
        .reset_index()
    )
    objects = per_frame.groupby(["site", "category"], sort=False)["n"].max().reset_index()
    rows = []
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    objects_by_site = {s: g for s, g in objects.groupby("site", sort=False)}
    for site, group in frame.groupby("site", sort=True):
        cx, cy = float(group["_x"].mean()), float(group["_y"].mean())
        lon, lat = to_lonlat.transform(cx, cy)
        counts_frame = objects_by_site[site].sort_values(["n", "category"], ascending=[False, True])
        counts = {
            str(c): int(n) for c, n in zip(counts_frame["category"], counts_frame["n"], strict=True)
        }
        seen = group["captured_at"].dropna()
        survey_ids = sorted({int(s) for s in group["survey_id"].dropna()})
        amount = sum(n * params.volume_l.get(c, FALLBACK_VOLUME_L) for c, n in counts.items())
        radius = float(np.hypot(group["_x"] - cx, group["_y"] - cy).max())
        rows.append(
            {
                "site": site,
                "category_group": str(
                    category_groups([next(iter(counts))], groups=params.groups)[0]
                ),
                "category": next(iter(counts)),
                "categories": list(counts),
                "category_counts": counts,
                "latitude": float(lat),
                "longitude": float(lon),
                "radius_m": round(radius, 2),
                "first_seen_at": seen.min() if len(seen) else pd.NaT,
                "last_seen_at": seen.max() if len(seen) else pd.NaT,
                "sightings": int(group["image_id"].nunique()),
                "detections": len(group),
                "surveys": len(survey_ids),
                "survey_ids": survey_ids,
                "objects": int(sum(counts.values())),
                "estimated_amount_l": round(float(amount), 2),
                "hazardous": "hazardous" in counts,
                "max_score": float(group["score"].max()) if "score" in group else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(SITE_COLUMNS))


def find_sites(
    sightings: pd.DataFrame, *, params: SiteParams | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Cluster ``sightings`` into sites from scratch (no existing sites).

    Returns
    -------
    labels : numpy.ndarray of int
        The site of each sighting, 0..k-1 in order of first appearance.
    sites : pandas.DataFrame
        :func:`summarise_sites` of them, ``site`` being the label.
    """
    params = params or SiteParams()
    labels = -label_sightings(sightings, params=params) - 1
    frame = sightings.assign(site=labels)
    return labels, summarise_sites(frame, params=params)


# --------------------------------------------------------------------------------------------
# Clearing


def cleared_sites(
    sites: pd.DataFrame,
    images: pd.DataFrame,
    *,
    params: SiteParams | None = None,
) -> pd.DataFrame:
    """Sites that a later survey passed without seeing them.

    Parameters
    ----------
    sites : pandas.DataFrame
        ``site``, ``latitude``, ``longitude``, ``last_seen_at`` and ``survey_ids`` (the
        surveys that saw the site).
    images : pandas.DataFrame
        Frames that may have passed them: ``survey_id``, ``captured_at``, ``latitude``,
        ``longitude`` (every frame, also those with no detection).
    params : SiteParams, optional
        ``clear_radius`` and ``clear_min_images``.

    Returns
    -------
    pandas.DataFrame
        ``site``, ``cleared_at`` (the first frame of the clearing survey that looked at the site
        after it was last seen) and ``cleared_by_survey_id``, for each site that at least
        ``clear_min_images`` frames of one survey that never saw it looked at, all taken after
        the site was last seen. The earliest such survey clears the site.
    """
    params = params or SiteParams()
    columns = ["site", "cleared_at", "cleared_by_survey_id"]
    if len(sites) == 0 or len(images) == 0:
        return pd.DataFrame(columns=columns)
    crs = metric_crs(
        np.concatenate([sites["longitude"].to_numpy(float), images["longitude"].to_numpy(float)]),
        np.concatenate([sites["latitude"].to_numpy(float), images["latitude"].to_numpy(float)]),
    )
    site_xy = _project(crs, sites["longitude"], sites["latitude"])
    image_xy = _project(crs, images["longitude"], images["latitude"])
    # every (site, frame) pair within the radius, as two index arrays
    near = cKDTree(site_xy).sparse_distance_matrix(
        cKDTree(image_xy), params.clear_radius, output_type="ndarray"
    )
    passes = pd.DataFrame(
        {
            "s": near["i"],
            "survey": images["survey_id"].to_numpy(np.int64)[near["j"]],
            "at": _utc_naive(images["captured_at"])[near["j"]],
        }
    )
    # frames taken after the site was last seen (never, for a site with no time: NaT compares
    # false), by surveys that did not see it
    last_seen = _utc_naive(sites["last_seen_at"])
    passes = passes[passes["at"] > last_seen[passes["s"].to_numpy()]]
    seen = pd.DataFrame(
        {"s": np.arange(len(sites)), "survey": sites["survey_ids"].to_numpy()}
    ).explode("survey")
    seen = seen.dropna().astype({"survey": np.int64}).assign(seen=True)
    passes = passes.merge(seen, on=["s", "survey"], how="left")
    passes = passes[passes["seen"].isna()]
    per_survey = passes.groupby(["s", "survey"])["at"].agg(["size", "min"]).reset_index()
    enough = per_survey[per_survey["size"] >= params.clear_min_images]
    # the earliest such survey clears the site (the lower id on a tie)
    first = enough.sort_values(["s", "min", "survey"]).drop_duplicates("s")
    return pd.DataFrame(
        {
            "site": sites["site"].to_numpy()[first["s"].to_numpy()],
            "cleared_at": first["min"].dt.tz_localize("UTC"),
            "cleared_by_survey_id": first["survey"].astype(int),
        },
        columns=columns,
    ).reset_index(drop=True)
