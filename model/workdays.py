"""Chinese working days (工作日) for the review cycle (rules.md §9.2).

A working day is a day the State Council's schedule has people at work: Monday–Friday that are
not public holidays, plus the adjusted working weekends (调休, e.g. Sunday 2024-02-18). The
official schedule comes from the maintained package `chinese-calendar` (1.11.0 knows 2004–2026;
each year's schedule is published by the State Council in November/December and the package
follows). "Within N working days of D" counts from the day after D: D + N working days is the Nth
working day after D, the last day a request is in time.

Beyond the last year the package knows, the working days are **estimated** as Monday–Friday (no
holidays, no 调休): a date computed from an estimated day carries `estimated = True`, the marts
carry it in a column, and the run says so in its notes. We do not refuse: the review cycle of a
December notification runs into January, and the operator needs a provisional deadline the day
the notice goes out; the flag says it must be checked once the package knows the year (upgrade
`chinese-calendar`, rerun: deadlines are recomputed from the dates, nothing else changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

FIRST_KNOWN_YEAR = min(chinese_calendar.holidays).year
LAST_KNOWN_YEAR = max(max(chinese_calendar.holidays), max(chinese_calendar.workdays)).year


@dataclass(frozen=True)
class WorkingDay:
    """A computed date and whether any day on the way was estimated (year not in the schedule)."""

    day: date
    estimated: bool


def is_known(day: date) -> bool:
    return FIRST_KNOWN_YEAR <= day.year <= LAST_KNOWN_YEAR


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> tuple[bool, bool]:
    """(is a working day, estimated). Known years: the official schedule; others: Monday–Friday."""
    if is_known(day):
        return chinese_calendar.is_workday(day), False
    return day.weekday() < 5, True


def add_working_days(start: date, n: int) -> WorkingDay:
    """The `n`th working day after `start` (n ≥ 1); `start` itself never counts."""
    if n < 1:
        raise ValueError(f"add_working_days needs n ≥ 1, got {n}")
    day, count, estimated = start, 0, False
    while count < n:
        day += timedelta(days=1)
        working, guessed = is_working_day(day)
        if working:
            count += 1
            estimated |= guessed
    return WorkingDay(day, estimated)
