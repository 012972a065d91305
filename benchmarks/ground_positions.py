"""Where is the litter? (a) the camera's position against (b) the ground position estimated
from the box (``analytics.ground``), on a SIMULATED survey whose true litter positions are known.

Renders a sample survey (``pipeline.simulate.build_sample_survey``), takes the true boxes of
``ground_truth.json`` and prints, for each way, the median and 90th percentile of the distance in
metres to the true litter positions, and their ratios. The camera model is the one the survey
wrote into ``ground_truth.json``.

    python benchmarks/ground_positions.py [--frames 40] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyproj

from analytics.ground import CameraModel, ground_positions
from pipeline.simulate import build_sample_survey

_GEOD = pyproj.Geod(ellps="WGS84")


def errors_m(ground_truth: Path) -> dict[str, np.ndarray]:
    """Metres from each way's position to the true position of every true box."""
    gt = json.loads(ground_truth.read_text())
    cam = gt["camera"]
    camera = CameraModel(
        height_m=cam["height_m"],
        hfov_deg=cam["hfov_deg"],
        horizon=cam["horizon"],
        principal_x=cam["principal_x"],
    )
    rows = [(f, b) for f in gt["frames"] for b in f["boxes"]]
    lat = np.asarray([f["lat"] for f, _ in rows])
    lon = np.asarray([f["lon"] for f, _ in rows])
    true_lat = np.asarray([b["lat"] for _, b in rows])
    true_lon = np.asarray([b["lon"] for _, b in rows])
    ground_lat, ground_lon, distance, reason = ground_positions(
        lat,
        lon,
        [f["heading"] for f, _ in rows],
        [b["xyxy"] for _, b in rows],
        widths=gt["image_size"][0],
        heights=gt["image_size"][1],
        camera=camera,
    )
    return {
        "camera": _GEOD.inv(lon, lat, true_lon, true_lat)[2],
        "ground": _GEOD.inv(ground_lon, ground_lat, true_lon, true_lat)[2],
        "distance": np.abs(distance - [b["distance_m"] for _, b in rows]),
        "refused": np.asarray([r is not None for r in reason]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wastemap-ground-") as tmp:
        survey = build_sample_survey(tmp, frames=args.frames, seed=args.seed)
        e = errors_m(survey.ground_truth_json)
    result = {
        "frames": args.frames,
        "seed": args.seed,
        "boxes": len(e["camera"]),
        "refused": int(e["refused"].sum()),
        **{
            f"{way}_{stat}_m": round(float(np.percentile(e[way], q)), 2)
            for way in ("camera", "ground")
            for stat, q in (("median", 50), ("p90", 90))
        },
        "distance_from_camera_median_error_m": round(float(np.median(e["distance"])), 3),
    }
    result["median_ratio"] = round(result["camera_median_m"] / result["ground_median_m"], 2)
    result["p90_ratio"] = round(result["camera_p90_m"] / result["ground_p90_m"], 2)
    if args.json:
        print(json.dumps(result))
        return
    print(f"SIMULATED survey: {result['frames']} frames, seed {result['seed']}, ", end="")
    print(f"{result['boxes']} true boxes ({result['refused']} not placed on the ground)")
    for way in ("camera", "ground"):
        print(
            f"  {way:>6} position: median {result[f'{way}_median_m']:.2f} m, "
            f"90th percentile {result[f'{way}_p90_m']:.2f} m from the litter"
        )
    print(
        f"  camera / ground: {result['median_ratio']:.1f}x (median), "
        f"{result['p90_ratio']:.1f}x (90th percentile); distance from the camera off by "
        f"{result['distance_from_camera_median_error_m']:.2f} m (median)"
    )


if __name__ == "__main__":
    main()
