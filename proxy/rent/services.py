"""SMS-Activate service codes as SMSPVA rental codes, which differ from its activation codes."""

from __future__ import annotations

import functools
import json
from importlib import resources


@functools.cache
def smspva_rent_services() -> dict[str, str]:
    """SMS-Activate code -> SMSPVA rental optNN, from mapping/data/smspva_rent_services.json."""
    text = resources.files("proxy.mapping").joinpath("data/smspva_rent_services.json").read_text()
    return {item["code"]: item["smspva_rent"] for item in json.loads(text)}
