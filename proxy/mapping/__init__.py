"""Translation tables between SMS-Activate codes and the upstream providers' codes."""

from proxy.mapping.codes import (
    PROVIDER_KINDS,
    CodeMap,
    Country,
    Overrides,
    Service,
    load_code_map,
)

__all__ = [
    "PROVIDER_KINDS",
    "CodeMap",
    "Country",
    "Overrides",
    "Service",
    "load_code_map",
]
