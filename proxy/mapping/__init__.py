"""Translation tables between SMS-Activate codes and the upstream providers' codes."""

from proxy.mapping.codes import (
    ALL_KINDS,
    IDENTITY_KINDS,
    PROVIDER_KINDS,
    CodeMap,
    Country,
    Overrides,
    Service,
    load_code_map,
)
from proxy.mapping.operators import (
    OperatorMap,
    OperatorOverrides,
    UnhonouredOperator,
    UnmappedOperator,
    load_operator_map,
)
from proxy.mapping.report import unmapped_json, unmapped_report

__all__ = [
    "ALL_KINDS",
    "IDENTITY_KINDS",
    "PROVIDER_KINDS",
    "CodeMap",
    "Country",
    "OperatorMap",
    "OperatorOverrides",
    "Overrides",
    "Service",
    "UnhonouredOperator",
    "UnmappedOperator",
    "load_code_map",
    "load_operator_map",
    "unmapped_json",
    "unmapped_report",
]
