"""A rental as smsproxy keeps it, and the SMS-Activate rent error words."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class RentStatus(enum.StrEnum):
    """A rental's life: active until finished (status 1), cancelled (2) or run out."""

    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class RentError(enum.StrEnum):
    """Words inside `{"status":"error","message":…}` (seeds/002:773-880, 004:402-535)."""

    BAD_SERVICE = "BAD_SERVICE"
    NO_BALANCE = "NO_BALANCE"
    NO_NUMBERS = "NO_NUMBERS"
    SERVER_ERROR = "SERVER_ERROR"  # 004's name for 002's SQL_ERROR (SPEC-NOTES)
    NO_ID_RENT = "NO_ID_RENT"
    INVALID_PHONE = "INVALID_PHONE"
    STATUS_WAIT_CODE = "STATUS_WAIT_CODE"
    STATUS_CANCEL = "STATUS_CANCEL"
    STATUS_FINISH = "STATUS_FINISH"
    INCORECT_STATUS = "INCORECT_STATUS"  # sic, seeds/002:859
    CANT_CANCEL = "CANT_CANCEL"
    ALREADY_FINISH = "ALREADY_FINISH"
    ALREADY_CANCEL = "ALREADY_CANCEL"
    INVALID_TIME = "INVALID_TIME"
    MAX_HOURS_EXCEED = "MAX_HOURS_EXCEED"
    RENT_DIE = "RENT_DIE"
    OUT_OF_STOCK = "OUT_OF_STOCK"  # seeds/004:415: no numbers left in this country


@dataclass(frozen=True, slots=True)
class RentSms:
    """One SMS on a rented number; `date` is when it came (or was first seen), Unix time."""

    sender: str
    text: str
    date: float


@dataclass(frozen=True, slots=True)
class Rent:
    """One rented number: whose, from which upstream order, until when, and its SMS."""

    id: int
    tenant: str
    provider: str
    order_id: str
    service: str  # SMS-Activate code
    upstream_service: str
    upstream_country: str
    country: int
    phone: str  # digits with the calling code
    created: float
    until: float
    status: RentStatus = RentStatus.ACTIVE
    messages: tuple[RentSms, ...] = ()
    url: str = ""  # the client's webhook, POSTed each new SMS

    def current(self, now: float) -> Rent:
        """As of `now`: an active rental whose time is up is finished (paid and over)."""
        if self.status is RentStatus.ACTIVE and now >= self.until:
            return replace(self, status=RentStatus.FINISHED)
        return self
