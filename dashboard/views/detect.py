"""Detect: drop in photos, see the waste boxed and labelled (the paper's figures 7a and 7b), and
look inside the detector (anchors, proposals by objectness, after NMS, final boxes).

The detector is loaded once per server process (``st.cache_resource``) from
``WASTEMAP_MODEL_PATH`` or the shipped checkpoint; this page holds no torch code of its own.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.drawing import PhotoUnavailableError, draw_boxes, draw_outlines, open_upright

MAX_UPLOADS = 8


class DetectorUnavailableError(RuntimeError):
    """No detector can be loaded on this server (the message says why and what to do)."""


@st.cache_resource(show_spinner="Loading the detector…")
def load_detector(path: str | None, device: str, num_threads: int | None = None) -> Any:
    """The detector at ``path`` (default: the shipped checkpoint) on ``device``."""
    try:
        from models.inference import Detector
    except ImportError as exc:
        raise DetectorUnavailableError(
            f"this WasteMap build has no detector module ({exc}); install the models package"
        ) from None
    from models.errors import ModelNotFoundError

    try:
        return Detector.load(path, device=device, num_threads=num_threads)
    except ModelNotFoundError as exc:
        raise DetectorUnavailableError(
            f"no trained detector is available: {exc}. Train one with `wastemap train` or set "
            "WASTEMAP_MODEL_PATH to a checkpoint."
        ) from None
    except (ValueError, KeyError, RuntimeError) as exc:  # a damaged or foreign checkpoint
        raise DetectorUnavailableError(
            f"the detector checkpoint {path or '(shipped)'} cannot be loaded ({exc!r}); "
            "set WASTEMAP_MODEL_PATH to a checkpoint written by `wastemap train`"
        ) from None


def detections_frame(found: Any) -> pd.DataFrame:
    """The detector's ``Detection`` objects (``box``, ``label``, ``category``, ``score``) as rows
    with ``x1``..``y2`` in displayed pixels."""
    rows = []
    for d in found:
        x1, y1, x2, y2 = (float(v) for v in d.box)
        rows.append(
            {
                "label": d.label,
                "category": d.category,
                "score": float(d.score),
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "width_px": round(x2 - x1),
                "height_px": round(y2 - y1),
            }
        )
    columns = ["label", "category", "score", "x1", "y1", "x2", "y2", "width_px", "height_px"]
    return pd.DataFrame(rows, columns=columns)


#: Colours of the feature maps (finest first) in the anchors panel.
LEVEL_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4")
#: Objectness 0 -> 1 (viridis stops).
OBJECTNESS_COLOURS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _objectness_colour(p: float) -> str:
    return OBJECTNESS_COLOURS[min(int(p * len(OBJECTNESS_COLOURS)), len(OBJECTNESS_COLOURS) - 1)]


def explain_panels(detector: Any, image: Any) -> list[tuple[str, Any, str]]:
    """The four "inside the detector" panels, ``(title, image, caption)``, drawn on ``image``
    from what ``models.explain.detector_internals`` kept of each module's output."""
    from models.explain import detector_internals

    inside = detector_internals(detector, image)
    anchors = [
        {"box": b, "colour": LEVEL_COLOURS[int(level) % len(LEVEL_COLOURS)]}
        for b, level in zip(inside.anchors.tolist(), inside.anchor_levels.tolist(), strict=True)
    ]
    before = [
        {"box": b, "colour": _objectness_colour(p)}
        for b, p in zip(
            inside.proposals_pre_nms.tolist(), inside.objectness_pre_nms.tolist(), strict=True
        )
    ]
    kept = [
        {"box": b, "colour": _objectness_colour(p)}
        for b, p in zip(
            inside.proposals_kept.tolist(), inside.objectness_kept.tolist(), strict=True
        )
    ]
    final = detections_frame(inside.detections)
    return [
        (
            "1. Candidate Object Locator",
            draw_outlines(image, anchors),
            f"a sample of {len(anchors)} anchors; colour = feature map (red finest)",
        ),
        (
            "2. Foreground-background score",
            draw_outlines(image, list(reversed(before))),
            f"top {len(before)} proposals before NMS; purple = low, yellow = high objectness",
        ),
        (
            "3. Regression-based proposal selector",
            draw_outlines(image, list(reversed(kept))),
            f"{len(kept)} proposals kept by NMS (the box head's input)",
        ),
        (
            "4. Object localization",
            draw_boxes(image, final.to_dict("records")),
            f"{len(final)} final detections (before the page's confidence filter)",
        ),
    ]


def inside_the_detector(detector: Any, image: Any) -> None:
    """The paper's teaching view: anchors, proposals by objectness, after NMS, final boxes."""
    try:
        panels = explain_panels(detector, image)
    except (ImportError, AttributeError) as exc:
        st.info(f"The inside-the-detector view is not available with this detector ({exc}).")
        return
    for row in range(0, len(panels), 2):
        columns = st.columns(2)
        for column, (title, picture, caption) in zip(columns, panels[row : row + 2], strict=False):
            column.image(picture, caption=f"{title}: {caption}", width="stretch")


def render() -> None:
    state.require("viewer")
    st.title("Detect waste in a photo")
    st.caption(
        "Upload street photos: each is shown with the waste the detector found, boxed and "
        "labelled with its confidence. Nothing uploaded here is stored."
    )
    cfg = state.settings()
    try:
        detector = load_detector(
            str(cfg.model_path) if cfg.model_path else None, cfg.device, cfg.num_threads
        )
    except DetectorUnavailableError as exc:
        st.warning(f"The detector is not available: {exc}")
        return
    uploads = st.file_uploader(
        "Photos (JPEG, PNG)",
        type=["jpg", "jpeg", "png"],
        accept_multiple_files=True,
        key="detect_uploads",
    )
    min_score = st.slider(
        "Show boxes with confidence at least", 0.0, 1.0, 0.5, 0.05, key="detect_min_score"
    )
    if not uploads:
        st.info("Choose one or more photos to start.")
        return
    if len(uploads) > MAX_UPLOADS:
        st.warning(f"Only the first {MAX_UPLOADS} photos are run; upload the rest in another go.")
    pictures, names = [], []
    for upload in uploads[:MAX_UPLOADS]:
        try:
            pictures.append(open_upright(upload))
            names.append(upload.name)
        except PhotoUnavailableError:
            st.error(f"{upload.name} is not an image this page can read; upload a JPEG or PNG.")
    if not pictures:
        return
    with st.spinner(f"Detecting in {len(pictures)} photo(s)…"):
        results = detector.detect_images(pictures)
    for name, picture, found in zip(names, pictures, results, strict=True):
        frame = detections_frame(found)
        shown = frame[frame["score"] >= min_score].reset_index(drop=True)
        st.subheader(name)
        left, right = st.columns([3, 2])
        left.image(
            draw_boxes(picture, shown.to_dict("records")),
            caption=f"{len(shown)} detection(s) at confidence ≥ {min_score:.2f}",
            width="stretch",
        )
        with right:
            if shown.empty:
                st.info("Nothing found at this confidence. Lower the slider to see weaker boxes.")
            else:
                st.dataframe(
                    shown[["label", "category", "score", "width_px", "height_px"]],
                    hide_index=True,
                    column_config={
                        "score": st.column_config.ProgressColumn(
                            "confidence", min_value=0.0, max_value=1.0, format="%.2f"
                        ),
                        "width_px": "width (px)",
                        "height_px": "height (px)",
                    },
                    width="stretch",
                )
        with st.expander(f"Inside the detector: {name}"):
            if st.toggle("Show the detector's stages", key=f"detect_inside_{name}"):
                inside_the_detector(detector, picture)
