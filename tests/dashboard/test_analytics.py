"""Gi* hotspots, offline folium maps and the COCO export (pure functions, no database)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import h3
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from shapely.geometry import LineString

from analytics import maps
from analytics.coco import coco_dataset, write_coco_zip
from analytics.hotspots import (
    COLD,
    HOT,
    NotEnoughCellsError,
    cell_neighbours,
    getis_ord_hotspots,
    top_streets,
)

CENTRE = h3.latlng_to_cell(60.17, 24.94, 9)


def _grid(hot_value: float = 40.0) -> pd.DataFrame:
    """Every cell within 4 rings of CENTRE with 1 detection, the centre's ring 1 hot."""
    cells = sorted(h3.grid_disk(CENTRE, 4))
    hot = set(h3.grid_disk(CENTRE, 1))
    rng = np.random.default_rng(0)
    values = [hot_value if c in hot else float(rng.integers(0, 3)) for c in cells]
    return pd.DataFrame({"cell": cells, "detections": values, "images": 10})


def test_neighbours_are_the_adjacent_cells() -> None:
    cells = sorted(h3.grid_disk(CENTRE, 1))
    neighbours = cell_neighbours(cells)
    assert len(neighbours[CENTRE]) == 6
    assert all(CENTRE in neighbours[c] for c in cells if c != CENTRE)


def test_gi_star_finds_the_planted_cluster() -> None:
    result = getis_ord_hotspots(_grid(), permutations=199, seed=1)
    hot = set(result.loc[result["hotspot"] == HOT, "cell"])
    assert CENTRE in hot
    assert hot <= set(h3.grid_disk(CENTRE, 2))
    assert result.set_index("cell").loc[CENTRE, "z"] > 3
    assert COLD not in set(result.loc[result["cell"] == CENTRE, "hotspot"])
    assert {"z", "p", "rate", "latitude", "longitude"} <= set(result.columns)
    # the same seed gives the same answer on every rerun of a page
    again = getis_ord_hotspots(_grid(), permutations=199, seed=1)
    assert result["p"].tolist() == again["p"].tolist()


def test_gi_star_per_photo_and_fdr() -> None:
    grid = _grid()
    grid.loc[grid["cell"] == CENTRE, "images"] = 400  # photographed far more: not dirtier per photo
    per_photo = getis_ord_hotspots(grid, per="images", permutations=199, fdr=True)
    assert per_photo.set_index("cell").loc[CENTRE, "rate"] == pytest.approx(0.1)


def test_gi_star_refuses_too_little_data() -> None:
    with pytest.raises(NotEnoughCellsError, match="at least 5"):
        getis_ord_hotspots(_grid().head(3))
    flat = _grid().assign(detections=1.0)
    with pytest.raises(NotEnoughCellsError, match="same value"):
        getis_ord_hotspots(flat)


def test_top_streets_sums_cells_per_named_street() -> None:
    graph = nx.MultiDiGraph()
    graph.add_node(1, x=24.9400, y=60.1700)
    graph.add_node(2, x=24.9500, y=60.1700)
    graph.add_node(3, x=24.9500, y=60.1750)
    graph.add_edge(
        1, 2, 0, name="Mannerheimintie", geometry=LineString([(24.94, 60.17), (24.95, 60.17)])
    )
    graph.add_edge(
        2, 3, 0, name="Aleksanterinkatu", geometry=LineString([(24.95, 60.17), (24.95, 60.175)])
    )
    cells = pd.DataFrame(
        {
            "latitude": [60.1701, 60.1702, 60.1720, 60.2000],
            "longitude": [24.9420, 24.9450, 24.9501, 24.9000],
            "detections": [5, 3, 4, 9],
        }
    )
    streets = top_streets(cells, graph)
    assert streets.iloc[0].to_dict() == {
        "street": "(off the street network)",
        "detections": 9,
        "cells": 1,
    }
    by_name = streets.set_index("street")["detections"].to_dict()
    assert by_name["Mannerheimintie"] == 8 and by_name["Aleksanterinkatu"] == 4


def _cells() -> pd.DataFrame:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(60.17, 24.94, 10), 3))
    return pd.DataFrame({"cell": cells, "detections": np.arange(1, len(cells) + 1)})


def test_standalone_heatmap_needs_no_internet(tmp_path: Path) -> None:
    hexagons = pd.DataFrame({"cell": [h3.latlng_to_cell(60.17, 24.94, 9)], "detections": [7]})
    m = maps.standalone_heatmap(
        _cells(),
        subtitle="plastic only",
        hexagons=hexagons,
        streets=[[(60.169, 24.93), (60.171, 24.95)]],
    )
    out = tmp_path / "map.html"
    m.save(str(out))
    html = out.read_text(encoding="utf-8")
    assert not re.findall(r"<script[^>]+src=", html)
    assert not re.findall(r"<link[^>]+href=\"https?:", html)
    assert "L.heatLayer" in html and "wastemap-legend" in html and "plastic only" in html
    assert "Leaflet 1.9.4" in html or "1.9.4" in html


def test_dashboard_map_uses_given_urls_only() -> None:
    urls = maps.AssetUrls("/v/leaflet.js", "/v/leaflet.css", "/v/heat.js")
    m = maps.base_map((60.17, 24.94))
    maps.add_heatmap(m, _cells())
    maps.add_hexagons(m, _cells())
    points = pd.DataFrame(
        {
            "detection_id": [1],
            "latitude": [60.17],
            "longitude": [24.94],
            "category": ["glass"],
            "label": ["<b>glass</b>"],
            "score": [0.9],
        }
    )
    maps.add_points(m, points)
    maps.use_assets(m, urls)
    html = m.get_root().render()
    sources = set(re.findall(r"<script src=\"([^\"]+)\"", html))
    styles = set(re.findall(r"<link rel=\"stylesheet\" href=\"([^\"]+)\"", html))
    assert sources == {"/v/leaflet.js", "/v/heat.js"}
    assert styles == {"/v/leaflet.css"}
    assert "&lt;b&gt;glass&lt;/b&gt;" in html  # labels are escaped in tooltips


def test_count_bins_and_legend() -> None:
    assert maps.count_bins([1, 1, 1]) == [1]
    bins = maps.count_bins([1, 5, 50, 500])
    assert bins[0] == 1 and bins == sorted(set(bins)) and len(bins) <= len(maps.COUNT_COLOURS)
    legend = maps.legend_html(bins=bins, categories=["plastic"], heat=True)
    assert "plastic" in legend and "Heatmap density" in legend


def _photo(path: Path, orientation: int) -> None:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, "JPEG", exif=exif)


def test_coco_zip(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg", 1)
    _photo(tmp_path / "b.jpg", 6)  # stored sideways: displayed 30 x 40
    images = pd.DataFrame(
        {
            "image_id": [1, 2, 3],
            "original_path": [
                str(tmp_path / "a.jpg"),
                str(tmp_path / "b.jpg"),
                str(tmp_path / "gone.jpg"),
            ],
            "file_name": ["a.jpg", "b.jpg", "gone.jpg"],
            "width": [40, 30, 10],
            "height": [30, 40, 10],
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": [1, 2, 3],
            "label": ["can", "plastic-bottle", "can"],
            "category": ["metal", "plastic", "metal"],
            "x1": [1.0, 2.0, 0.0],
            "y1": [2.0, 3.0, 0.0],
            "x2": [11.0, 12.0, 1.0],
            "y2": [7.0, 33.0, 1.0],
        }
    )
    buffer = io.BytesIO()
    counts = write_coco_zip(images, boxes, buffer)
    assert counts == {"images": 2, "annotations": 2, "missing": 1}
    with zipfile.ZipFile(buffer) as archive:
        data = json.loads(archive.read("annotations.json"))
        upright = Image.open(io.BytesIO(archive.read("images/2_b.jpg")))
        assert upright.size == (30, 40)
    assert [c["name"] for c in data["categories"]] == ["can", "plastic-bottle"]
    assert data["categories"][0]["supercategory"] == "metal"
    assert data["annotations"][0]["bbox"] == [1.0, 2.0, 10.0, 5.0]
    assert data["annotations"][0]["area"] == 50.0
    assert coco_dataset(images.head(0), boxes.head(0))["annotations"] == []
