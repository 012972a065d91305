"""The platform's waste taxonomy and the one table mapping dataset class names onto it.

Eight categories, each with a recyclable flag that a city can override in its configuration
(``WASTEMAP_RECYCLABLE_OVERRIDES``, passed in as ``overrides``). Label lookup is case- and
separator-insensitive: ``"Plastic-bottle"``, ``"plastic bottle"`` and ``"plastic_bottle"`` are the
same label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from models.errors import UnknownCategoryError, UnknownLabelError


@dataclass(frozen=True)
class Category:
    """A platform waste category and whether it is recyclable by default."""

    name: str
    recyclable: bool


TAXONOMY: tuple[Category, ...] = (
    Category("plastic", True),
    Category("paper", True),
    Category("metal", True),
    Category("glass", True),
    Category("organic", False),
    Category("e-waste", False),
    Category("hazardous", False),
    Category("other", False),
)
#: The eight category names in platform order.
CATEGORIES: tuple[str, ...] = tuple(c.name for c in TAXONOMY)
_BY_NAME = {c.name: c for c in TAXONOMY}

#: Dataset class name (normalised: lower case, words joined by "-") -> platform category.
LABEL_TO_CATEGORY: dict[str, str] = {
    # the categories themselves
    **{name: name for name in CATEGORIES},
    # Trash-Filter v4 (the shipped model's classes)
    "cardboard": "paper",
    "foam": "plastic",  # expanded polystyrene food boxes and cups
    # paper
    "paper-bag": "paper",
    "paper-cup": "paper",
    "newspaper": "paper",
    "magazine": "paper",
    "carton": "paper",
    "drink-carton": "paper",
    "paper-straw": "paper",
    "tissue": "paper",
    "napkin": "paper",
    "pizza-box": "paper",
    "corrugated-carton": "paper",
    "egg-carton": "paper",
    "normal-paper": "paper",
    "wrapping-paper": "paper",
    # plastic
    "plastic-bottle": "plastic",
    "bottle": "plastic",
    "plastic-bag": "plastic",
    "plastic-bag-wrapper": "plastic",
    "plastic-film": "plastic",
    "plastic-cup": "plastic",
    "plastic-lid": "plastic",
    "bottle-cap": "plastic",
    "plastic-bottle-cap": "plastic",
    "plastic-container": "plastic",
    "plastic-straw": "plastic",
    "straw": "plastic",
    "plastic-utensils": "plastic",
    "styrofoam": "plastic",
    "styrofoam-piece": "plastic",
    "polystyrene": "plastic",
    "crisp-packet": "plastic",
    "chips-bag": "plastic",
    "wrapper": "plastic",
    "other-plastic": "plastic",
    "plastic-glooves": "plastic",
    "rope-strings": "plastic",
    "six-pack-rings": "plastic",
    "squeezable-tube": "plastic",
    "single-use-carrier-bag": "plastic",
    # metal
    "can": "metal",
    "aluminium-can": "metal",
    "aluminum-can": "metal",
    "drink-can": "metal",
    "food-can": "metal",
    "tin": "metal",
    "tin-can": "metal",
    "metal-bottle-cap": "metal",
    "metal-lid": "metal",
    "aluminium-foil": "metal",
    "aluminum-foil": "metal",
    "pop-tab": "metal",
    "scrap-metal": "metal",
    "aerosol": "hazardous",
    # glass
    "glass-bottle": "glass",
    "broken-glass": "glass",
    "glass-jar": "glass",
    "glass-cup": "glass",
    # organic
    "food-waste": "organic",
    "food": "organic",
    "biological": "organic",
    "biodegradable": "organic",
    "leaves": "organic",
    "fruit": "organic",
    "banana-peel": "organic",
    "green-waste": "organic",
    # e-waste
    "electronics": "e-waste",
    "electronic": "e-waste",
    "ewaste": "e-waste",
    "phone": "e-waste",
    "cable": "e-waste",
    "circuit-board": "e-waste",
    "light-bulb": "e-waste",
    # hazardous
    "battery": "hazardous",
    "batteries": "hazardous",
    "cigarette": "hazardous",
    "cigarette-butt": "hazardous",
    "syringe": "hazardous",
    "needle": "hazardous",
    "medical-waste": "hazardous",
    "face-mask": "hazardous",
    "mask": "hazardous",
    "paint-can": "hazardous",
    "chemical": "hazardous",
    # other
    "trash": "other",
    "litter": "other",
    "rubbish": "other",
    "waste": "other",
    "unlabeled-litter": "other",
    "shoe": "other",
    "clothes": "other",
    "textile": "other",
    "rubber": "other",
    "tyre": "other",
    "tire": "other",
    "wood": "other",
    "furniture": "other",
    "mattress": "other",
    "rock": "other",
    "ceramic": "other",
}


def normalise_label(label: str) -> str:
    """Lower case, words joined by ``-`` (``"Plastic_bottle "`` -> ``"plastic-bottle"``)."""
    return re.sub(r"[\s_\-]+", "-", label.strip().lower()).strip("-")


def category_for(label: str, class_map: Mapping[str, str] | None = None) -> str:
    """The platform category of a dataset class name.

    ``class_map`` (label -> category) takes precedence over the table, for datasets whose names
    the table does not know (``wastemap eval --class-map NAME=CATEGORY``). Raises
    :class:`~models.errors.UnknownLabelError` for a label in neither.
    """
    key = normalise_label(label)
    if class_map:
        for name, category in class_map.items():
            if normalise_label(name) == key:
                return check_category(category)
    try:
        return LABEL_TO_CATEGORY[key]
    except KeyError:
        raise UnknownLabelError(label) from None


def check_category(category: str) -> str:
    """``category`` if it is one of :data:`CATEGORIES`, else a named error."""
    name = normalise_label(category)
    if name not in _BY_NAME:
        raise UnknownCategoryError(
            f"unknown waste category {category!r}; the categories are {', '.join(CATEGORIES)}"
        )
    return name


def recyclable(category: str, overrides: Mapping[str, bool] | None = None) -> bool:
    """Whether ``category`` is recyclable, after a city's ``overrides`` (category -> flag)."""
    name = check_category(category)
    if overrides:
        for key, value in overrides.items():
            if check_category(key) == name:
                return bool(value)
    return _BY_NAME[name].recyclable


def parse_class_map(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``["Plastic-bottle=plastic", ...]`` (CLI ``--class-map``) into a dict."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, category = item.partition("=")
        if not sep or not name.strip() or not category.strip():
            raise ValueError(f"--class-map takes NAME=CATEGORY, got {item!r}")
        out[name.strip()] = check_category(category.strip())
    return out
