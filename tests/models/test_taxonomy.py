"""The platform taxonomy and the label table."""

from __future__ import annotations

import pytest

from models.errors import UnknownCategoryError, UnknownLabelError
from models.taxonomy import (
    CATEGORIES,
    LABEL_TO_CATEGORY,
    TAXONOMY,
    Category,
    category_for,
    parse_class_map,
    recyclable,
)


def test_eight_categories_in_platform_order():
    assert CATEGORIES == (
        "plastic",
        "paper",
        "metal",
        "glass",
        "organic",
        "e-waste",
        "hazardous",
        "other",
    )
    assert all(isinstance(c, Category) for c in TAXONOMY)


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("cardboard", "paper"),
        ("foam", "plastic"),
        ("glass", "glass"),
        ("metal", "metal"),
        ("other", "other"),
        ("paper", "paper"),
        ("plastic", "plastic"),
        ("Plastic-bottle", "plastic"),
        ("plastic bottle", "plastic"),
        ("Drink can", "metal"),
        ("can", "metal"),
        ("Cigarette", "hazardous"),
        ("battery", "hazardous"),
        ("banana_peel", "organic"),
    ],
)
def test_category_for(label, category):
    assert category_for(label) == category


def test_unknown_label_is_named_and_says_the_fix():
    with pytest.raises(UnknownLabelError, match=r"'sofa-cushion'.*--class-map sofa-cushion="):
        category_for("sofa-cushion")
    assert category_for("sofa-cushion", {"Sofa cushion": "other"}) == "other"


def test_every_table_entry_is_a_category():
    assert set(LABEL_TO_CATEGORY.values()) <= set(CATEGORIES)


def test_recyclable_and_city_overrides():
    assert recyclable("glass") is True
    assert recyclable("organic") is False
    assert recyclable("glass", {"glass": False}) is False
    assert recyclable("organic", {"organic": True}) is True
    with pytest.raises(UnknownCategoryError, match="categories are plastic"):
        recyclable("furniture")


def test_parse_class_map():
    assert parse_class_map(["Plastic-bottle=plastic", "tyre = other"]) == {
        "Plastic-bottle": "plastic",
        "tyre": "other",
    }
    with pytest.raises(ValueError, match="NAME=CATEGORY"):
        parse_class_map(["plastic"])
    with pytest.raises(UnknownCategoryError):
        parse_class_map(["bottle=bottles"])
