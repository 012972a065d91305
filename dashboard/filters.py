"""The filter sidebar shared by the map, the patterns and the review pages.

The widgets' values become one :class:`db.map_queries.MapFilter` (hashable, so query results
are cached per filter set). "Recyclable or not" is resolved here into a set of categories, from
the taxonomy's flags and the city's ``WASTEMAP_RECYCLABLE_OVERRIDES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from db.map_queries import DEFAULT_REVIEW_STATUSES, REVIEW_STATUSES, MapFilter
from models.taxonomy import CATEGORIES, recyclable

RECYCLABLE_CHOICES = ("all", "recyclable", "not recyclable")


def recyclable_categories(wanted: bool, overrides: Mapping[str, bool] | None) -> tuple[str, ...]:
    """The categories whose recyclable flag (after ``overrides``) is ``wanted``."""
    return tuple(c for c in CATEGORIES if recyclable(c, overrides) == wanted)


def build_filter(
    *,
    days: Sequence[dt.date] | None,
    survey_ids: Sequence[int] | None,
    categories: Sequence[str] | None,
    recyclable_choice: str,
    overrides: Mapping[str, bool] | None,
    min_score: float,
    review_statuses: Sequence[str] | None,
    label_contains: str = "",
) -> MapFilter:
    """The :class:`MapFilter` for the sidebar's values (empty selections mean "all")."""
    chosen = tuple(categories) if categories else None
    if recyclable_choice != "all":
        allowed = recyclable_categories(recyclable_choice == "recyclable", overrides)
        chosen = tuple(c for c in (chosen or CATEGORIES) if c in allowed)
    start = end = None
    if days:
        start = days[0]
        end = days[1] if len(days) > 1 else days[0]
    return MapFilter(
        start=start,
        end=end,
        survey_ids=tuple(sorted(survey_ids)) if survey_ids else None,
        categories=chosen,
        min_score=round(float(min_score), 3),
        review_statuses=tuple(review_statuses) if review_statuses else None,
        label_contains=label_contains.strip() or None,
    )


def sidebar_filter(
    options: Mapping[str, Any],
    overrides: Mapping[str, bool] | None,
    *,
    key: str = "filters",
) -> MapFilter:
    """Draw the filter widgets in the sidebar and return the filter they describe.

    Widget keys are shared by the pages (prefix ``key``), so a filter set on the map carries over
    to the patterns.
    """
    sidebar = st.sidebar
    sidebar.header("Filters")
    first, last = options.get("first_day"), options.get("last_day")
    days: Sequence[dt.date] | None = None
    if first and last:
        picked = sidebar.date_input(
            "Date range (UTC)",
            value=(first, last),
            min_value=first,
            max_value=last,
            key=f"{key}_days",
        )
        days = picked if isinstance(picked, (tuple, list)) else [picked]
    surveys = {s["name"]: s["id"] for s in options.get("surveys", [])}
    survey_names = sidebar.multiselect(
        "Survey", list(surveys), key=f"{key}_surveys", placeholder="All surveys"
    )
    categories = sidebar.multiselect(
        "Category",
        list(CATEGORIES),
        key=f"{key}_categories",
        placeholder="All categories",
    )
    recyclable_choice = sidebar.radio(
        "Recyclable",
        RECYCLABLE_CHOICES,
        horizontal=True,
        key=f"{key}_recyclable",
        help="From the taxonomy's recyclable flags and the city's WASTEMAP_RECYCLABLE_OVERRIDES.",
    )
    min_score = sidebar.slider("Minimum confidence", 0.0, 1.0, 0.3, 0.05, key=f"{key}_min_score")
    statuses = sidebar.multiselect(
        "Review status",
        list(REVIEW_STATUSES),
        default=list(DEFAULT_REVIEW_STATUSES),
        key=f"{key}_statuses",
        placeholder="Any status",
    )
    label_contains = sidebar.text_input(
        "Label contains", key=f"{key}_label", placeholder="e.g. bottle", max_chars=100
    )
    return build_filter(
        days=days,
        survey_ids=[surveys[n] for n in survey_names if n in surveys],
        categories=categories,
        recyclable_choice=recyclable_choice,
        overrides=overrides,
        min_score=min_score,
        review_statuses=statuses,
        label_contains=label_contains,
    )


def describe(filt: MapFilter, survey_names: Mapping[int, str]) -> dict[str, Any]:
    """The set filters in words (for captions and the shareable map)."""
    parts: dict[str, Any] = {}
    if filt.start or filt.end:
        parts["dates"] = f"{filt.start} – {filt.end}"
    if filt.survey_ids:
        parts["surveys"] = ", ".join(survey_names.get(i, str(i)) for i in filt.survey_ids)
    if filt.categories is not None:
        parts["categories"] = ", ".join(filt.categories) or "none"
    if filt.min_score:
        parts["confidence ≥"] = f"{filt.min_score:.2f}"
    if filt.review_statuses is not None:
        parts["review"] = ", ".join(filt.review_statuses)
    if filt.label_contains:
        parts["label contains"] = repr(filt.label_contains)
    return parts
