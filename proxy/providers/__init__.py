"""Upstream adapters and their registry (a literal dict: kind -> factory)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from proxy.config import ProviderSettings
from proxy.providers.base import Provider
from proxy.providers.handler_api import HandlerApiProvider
from proxy.providers.smspva import SmspvaProvider
from proxy.providers.vaksms import VaksmsProvider

ProviderFactory = Callable[[ProviderSettings, httpx.AsyncClient], Provider]

REGISTRY: dict[str, ProviderFactory] = {
    "handler_api": HandlerApiProvider,
    "smspva": SmspvaProvider,
    "vaksms": VaksmsProvider,
}


def build_provider(settings: ProviderSettings, client: httpx.AsyncClient) -> Provider:
    """The adapter for one configured provider account."""
    return REGISTRY[settings.kind](settings, client)


__all__ = ["REGISTRY", "Provider", "ProviderFactory", "build_provider"]
