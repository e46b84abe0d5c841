"""Chinese working days (model/workdays.py): the official schedule of chinese-calendar, with
holidays off and adjusted working weekends (调休) on; Monday–Friday, flagged, beyond it."""

from __future__ import annotations

from datetime import date

import pytest

from model.workdays import LAST_KNOWN_YEAR, add_working_days, is_working_day


def test_spring_festival_2024_and_its_worked_sunday():
    # 10–17 Feb off, Sunday 18 Feb worked, Friday 9 Feb (New Year's Eve) a working day
    assert is_working_day(date(2024, 2, 9)) == (True, False)
    assert is_working_day(date(2024, 2, 12)) == (False, False)  # a Monday of the holiday
    assert is_working_day(date(2024, 2, 18)) == (True, False)  # a Sunday worked
    d = add_working_days(date(2024, 2, 6), 7)
    assert (d.day, d.estimated) == (date(2024, 2, 21), False)


def test_national_day_2024_and_its_worked_saturday():
    assert is_working_day(date(2024, 10, 12)) == (True, False)  # a Saturday worked
    assert is_working_day(date(2024, 10, 3)) == (False, False)
    assert add_working_days(date(2024, 9, 27), 7).day == date(2024, 10, 12)


def test_the_start_day_never_counts_and_a_weekend_start_counts_from_monday():
    assert add_working_days(date(2023, 6, 1), 1).day == date(2023, 6, 2)
    assert add_working_days(date(2023, 6, 3), 1).day == date(2023, 6, 5)  # Saturday → Monday
    with pytest.raises(ValueError):
        add_working_days(date(2023, 6, 1), 0)


def test_beyond_the_known_schedule_monday_to_friday_is_estimated():
    first_unknown = date(LAST_KNOWN_YEAR + 1, 1, 1)
    assert is_working_day(first_unknown)[1] is True
    # from the last known December into the unknown January: counted Monday–Friday, flagged
    d = add_working_days(date(LAST_KNOWN_YEAR, 12, 28), 7)
    assert d.estimated and d.day.year == LAST_KNOWN_YEAR + 1 and d.day.weekday() < 5
    # a window that stays inside the known schedule is not flagged
    assert not add_working_days(date(LAST_KNOWN_YEAR, 6, 1), 7).estimated
