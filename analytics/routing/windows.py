"""When litter sites may be served: time windows from a CSV file that planners write.

A windows file has a header and one row per site: ``site`` (its id, as ``wastemap sites list``
and the dashboard show it), ``opens`` and ``closes`` (clock times ``HH:MM`` in the crews' local
time), e.g. a market square that can only be cleared before the stalls open::

    site,opens,closes
    12,06:00,08:30
    40,22:00,02:00

A window that closes at or before the time it opens runs past midnight. Sites missing from the
file can be served at any time. The route planner counts time from the start of the shift, so
:func:`apply_time_windows` turns clock times into the ``tw_start_min``/``tw_end_min`` columns
of :func:`analytics.routing.plan_routes` (minutes after the shift starts): a window already open
when the shift starts counts from the start; one that closed before it counts from its next
opening (the next day), which a shift with a longest-route limit rarely reaches (the plan then
leaves that site out with the reason ``time_window``), while a shift without a limit serves it
then, its stop's arrival reading ``HH:MM (+1 day)``. Times are whole minutes (seconds dropped).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analytics.errors import TimeWindowError

__all__ = [
    "WindowsApplied",
    "apply_time_windows",
    "parse_clock",
    "read_time_windows",
    "windows_note",
]

_DAY_MIN = 24 * 60
_COLUMNS = ("site", "opens", "closes")


def parse_clock(text: str, *, what: str = "time") -> dt.time:
    """``HH:MM`` (or ``H:MM``, ``HH:MM:SS``) as a :class:`datetime.time`."""
    value = str(text).strip()
    for fmt in ("%H:%M", "%H:%M:%S"):
        try:
            return dt.datetime.strptime(value, fmt).time()
        except ValueError:
            continue
    raise TimeWindowError(f"{what} {value!r}: give a clock time as HH:MM, e.g. 06:30")


def read_time_windows(source: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    """Read a windows file (a path, or the bytes of an upload called ``name``).

    Returns one row per site: ``site`` (int), ``opens`` and ``closes`` (:class:`datetime.time`).
    Errors name the file and line: a missing column, a site id that is not a whole number, a
    clock time that is not ``HH:MM``, a window that opens and closes at the same minute, or a
    site listed twice.
    """
    if isinstance(source, bytes):
        label = name or "the uploaded windows file"
        text = source.decode("utf-8-sig", errors="replace")
    else:
        label = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise TimeWindowError(
                f"time windows file {label} not found; give a CSV with the columns "
                "site,opens,closes"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TimeWindowError(f"cannot read time windows file {label}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [c.strip().lower() for c in (reader.fieldnames or [])]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise TimeWindowError(
            f"{label}: no column {', '.join(missing)}; the first line must name the columns "
            "site,opens,closes (clock times HH:MM)"
        )
    rows: list[tuple[int, dt.time, dt.time]] = []
    seen: dict[int, int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue  # blank line
        where = f"{label} line {line}"
        try:
            site = int(row["site"])
        except ValueError:
            raise TimeWindowError(
                f"{where}: site {row['site']!r} is not a site id (a whole number, as "
                "`wastemap sites list` shows)"
            ) from None
        opens = parse_clock(row["opens"], what=f"{where}: opens")
        closes = parse_clock(row["closes"], what=f"{where}: closes")
        if _minutes(opens) == _minutes(closes):
            raise TimeWindowError(
                f"{where}: site {site} opens and closes at {opens:%H:%M}; leave the site out of "
                "the file to allow any time"
            )
        if site in seen:
            raise TimeWindowError(
                f"{where}: site {site} is already given a window on line {seen[site]}; give "
                "each site one window"
            )
        seen[site] = line
        rows.append((site, opens, closes))
    frame = pd.DataFrame(rows, columns=list(_COLUMNS)).astype({"site": "int64"})
    frame.attrs["source"] = label  # named in what the planner is told about it
    return frame


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class WindowsApplied:
    """The sites with their windows, and the file's sites that are not among them."""

    sites: pd.DataFrame
    not_planned: tuple[int, ...]


def apply_time_windows(
    sites: pd.DataFrame, windows: pd.DataFrame, *, shift_start: dt.time
) -> WindowsApplied:
    """Add ``tw_start_min``/``tw_end_min`` (minutes after ``shift_start``) to ``sites``.

    Sites without a row in ``windows`` get no window (NaN: any time). ``not_planned`` lists the
    window file's sites that ``sites`` does not hold (cleared since, or filtered out): worth
    telling the planner, since a typo in an id would otherwise go unnoticed.
    """
    start = _minutes(shift_start)
    by_site: dict[int, tuple[float, float]] = {}
    for site, opens, closes in windows[list(_COLUMNS)].itertuples(index=False):
        length = (_minutes(closes) - _minutes(opens)) % _DAY_MIN or _DAY_MIN
        begin = (_minutes(opens) - start) % _DAY_MIN  # its next opening, from the shift start
        if begin + length > _DAY_MIN:  # still open from yesterday (22:00-07:00 at 06:00)
            begin -= _DAY_MIN
        by_site[int(site)] = (float(max(begin, 0)), float(begin + length))
    out = sites.copy()
    ids = out["site"].astype("int64")
    out["tw_start_min"] = [by_site.get(int(s), (float("nan"),))[0] for s in ids]
    out["tw_end_min"] = [by_site.get(int(s), (0.0, float("nan")))[1] for s in ids]
    known = set(int(s) for s in ids)
    return WindowsApplied(out, tuple(sorted(s for s in by_site if s not in known)))


def windows_note(not_planned: Iterable[int], label: str = "the windows file") -> str | None:
    """A line for the planner about window rows whose sites are not in this plan, or None."""
    ids = list(not_planned)
    if not ids:
        return None
    shown = ", ".join(str(s) for s in ids[:10]) + (" ..." if len(ids) > 10 else "")
    return (
        f"{len(ids)} site(s) in {label} are not among the open sites planned (cleared, filtered "
        f"out, or a wrong id): {shown}"
    )
