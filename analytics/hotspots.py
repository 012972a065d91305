"""Where litter accumulates: Getis-Ord Gi* hotspots over H3 cells, and the worst streets.

Plain functions over data frames (the caller queries the database and passes the counts in).
H3 cells are hexagons; at resolution 9 a cell's edge is ~175 m and its area ~0.1 km². Two cells
are neighbours when one lies within ``k_ring`` rings of the other (``h3.grid_disk``).

Gi* (Getis & Ord 1992, Ord & Getis 1995) compares the sum of a value over a cell and its
neighbours with what the whole study area would give at random; a large positive z-score with a
small pseudo p-value (from conditional permutations, PySAL ``esda.G_Local``) marks a hot spot,
a large negative one a cold spot.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import h3
import numpy as np
import pandas as pd

__all__ = [
    "NotEnoughCellsError",
    "cell_neighbours",
    "getis_ord_hotspots",
    "top_streets",
]

#: Labels of :func:`getis_ord_hotspots`' ``hotspot`` column.
HOT, COLD, NOT_SIGNIFICANT = "hot spot", "cold spot", "not significant"


class NotEnoughCellsError(ValueError):
    """Too few surveyed cells, or no variation among them, for a hotspot statistic."""


def cell_neighbours(cells: list[str], *, k_ring: int = 1) -> dict[str, list[str]]:
    """Each cell's neighbours among ``cells``: the other cells within ``k_ring`` rings."""
    present = set(cells)
    return {
        cell: sorted(n for n in h3.grid_disk(cell, k_ring) if n != cell and n in present)
        for cell in cells
    }


def getis_ord_hotspots(
    cells: pd.DataFrame,
    *,
    value: str = "detections",
    per: str | None = None,
    k_ring: int = 1,
    permutations: int = 999,
    alpha: float = 0.05,
    fdr: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Getis-Ord Gi* for every cell of ``cells``.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per surveyed H3 cell (all of one resolution): ``cell`` and the ``value`` column,
        zero where nothing was found (e.g. ``db.map_queries.hotspot_input``).
    value : str
        The column to test, e.g. ``"detections"``.
    per : str, optional
        Divide ``value`` by this column first (e.g. ``"images"``: detections per photo, so a
        street photographed twice as often does not look twice as dirty).
    k_ring : int
        Neighbourhood size in H3 rings (1: the six adjacent cells).
    permutations : int
        Conditional permutations for the pseudo p-values.
    alpha : float
        Significance level.
    fdr : bool
        Control the false discovery rate across cells (Benjamini-Hochberg, ``esda.fdr``)
        instead of testing each cell at ``alpha``.
    seed : int
        Seed of the permutations, so a page shows the same result on every rerun.

    Returns
    -------
    pandas.DataFrame
        ``cells`` with ``rate`` (the tested value), ``z`` (Gi* z-score), ``p`` (pseudo p-value,
        one-sided, from the permutations), ``hotspot`` (``"hot spot"``, ``"cold spot"`` or
        ``"not significant"``) and ``latitude``/``longitude`` of the cell centre (degrees).
    """
    from esda.getisord import G_Local
    from libpysal.weights import W

    frame = cells.reset_index(drop=True).copy()
    if len(frame) < 5:
        raise NotEnoughCellsError(
            f"hotspots need at least 5 surveyed cells, got {len(frame)}; widen the filters or "
            "choose a finer H3 resolution"
        )
    rate = frame[value].astype(float)
    if per is not None:
        rate = rate / frame[per].astype(float).where(frame[per] > 0)
        rate = rate.fillna(0.0)
    frame["rate"] = rate
    if float(np.nanstd(rate.to_numpy())) == 0.0:
        raise NotEnoughCellsError(
            "every surveyed cell has the same value, so no cell stands out; widen the filters"
        )
    neighbours = cell_neighbours(frame["cell"].tolist(), k_ring=k_ring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (isolated cells) are expected and harmless
        weights = W(neighbours, id_order=frame["cell"].tolist(), silence_warnings=True)
        gi = G_Local(
            rate.to_numpy(),
            weights,
            transform="B",
            permutations=permutations,
            star=True,
            seed=seed,
        )
    z = np.asarray(gi.Zs, dtype=float)
    p = np.asarray(gi.p_sim, dtype=float) if permutations else np.asarray(gi.p_norm, dtype=float)
    threshold = alpha
    if fdr:
        from esda import fdr as fdr_threshold

        threshold = float(fdr_threshold(p, alpha))
    significant = p <= threshold
    frame["z"] = z
    frame["p"] = p
    frame["hotspot"] = np.where(
        significant & (z > 0), HOT, np.where(significant & (z < 0), COLD, NOT_SIGNIFICANT)
    )
    centres = [h3.cell_to_latlng(c) for c in frame["cell"]]
    frame["latitude"] = [c[0] for c in centres]
    frame["longitude"] = [c[1] for c in centres]
    return frame


def top_streets(
    cells: pd.DataFrame,
    G: Any,  # noqa: N803 - networkx's name for a graph
    *,
    value: str = "detections",
    max_distance_m: float = 60.0,
    limit: int = 10,
    index: Any = None,
) -> pd.DataFrame:
    """The streets with most litter: cells snapped to their nearest named street and summed.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``latitude``, ``longitude`` (degrees: where the detections of a fine cell lie) and the
        ``value`` column, e.g. ``db.map_queries.top_cells`` at resolution 10.
    G : networkx.MultiDiGraph
        A road network from ``analytics.network.load_road_network``.
    max_distance_m : float
        Cells farther than this from every street are counted as ``"(off the street network)"``.
    index : analytics.network.EdgeIndex, optional
        Built once by the caller when snapping repeatedly.

    Returns
    -------
    pandas.DataFrame
        ``street``, ``detections`` (summed ``value``), ``cells``, most first.
    """
    from analytics.network import snap_points

    if cells.empty:
        return pd.DataFrame({"street": [], value: [], "cells": []})
    snapped = snap_points(
        G, cells["longitude"].to_numpy(), cells["latitude"].to_numpy(), index=index
    )
    names = [
        _street_name(G.edges[u, v, k]) if d <= max_distance_m else "(off the street network)"
        for u, v, k, d in zip(
            snapped["u"], snapped["v"], snapped["key"], snapped["distance_m"], strict=True
        )
    ]
    frame = pd.DataFrame({"street": names, value: cells[value].to_numpy()})
    out = (
        frame.groupby("street", as_index=False)
        .agg(**{value: (value, "sum"), "cells": (value, "size")})
        .sort_values([value, "street"], ascending=[False, True], ignore_index=True)
    )
    return out.head(limit)


def _street_name(edge: Mapping[str, Any]) -> str:
    name = edge.get("name")
    if isinstance(name, list):
        name = " / ".join(str(n) for n in name if n)
    if isinstance(name, str) and name.strip() and name.lower() != "nan":
        return name.strip()
    highway = edge.get("highway")
    return f"(unnamed {highway})" if highway else "(unnamed street)"
