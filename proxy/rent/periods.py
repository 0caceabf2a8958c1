"""Rental hours as SMSPVA periods: `dtype` week or month times `dcount` (seeds/001:101-112)."""

from __future__ import annotations

import math
from dataclasses import dataclass

HOUR = 3600.0
DAY = 86_400.0
PERIOD_DAYS = {"week": 7, "month": 30}
MAX_DAYS = 90  # seeds/001:29-31: a rental lasts 90 days at most
MAX_HOURS = MAX_DAYS * 24
PROLONG_WINDOW_DAYS = 7  # seeds/001:25-27: prolong only with less than 7 days left
# SMSPVA's `until` is whole seconds on its own clock: a week just rented may look a second over
# 7 days here while the upstream already allows it. Within this margin the upstream decides.
CLOCK_SLACK = 60.0


@dataclass(frozen=True, slots=True)
class Period:
    """What SMSPVA is asked for, and how long that really is."""

    dtype: str
    dcount: int

    @property
    def days(self) -> int:
        return PERIOD_DAYS[self.dtype] * self.dcount

    @property
    def seconds(self) -> float:
        return self.days * DAY


def covering(hours: int) -> Period:
    """The shortest week or month count that lasts at least `hours` (weeks win a tie)."""
    if hours < 1:
        raise ValueError(f"a rental lasts at least an hour, not {hours}")
    weeks = Period("week", math.ceil(hours / (PERIOD_DAYS["week"] * 24)))
    months = Period("month", math.ceil(hours / (PERIOD_DAYS["month"] * 24)))
    return months if months.days < weeks.days else weeks


def room_hours(until: float, now: float) -> int:
    """Hours a prolongation may still add: whole days up to 90 from now, none before the last
    7 days (seeds/001:25-31; SMSPVA adds whole days, so the hours are whole days too)."""
    if until - now >= PROLONG_WINDOW_DAYS * DAY + CLOCK_SLACK:
        return 0
    return max(0, math.floor((now + MAX_DAYS * DAY - until) / DAY)) * 24
