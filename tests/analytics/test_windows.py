"""Sites' time windows: clock times from a planner's CSV become minutes after the shift starts."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analytics.errors import TimeWindowError
from analytics.routing import apply_time_windows, parse_clock, read_time_windows
from analytics.routing.plan import clock_time


def _windows(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    text = "site,opens,closes\n" + "".join(f"{s},{o},{c}\n" for s, o, c in rows)
    return read_time_windows(text.encode(), name="w.csv")


def test_clock_times_become_minutes_after_the_shift_start() -> None:
    sites = pd.DataFrame({"site": [1, 2, 3, 4, 5]})
    windows = _windows(
        [
            (1, "07:00", "08:30"),  # inside the shift
            (2, "05:00", "09:00"),  # opened before the shift: from its start
            (3, "22:00", "02:00"),  # past midnight
            (4, "04:00", "05:00"),  # closed before the shift: tomorrow's
        ]
    )
    out = apply_time_windows(sites, windows, shift_start=dt.time(6, 0)).sites
    assert out.loc[0, ["tw_start_min", "tw_end_min"]].tolist() == [60, 150]
    assert out.loc[1, ["tw_start_min", "tw_end_min"]].tolist() == [0, 180]
    assert out.loc[2, ["tw_start_min", "tw_end_min"]].tolist() == [960, 1200]
    assert out.loc[3, ["tw_start_min", "tw_end_min"]].tolist() == [1320, 1380]
    assert math.isnan(out.loc[4, "tw_start_min"]) and math.isnan(out.loc[4, "tw_end_min"])


@pytest.mark.parametrize(
    ("shift", "opens", "closes", "expected"),
    [
        (dt.time(6, 0), "23:00", "07:00", (0, 60)),  # open overnight, still open at the start
        (dt.time(1, 0), "22:00", "02:00", (0, 60)),  # a night shift inside an evening window
        (dt.time(22, 30), "22:00", "02:00", (0, 210)),
        (dt.time(6, 0), "06:00", "06:30", (0, 30)),
        (dt.time(6, 0), "05:59", "06:00", (1439, 1440)),  # closed at the start: tomorrow's
    ],
)
def test_windows_around_the_shift_start(shift, opens, closes, expected) -> None:
    out = apply_time_windows(
        pd.DataFrame({"site": [1]}), _windows([(1, opens, closes)]), shift_start=shift
    ).sites
    assert (out.loc[0, "tw_start_min"], out.loc[0, "tw_end_min"]) == expected


def test_arrival_clock_times_say_when_a_later_day_is_meant() -> None:
    assert clock_time(dt.time(6, 0), 90) == "07:30"
    assert clock_time(dt.time(22, 0), 150.4) == "00:30 (+1 day)"
    assert clock_time(dt.time(6, 0), 2 * 1440) == "06:00 (+2 days)"


def test_sites_of_the_file_not_in_the_plan_are_reported() -> None:
    applied = apply_time_windows(
        pd.DataFrame({"site": [1]}),
        _windows([(1, "07:00", "08:00"), (7, "07:00", "08:00")]),
        shift_start=dt.time(6, 0),
    )
    assert applied.not_planned == (7,)


def test_file_errors_name_the_file_and_what_to_do(tmp_path) -> None:
    with pytest.raises(TimeWindowError, match="not found; give a CSV"):
        read_time_windows(tmp_path / "missing.csv")
    with pytest.raises(TimeWindowError, match=r"w.csv line 2: closes '25:00'.*HH:MM"):
        _windows([(1, "07:00", "25:00")])
    with pytest.raises(TimeWindowError, match="--shift-start '6'"):
        parse_clock("6", what="--shift-start")
    assert parse_clock(" 6:05 ") == dt.time(6, 5)
    # a spreadsheet's UTF-8 BOM and blank lines are fine
    text = "\ufeffSite,Opens,Closes\n\n3,06:00,07:00\n"
    (tmp_path / "w.csv").write_text(text, encoding="utf-8")
    assert read_time_windows(tmp_path / "w.csv")["site"].tolist() == [3]
