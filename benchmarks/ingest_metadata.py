"""Reading image metadata the way ingestion does vs fully decoding each image with Pillow.

Generates N large JPEGs (default 500 at 4000x3000 = 12 MP, each with its own EXIF GPS and time)
in a temporary folder, warms the page cache, then times over the same files:

  (a) ingestion's way: read the bytes, sha256, ``pipeline.ingest.examine`` (headers, EXIF, GPS,
      completeness check on the raw bytes; no pixel decoding);
  (b) the naive way: ``Image.open(path).convert("RGB")`` (a full decode), then ``getexif()``.

Prints both rates (images/s) and the ratio.

    python benchmarks/ingest_metadata.py [--count 500] [--width 4000] [--height 3000] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline._exif import build_exif, splice_exif
from pipeline.ingest import Accepted, IngestOptions, examine


def _base_jpegs(width: int, height: int, variants: int, seed: int) -> list[bytes]:
    """A few textured street-size photos (noise keeps them camera-sized: several MB each)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(variants):
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        colour = rng.uniform(60, 200, size=3).astype(np.float32)
        img = colour * (0.6 + 0.4 * y) * (0.8 + 0.2 * x)
        img = img + rng.normal(0, 18, size=(height, width, 3)).astype(np.float32)
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def generate(folder: Path, *, count: int, width: int, height: int, seed: int = 0) -> list[Path]:
    bases = _base_jpegs(width, height, variants=5, seed=seed)
    start = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    paths = []
    for i in range(count):
        exif = build_exif(
            latitude=60.16 + i * 1e-5,
            longitude=24.93 + i * 1e-5,
            captured_at=start + dt.timedelta(seconds=2 * i),
            make="WasteMap",
            model="benchmark",
        )
        path = folder / f"frame_{i:04d}.jpg"
        path.write_bytes(splice_exif(bases[i % len(bases)], exif))
        paths.append(path)
    return paths


def ingestion_way(paths: list[Path]) -> float:
    options = IngestOptions()
    t0 = time.perf_counter()
    for path in paths:
        data = path.read_bytes()
        outcome = examine(path, data=data, sha256=hashlib.sha256(data).hexdigest(), options=options)
        assert isinstance(outcome, Accepted), outcome
    return time.perf_counter() - t0


def full_decode_way(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            image.getexif()
        assert rgb.size[0] > 0
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wastemap-bench-") as tmp:
        t0 = time.perf_counter()
        paths = generate(Path(tmp), count=args.count, width=args.width, height=args.height)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        gen_s = time.perf_counter() - t0
        for p in paths:  # warm the page cache so both ways read from memory
            p.read_bytes()
        a = ingestion_way(paths)
        b = full_decode_way(paths)
    result = {
        "images": args.count,
        "megapixels": args.width * args.height / 1e6,
        "total_mb": round(size_mb, 1),
        "ingestion_images_per_s": round(args.count / a, 1),
        "full_decode_images_per_s": round(args.count / b, 1),
        "ratio": round(b / a, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.count} JPEGs of {result['megapixels']:.0f} MP ({size_mb:.0f} MB, generated in "
        f"{gen_s:.0f} s)"
    )
    a_rate, b_rate = result["ingestion_images_per_s"], result["full_decode_images_per_s"]
    print(f"  (a) ingestion (bytes + sha256 + headers/EXIF): {a_rate:8.1f} images/s")
    print(f"  (b) full Pillow decode + EXIF:                {b_rate:8.1f} images/s")
    print(f"  ratio (a)/(b): {result['ratio']:.1f}x")


if __name__ == "__main__":
    main()
