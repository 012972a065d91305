"""Review: accept, reject or relabel detections; export the reviewed set as COCO for retraining.

Reviewers and admins only. A decision is written at once with the reviewer's name, in one
transaction with its effect on the litter sites (a rejected detection stops being a sighting, a
relabel changes its site's category): both are stored or neither is, and a failure tells the
reviewer that nothing was saved. Query caches are cleared so the map shows it on the next run.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd
import streamlit as st

from analytics.coco import write_coco_zip
from dashboard import state
from dashboard.drawing import PhotoUnavailableError, crop_around, draw_boxes, open_upright
from dashboard.filters import build_filter
from db import reviews
from db.engine import transaction
from db.map_queries import REVIEW_STATUSES
from models.taxonomy import CATEGORIES, LABEL_TO_CATEGORY
from pipeline.sites import apply_reviews_in

QUEUE_SIZE = 30
INDEX_KEY = "review_index"
LAST_KEY = "review_last"
ERROR_KEY = "review_error"

_LOG = logging.getLogger(__name__)


def _queue(filters: dict[str, Any]) -> pd.DataFrame:
    with transaction(state.engine()) as session:
        return reviews.queue(
            db_session=session,
            filt=filters["filt"],
            order=filters["order"],
            limit=QUEUE_SIZE,
        )


def decide(detection_id: int, status: str, reviewer: str, label: str | None = None) -> None:
    """Record a decision and its effect on the litter sites in one transaction, then move on to
    the next detection; when anything fails, nothing is stored and the page says so.

    A button's callback runs before the next page run checks the login, so the login is checked
    here again: a reviewer logged out, deactivated or demoted since the page was drawn stores
    nothing."""
    user = state.current_user()
    if user is None or not user.can("reviewer") or user.username != reviewer:
        # shown on whatever page comes next (the login page, or one without Review)
        state.flash(
            f"Your decision on detection {detection_id} ({status}) was **not saved**: your login "
            "ended or no longer has the reviewer role. Log in again as a reviewer."
        )
        return
    category = LABEL_TO_CATEGORY.get(label, label) if label else None
    try:
        with transaction(state.engine()) as session:
            reviews.review(
                db_session=session,
                detection_ids=[detection_id],
                status=status,
                reviewer=reviewer,
                label=label,
                category=category,
            )
            # a rejected detection is no litter site, a relabelled one changes its site's category
            apply_reviews_in(session, [detection_id])
    except Exception as exc:  # any failure: the transaction rolled back, tell the reviewer
        _LOG.exception("review of detection %s (%s) failed; nothing stored", detection_id, status)
        st.session_state[ERROR_KEY] = _failure_message(detection_id, status, exc)
        return
    state.clear_query_cache()
    st.session_state[LAST_KEY] = f"Detection {detection_id}: {status}."


#: PostgreSQL's codes for a transaction that lost a race with another one (serialization failure,
#: deadlock): trying again is the fix.
_CONFLICT_SQLSTATES = ("40001", "40P01")


def _reason(exc: Exception) -> str:
    """Why a decision failed, in the reviewer's words; the database's own text is in the log."""
    from sqlalchemy import exc as sa_exc

    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)  # psycopg 2, 3
    if isinstance(exc, sa_exc.DBAPIError) and sqlstate in _CONFLICT_SQLSTATES:
        return "another decision on the same litter site was being saved at the same moment"
    if isinstance(exc, sa_exc.IntegrityError):
        return "the detection or its litter site changed meanwhile (it may have been deleted)"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return "the database could not be reached or broke off the connection"
    if isinstance(exc, sa_exc.DBAPIError):
        return f"the database refused the change ({type(exc.orig).__name__})"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _failure_message(detection_id: int, status: str, exc: Exception) -> str:
    reason = _reason(exc)
    return (
        f"Your decision on detection {detection_id} ({status}) was **not saved**: {reason}. "
        "Neither the review nor the litter sites were changed. Try again; if it keeps failing, "
        "ask an administrator (the dashboard log has the details)."
    )


def _queue_controls(options: dict[str, Any]) -> dict[str, Any]:
    c1, c2, c3, c4 = st.columns(4)
    status = c1.selectbox("Show", REVIEW_STATUSES, key="review_status")
    surveys = {s["name"]: s["id"] for s in options["surveys"]}
    survey = c2.selectbox("Survey", ["All surveys", *surveys], key="review_survey")
    category = c3.selectbox("Category", ["All categories", *CATEGORIES], key="review_category")
    order = c4.selectbox("Order", reviews.QUEUE_ORDERS, key="review_order")
    filt = build_filter(
        days=None,
        survey_ids=[surveys[survey]] if survey in surveys else None,
        categories=[category] if category in CATEGORIES else None,
        recyclable_choice="all",
        overrides=None,
        min_score=0.0,
        review_statuses=[status],
    )
    return {"filt": filt, "order": order}


def _show_photo(row: pd.Series) -> None:
    try:
        image = open_upright(row["original_path"])
    except PhotoUnavailableError as exc:
        st.warning(str(exc))
        return
    box = {**row.to_dict(), "label": row["reviewed_label"] or row["label"]}
    left, right = st.columns([2, 3])
    boxed = draw_boxes(image, [box], highlight=int(row["detection_id"]))
    left.image(crop_around(boxed, box), caption="close-up", width="stretch")
    right.image(
        boxed,
        caption=f"{row['file_name']} · survey {row['survey']}",
        width="stretch",
    )


def _decision_buttons(row: pd.Series, reviewer: str) -> None:
    detection_id = int(row["detection_id"])
    c1, c2, c3 = st.columns([1, 1, 2])
    c1.button(
        "Accept",
        type="primary",
        icon=":material/check:",
        key=f"review_accept_{detection_id}",
        on_click=decide,
        args=(detection_id, "accepted", reviewer),
        width="stretch",
    )
    c2.button(
        "Reject",
        icon=":material/close:",
        key=f"review_reject_{detection_id}",
        on_click=decide,
        args=(detection_id, "rejected", reviewer),
        width="stretch",
    )
    with c3:
        labels = sorted(LABEL_TO_CATEGORY)
        current = row["reviewed_label"] or row["label"]
        new_label = st.selectbox(
            "Relabel as",
            labels,
            index=labels.index(current) if current in labels else None,
            key=f"review_label_{detection_id}",
            format_func=lambda name: f"{name} ({LABEL_TO_CATEGORY[name]})",
            placeholder="Choose the right label",
        )
        st.button(
            "Relabel",
            icon=":material/edit:",
            key=f"review_relabel_{detection_id}",
            disabled=new_label is None,
            on_click=decide,
            args=(detection_id, "relabelled", reviewer, new_label),
        )


def review_one(queue: pd.DataFrame, reviewer: str) -> None:
    index = min(st.session_state.get(INDEX_KEY, 0), len(queue) - 1)
    row = queue.iloc[index]
    st.markdown(
        f"**Detection {int(row['detection_id'])}** · {row['label']} ({row['category']}) · "
        f"confidence {row['score']:.2f} · status *{row['review_status']}*"
        + (f" by {row['reviewed_by']}" if row["reviewed_by"] else "")
    )
    _show_photo(row)
    _decision_buttons(row, reviewer)
    prev, _, nxt = st.columns([1, 4, 1])
    if prev.button("◀ Previous", key="review_prev", disabled=index == 0):
        st.session_state[INDEX_KEY] = index - 1
        st.rerun()
    if nxt.button("Next ▶", key="review_next", disabled=index >= len(queue) - 1):
        st.session_state[INDEX_KEY] = index + 1
        st.rerun()


def export_section() -> None:
    st.subheader("Export the reviewed set")
    st.write(
        "Photos whose detections have all been reviewed, with the accepted and relabelled boxes, "
        "as a COCO dataset (annotations.json + images/) for retraining the detector."
    )
    with transaction(state.engine()) as session:
        reviewed = reviews.reviewed_set(db_session=session)
    n_images, n_boxes = len(reviewed["images"]), len(reviewed["boxes"])
    st.caption(f"{n_images:,} fully reviewed photos with {n_boxes:,} confirmed boxes.")

    def build() -> bytes:
        buffer = io.BytesIO()
        write_coco_zip(reviewed["images"], reviewed["boxes"], buffer)
        return buffer.getvalue()

    st.download_button(
        "Download COCO dataset (zip)",
        data=build,
        file_name="wastemap-reviewed-coco.zip",
        mime="application/zip",
        disabled=n_images == 0,
        icon=":material/download:",
        key="review_export",
    )


def render() -> None:
    user = state.require("reviewer")
    st.title("Review detections")
    if error := st.session_state.pop(ERROR_KEY, None):
        st.error(error, icon=":material/error:")
    counts = state.review_counts(state.database_url())
    cols = st.columns(len(counts))
    for col, (status, n) in zip(cols, counts.items(), strict=True):
        col.metric(status.capitalize(), f"{n:,}")
    options = state.filter_options(state.database_url())
    filters = _queue_controls(options)
    if last := st.session_state.pop(LAST_KEY, None):
        st.toast(last)
    queue = _queue(filters)
    if queue.empty:
        st.success("Nothing to review with these settings.")
    else:
        st.caption(f"{len(queue)} detections in this batch (of the {QUEUE_SIZE} shown at a time).")
        review_one(queue, user.username)
    st.divider()
    export_section()
