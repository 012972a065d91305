"""Generated survey data for the dashboard tests: photos on disk, images and detections stored
with the real query functions (``db.images.create_many`` + ``db.detections.record_run``).

Seeded and small: two surveys two weeks apart along streets of central Helsinki, one litter
hotspot (the Kamppi end of the route), boxes of the trash-filter classes. Some photos carry
EXIF orientation 6 (rotated), so boxes must be drawn on the upright image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
from PIL import Image, ImageDraw
from sqlalchemy.engine import Engine

from db import detections as detection_queries
from db import images as image_queries
from db import model_versions, surveys
from db import users as user_queries
from db.engine import transaction
from db.schema import H3_RESOLUTIONS

#: Class -> platform category (as in models.taxonomy for the trash-filter classes).
CLASSES = {
    "cardboard": "paper",
    "foam": "plastic",
    "glass": "glass",
    "metal": "metal",
    "other": "other",
    "paper": "paper",
    "plastic": "plastic",
}
HOTSPOT = (60.1690, 24.9320)
ROUTE = [(60.1690, 24.9320), (60.1699, 24.9384), (60.1712, 24.9450), (60.1675, 24.9460)]
PASSWORD = "correct-horse-battery"
SURVEYS = ("tram-12 2026-11-02", "tram-12 2026-11-16")
SIZE = (480, 360)


@dataclass(frozen=True)
class Seeded:
    images: int
    detections: int
    photo_dir: Path
    password: str = PASSWORD


def _position(rng: np.random.Generator, hotspot: bool) -> tuple[float, float]:
    if hotspot:
        lat, lon = HOTSPOT
        return lat + rng.normal(0, 0.0004), lon + rng.normal(0, 0.0008)
    leg = rng.integers(0, len(ROUTE) - 1)
    t = rng.random()
    (a_lat, a_lon), (b_lat, b_lon) = ROUTE[leg], ROUTE[leg + 1]
    return a_lat + t * (b_lat - a_lat), a_lon + t * (b_lon - a_lon)


def _photo(
    path: Path, boxes: list[tuple[float, float, float, float]], orientation: int, shade: int
) -> None:
    """A street-ish picture with pale blobs where the boxes are (as displayed); ``shade`` makes
    every photo's content, and so its sha256, distinct."""
    image = Image.new("RGB", SIZE, (150, 160 + shade % 60, 170))
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), path.stem, fill=(40, 40, 40))
    draw.rectangle((0, SIZE[1] * 0.55, SIZE[0], SIZE[1]), fill=(90, 92, 96))
    draw.rectangle((0, 0, SIZE[0], SIZE[1] * 0.2), fill=(185, 205, 230))
    for x1, y1, x2, y2 in boxes:
        draw.ellipse((x1, y1, x2, y2), fill=(230, 230, 235), outline=(30, 30, 30))
    exif = Image.Exif()
    if orientation == 6:
        # stored rotated: displaying it (transpose by 270°) gives back the drawn picture
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80, exif=exif)
    path.write_bytes(buf.getvalue())


def seed(engine: Engine, photo_dir: Path, *, n_images: int = 48, seed: int = 7) -> Seeded:
    """Store ``n_images`` generated photos and their detections, and one user per role
    (``viewer``, ``reviewer``, ``admin``, password :data:`PASSWORD`)."""
    rng = np.random.default_rng(seed)
    photo_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    with transaction(engine) as session:
        model = model_versions.get_or_create(
            db_session=session, version="test-detector-1", class_names=list(CLASSES)
        )
        for s, survey_name in enumerate(SURVEYS):
            survey = surveys.get_or_create(db_session=session, name=survey_name)
            start = dt.datetime(2026, 11, 2 + 14 * s, 9, 0, tzinfo=dt.UTC)
            for i in range(n_images // len(SURVEYS)):
                hotspot = rng.random() < (0.45 if s == 0 else 0.2)  # cleaned up before survey 2
                lat, lon = _position(rng, hotspot)
                n_boxes = int(rng.integers(1, 4) if hotspot else rng.integers(0, 2))
                boxes = []
                for _ in range(n_boxes):
                    w, h = rng.uniform(40, 120), rng.uniform(30, 90)
                    x1, y1 = rng.uniform(0, SIZE[0] - w), rng.uniform(SIZE[1] * 0.5, SIZE[1] - h)
                    boxes.append((x1, y1, x1 + w, y1 + h))
                orientation = 6 if i % 5 == 0 else 1
                path = photo_dir / f"s{s}_frame_{i:04d}.jpg"
                _photo(path, boxes, orientation, shade=s * 1000 + i)
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                row = {
                    "sha256": sha,
                    "original_path": str(path),
                    "file_name": path.name,
                    "survey_id": survey.id,
                    "captured_at": start + dt.timedelta(minutes=3 * i, days=i % 3),
                    "latitude": lat,
                    "longitude": lon,
                    "position_source": "exif",
                    "width": SIZE[0],
                    "height": SIZE[1],
                    "image_format": "JPEG",
                    "orientation": orientation,
                    "camera_make": "TestCam",
                    "camera_model": "T-1",
                    "heading_deg": None,
                    "status": "ingested",
                    **{f"h3_r{r}": h3.latlng_to_cell(lat, lon, r) for r in H3_RESOLUTIONS},
                }
                image_queries.create_many(db_session=session, rows=[row])
                image = image_queries.get_by_sha256(db_session=session, sha256=sha)
                assert image is not None
                labels = rng.choice(list(CLASSES), size=n_boxes)
                found = [
                    {
                        "label": str(label),
                        "category": CLASSES[str(label)],
                        "score": float(np.round(rng.uniform(0.35, 0.98), 3)),
                        "x1": x1,
                        "y1": y1,
                        "x2": x2,
                        "y2": y2,
                    }
                    for label, (x1, y1, x2, y2) in zip(labels, boxes, strict=True)
                ]
                detection_queries.record_run(
                    db_session=session, image=image, model_version_id=model.id, detections=found
                )
                total += len(found)
        for role in user_queries.ROLES:
            if user_queries.get_by_username(db_session=session, username=role) is None:
                user_queries.create(db_session=session, username=role, password=PASSWORD, role=role)
    return Seeded(images=n_images, detections=total, photo_dir=photo_dir)
