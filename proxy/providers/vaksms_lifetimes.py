"""How long a VAK-SMS order stays open, per service: the one table the proxy and emulator share.

Seed 003 names only the rent window, 4 hours (seeds/003:451), and no window for an ordinary order.
The VAK-SMS client libraries on PyPI carry the per-service table: `vaksms` 2.0,
``vaksms/models/number.py`` (``not_standart_numbers`` and ``Number.__init__``, which falls back to
1200 s for any other service and uses 14400 s for a rent); the same table ships in `aiovaksms`
3.0.2, `synkvaksms` 1.0.0 and `VakSmsApi` 2.0, which share one code base.

`otk`, `cs`, `otp` and `mkb` are in that table but not in seed 003's service list
(seeds/003:31-311); they are kept as the library has them.

Two services on one number (seeds/003:862-865): VAK answers one ``idNum`` per service, so each
order keeps its own service's window. Asked about the comma-joined pair (``"tf,wa"``, the way the
request spells it), :func:`vaksms_lifetime` answers the longer of the two, i.e. how long the
number stays with the buyer: until the last of its orders closes.
"""

from __future__ import annotations

from typing import Final

# vaksms 2.0 models/number.py `not_standart_numbers`, in the library's order.
VAKSMS_LIFETIMES: Final[dict[str, int]] = {
    "tf": 7200,
    "otk": 3600,
    "cs": 3600,
    "strh": 3600,
    "cp": 3600,
    "mg": 3600,
    "otp": 2400,
    "mkb": 2400,
    "ai": 1800,
    "ig": 1800,
    "tw": 1800,
}
VAKSMS_DEFAULT_LIFETIME: Final = 1200  # vaksms 2.0 models/number.py: `.get(self.service, 1200)`
VAKSMS_RENT_LIFETIME: Final = 14400  # vaksms 2.0 models/number.py; seeds/003:451 "4 (four) hours"


def vaksms_lifetime(service: str, rent: bool = False) -> int:
    """Seconds an order for `service` stays open; a rent lasts 14400 s whatever the service.

    `service` is one VAK code, matched exactly as the library does (``dict.get``), or two joined by
    a comma (getNumber's own spelling, seeds/003:863), for which the longer window is answered.
    """
    if rent:
        return VAKSMS_RENT_LIFETIME
    codes = [code.strip() for code in service.split(",") if code.strip()]
    return max(
        (VAKSMS_LIFETIMES.get(code, VAKSMS_DEFAULT_LIFETIME) for code in codes),
        default=VAKSMS_DEFAULT_LIFETIME,
    )
