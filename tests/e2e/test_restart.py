"""A restart: stop the proxy and the Redis it started itself, start both again, every id
still resolves and new ids keep counting up."""

from __future__ import annotations

from pathlib import Path

import httpx

from proxy.app import create_app
from proxy.config import settings_from_dict
from proxy.serving import ThreadedServer
from tests.conftest import TENANT_KEYS, Upstream, deliver, proxy_config


def start(data_dir: Path, smspva: Upstream, vaksms: Upstream) -> ThreadedServer:
    config = proxy_config("", smspva.url, vaksms.url, prefix="smsproxy")
    config["redis"]["data_dir"] = str(data_dir)
    return ThreadedServer(create_app(settings_from_dict(config))).start()


def call(server: ThreadedServer, tenant: str, **params: str | int) -> str:
    query = {"api_key": TENANT_KEYS[tenant], **params}
    return httpx.get(server.url + "/stubs/handler_api.php", params=query, timeout=10).text


def test_ids_survive_a_restart(tmp_path: Path, smspva: Upstream, vaksms: Upstream) -> None:
    data_dir = tmp_path / "redis"
    server = start(data_dir, smspva, vaksms)
    bought = {}
    for tenant in ("pva", "vak"):
        _, activation_id, phone = call(server, tenant, action="getNumber", service="tg").split(":")
        bought[tenant] = (int(activation_id), phone)
    deliver(smspva, bought["pva"][1], "2468")
    assert call(server, "pva", action="getStatus", id=bought["pva"][0]) == "STATUS_OK:2468"
    server.stop()
    assert (data_dir / "redis.log").exists()

    server = start(data_dir, smspva, vaksms)
    try:
        assert call(server, "pva", action="getStatus", id=bought["pva"][0]) == "STATUS_OK:2468"
        assert call(server, "vak", action="getStatus", id=bought["vak"][0]) == "STATUS_WAIT_CODE"
        assert call(server, "pva", action="getStatus", id=bought["vak"][0]) == "NO_ACTIVATION"
        answer = call(server, "vak", action="getNumber", service="tg")
        assert int(answer.split(":")[1]) > max(i for i, _ in bought.values())
    finally:
        server.stop()
