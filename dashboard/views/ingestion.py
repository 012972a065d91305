"""Ingestion: batches with their progress, the quarantine with reasons, the model in use."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from db import batches, model_versions, quarantine
from db.engine import transaction
from pipeline.ingest import REASONS

TIME_FORMAT = "YYYY-MM-DD HH:mm"


@st.cache_data(ttl=10, show_spinner=False)
def _load(url: str) -> dict[str, object]:
    with transaction(state.engine()) as session:
        model = model_versions.latest(db_session=session)
        return {
            "batches": pd.DataFrame(batches.list_recent(db_session=session, limit=50)),
            "quarantine": quarantine.frame(db_session=session),
            "reasons": quarantine.counts_by_reason(db_session=session),
            "model": None
            if model is None
            else {
                "version": model.version,
                "checkpoint_sha256": model.checkpoint_sha256,
                "class_names": list(model.class_names or []),
                "details": dict(model.details or {}),
                "created_at": model.created_at,
            },
        }


def _model_section(model: dict[str, object] | None) -> None:
    st.subheader("Model in use")
    if model is None:
        st.info("No detector has stored detections yet.")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Version", str(model["version"]))
    c2.metric("Classes", len(model["class_names"]))  # type: ignore[arg-type]
    c3.metric(
        "Registered", f"{model['created_at']:%Y-%m-%d}", help=f"{model['created_at']:%H:%M} UTC"
    )
    sha = model["checkpoint_sha256"]
    st.caption(
        "Classes: "
        + ", ".join(model["class_names"])  # type: ignore[arg-type]
        + (f" · checkpoint sha256 {str(sha)[:12]}…" if sha else "")
    )
    details = model["details"]
    if details:
        with st.expander("Model details"):
            st.json(details)


def _batches_section(frame: pd.DataFrame) -> None:
    st.subheader("Batches")
    if frame.empty:
        st.info("No batches yet. `wastemap ingest FOLDER` or the inbox scan creates them.")
        return
    done = frame[["stored", "duplicate", "quarantined", "failed"]].sum(axis=1)
    frame = frame.assign(
        progress=(done / frame["total"].where(frame["total"] > 0)).fillna(1.0),
        batch=frame["id"].str[:8],
    )
    st.dataframe(
        frame[
            [
                "batch",
                "survey",
                "kind",
                "status",
                "progress",
                "total",
                "stored",
                "duplicate",
                "quarantined",
                "failed",
                "pending",
                "created_at",
                "finished_at",
                "source",
            ]
        ],
        hide_index=True,
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent"
            ),
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format=TIME_FORMAT),
            "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format=TIME_FORMAT),
        },
        width="stretch",
    )


def _quarantine_section(frame: pd.DataFrame, reasons: dict[str, int]) -> None:
    st.subheader("Quarantine")
    if frame.empty:
        st.success("No file is waiting in quarantine.")
        return
    cols = st.columns(min(len(reasons), 4) or 1)
    ordered = sorted(reasons.items(), key=lambda kv: -kv[1])
    for col, (reason, n) in zip(cols * 4, ordered, strict=False):
        col.metric(reason.replace("_", " "), n, help=REASONS.get(reason))
    st.dataframe(
        frame[["path", "reason", "message", "seen_count", "last_seen_at"]],
        hide_index=True,
        column_config={
            "seen_count": "times seen",
            "last_seen_at": st.column_config.DatetimeColumn("last seen (UTC)", format=TIME_FORMAT),
        },
        width="stretch",
    )


def render() -> None:
    state.require("viewer")
    st.title("Ingestion")
    data = _load(state.database_url())
    _batches_section(data["batches"])  # type: ignore[arg-type]
    _quarantine_section(data["quarantine"], data["reasons"])  # type: ignore[arg-type]
    _model_section(data["model"])  # type: ignore[arg-type]
    if st.button("Refresh", icon=":material/refresh:", key="ingestion_refresh"):
        _load.clear()
        st.rerun()
