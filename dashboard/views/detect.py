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
from dashboard.drawing import PhotoUnavailableError, draw_boxes, open_upright

MAX_UPLOADS = 8


class DetectorUnavailableError(RuntimeError):
    """No detector can be loaded on this server (the message says why and what to do)."""


@st.cache_resource(show_spinner="Loading the detector…")
def load_detector(path: str | None, device: str) -> Any:
    """The detector at ``path`` (default: the shipped checkpoint) on ``device``."""
    try:
        from models.inference import Detector
    except ImportError as exc:
        raise DetectorUnavailableError(
            f"this WasteMap build has no detector module ({exc}); install the models package"
        ) from None
    from models.errors import ModelNotFoundError

    try:
        return Detector.load(path, device=device)
    except ModelNotFoundError as exc:
        raise DetectorUnavailableError(
            f"no trained detector is available: {exc}. Train one with `wastemap train` or set "
            "WASTEMAP_MODEL_PATH to a checkpoint."
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


def _explain_module() -> Any:
    try:
        from models import explain
    except ImportError:
        return None
    return explain


def inside_the_detector(detector: Any, image: Any, name: str) -> None:
    """The stages of one detection, drawn on the user's own image, when the models package
    provides them (``models.explain``)."""
    explain = _explain_module()
    if explain is None or not hasattr(explain, "explain"):
        st.info(
            "The inside-the-detector view needs `models.explain`, which this build does not have."
        )
        return
    stages = explain.explain(detector, image)
    figures = _stage_images(stages, image)
    if not figures:
        st.info("The detector returned no stages to show for this image.")
        return
    columns = st.columns(min(len(figures), 4))
    for i, (title, picture, caption) in enumerate(figures):
        with columns[i % len(columns)]:
            st.image(picture, caption=f"{title}: {caption}" if caption else title, width="stretch")


def _stage_images(stages: Any, image: Any) -> list[tuple[str, Any, str]]:
    """``(title, image, caption)`` for each stage that ``models.explain`` returned.

    Accepts stages that carry a ready ``image`` (PIL) or boxes (``boxes`` x1..y2 plus optional
    ``scores``) to draw here.
    """
    out: list[tuple[str, Any, str]] = []
    items = stages.items() if isinstance(stages, dict) else enumerate(stages)
    for key, stage in items:
        stage_dict = stage if isinstance(stage, dict) else getattr(stage, "__dict__", {})
        title = str(stage_dict.get("title") or stage_dict.get("name") or key)
        caption = str(stage_dict.get("caption") or stage_dict.get("description") or "")
        picture = stage_dict.get("image")
        if picture is None and stage_dict.get("boxes") is not None:
            scores = stage_dict.get("scores")
            boxes = [
                {
                    "x1": b[0],
                    "y1": b[1],
                    "x2": b[2],
                    "y2": b[3],
                    "label": "",
                    "category": "other",
                    "score": float(scores[i]) if scores is not None else 0.0,
                }
                for i, b in enumerate(list(stage_dict["boxes"])[:300])
            ]
            picture = draw_boxes(image, boxes)
        if picture is not None:
            out.append((title, picture, caption))
    return out


def render() -> None:
    state.require("viewer")
    st.title("Detect waste in a photo")
    st.caption(
        "Upload street photos: each is shown with the waste the detector found, boxed and "
        "labelled with its confidence. Nothing uploaded here is stored."
    )
    cfg = state.settings()
    try:
        detector = load_detector(str(cfg.model_path) if cfg.model_path else None, cfg.device)
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
            inside_the_detector(detector, picture, name)
