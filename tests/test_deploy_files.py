"""deploy/ as shipped (issue 13): its configs load, its files agree with one another and with
the code, and the manifests hold what deploy/README.md promises. No Docker engine or cluster:
.ci/validate-deploy checks the files against the Compose and Kubernetes schemas. The YAML
checks need PyYAML, which the test extras do not install: without it they skip."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from proxy.cli import build_parser
from proxy.config import Settings, load_settings
from proxy.tenants import Tenants

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
SECRET = KUBE / "secret" / "secret.example.yaml"
COMPOSE_CONFIG = DEPLOY / "compose" / "smsproxy.toml"
IMAGE_UID = 10001
# The placeholder client key of the compose and Kubernetes configs (a hash in the files).
PLACEHOLDER_KEY = "change-me"


@pytest.fixture(scope="module")
def yaml() -> Any:
    return pytest.importorskip("yaml", reason="needs PyYAML")


def documents(yaml: Any, path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def kustomized(yaml: Any) -> list[dict[str, Any]]:
    """The documents `kubectl apply -k deploy/kubernetes` applies (its resources)."""
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        docs += documents(yaml, KUBE / resource)
    return docs


@dataclass(frozen=True)
class Image:
    """What deploy/Dockerfile says about the running container."""

    text: str
    workdir: str  # the last WORKDIR
    user: str
    cmd: list[str]


def image() -> Image:
    text = (DEPLOY / "Dockerfile").read_text()
    last = {
        word: re.findall(rf"^{word} (.+)$", text, re.MULTILINE)[-1]
        for word in ("WORKDIR", "USER", "CMD")
    }
    return Image(text, last["WORKDIR"], last["USER"], json.loads(last["CMD"]))


def configmap_toml(yaml: Any) -> str:
    """The smsproxy.toml of the Kubernetes ConfigMap."""
    configmap = one(documents(yaml, KUBE / "smsproxy.yaml"), "ConfigMap", "smsproxy")
    return str(configmap["data"]["smsproxy.toml"])


def load_text(tmp_path: Path, text: str, environ: dict[str, str]) -> Settings:
    config = tmp_path / "smsproxy.toml"
    config.write_text(text)
    return load_settings(config, environ=environ)


# ---------------------------------------------------------------------------------------------
# The image and the example config: the embedded Redis's data dir must be writable (the
# operator's `PermissionError: 'data'` as uid 10001 in a root-owned /app).


def test_image_runs_the_example_config_in_a_directory_of_its_own() -> None:
    built = image()
    settings = load_settings(DEPLOY / "smsproxy.example.toml", environ={})
    assert settings.redis.url == ""  # the example starts an embedded Redis ...
    # ... in data_dir: relative, it lands in the working directory, which uid 10001 owns.
    workdir = Path(built.workdir)
    assert workdir.is_absolute()
    data_dir = Path(os.path.normpath(workdir / settings.redis.data_dir))
    assert data_dir.is_relative_to(workdir)
    assert built.user == f"{IMAGE_UID}:{IMAGE_UID}"  # numeric: runAsNonRoot can check it
    assert f"install -d -o {IMAGE_UID} -g {IMAGE_UID} -m 0750 {workdir}" in built.text
    assert f"--uid {IMAGE_UID}" in built.text and f"--gid {IMAGE_UID}" in built.text
    # The image's command is one `smsproxy` parses, on the port its healthcheck probes.
    assert built.cmd[0] == "smsproxy"
    args = build_parser().parse_args(built.cmd[1:])
    assert f"http://127.0.0.1:{args.port}/health/ready" in built.text
    assert args.host == "0.0.0.0"


def test_the_build_context_is_trimmed_to_what_the_image_copies() -> None:
    copied = set()
    for line in re.findall(r"^COPY (.+)$", image().text, re.MULTILINE):
        copied |= {Path(source).parts[0] for source in line.split()[:-1]}
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore
    assert copied == {line[1:] for line in ignore if line.startswith("!")}


def test_systemd_unit_and_its_install_steps() -> None:
    unit = dict(
        line.split("=", 1)
        for line in (DEPLOY / "smsproxy.service").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert unit["User"] == unit["Group"] == "smsproxy"
    assert unit["ExecStart"] == "/opt/smsproxy/venv/bin/smsproxy serve"
    assert unit["Environment"] == "SMSPROXY_CONFIG=/etc/smsproxy/smsproxy.toml"
    assert unit["EnvironmentFile"] == "-/etc/smsproxy/secrets.env"
    # The example's relative data_dir lands in the working directory, which systemd creates
    # for the user (StateDirectory) and leaves writable under ProtectSystem=strict.
    state = f"/var/lib/{unit['StateDirectory']}"
    assert unit["WorkingDirectory"] == state
    assert state in unit["ReadWritePaths"].split()
    assert unit["ProtectSystem"] == "strict"
    steps = (DEPLOY / "README.md").read_text()
    short = (DEPLOY.parent / "README.md").read_text().split("\n## Deploy\n", 1)[1]
    for text in (steps, short):
        assert re.search(r"useradd --system .*smsproxy", text)
        assert "python3 -m venv /opt/smsproxy/venv" in text
        assert "/etc/smsproxy/smsproxy.toml" in text
        assert "/etc/smsproxy/secrets.env" in text
        assert "systemctl enable --now smsproxy" in text


# ---------------------------------------------------------------------------------------------
# Compose.


def test_compose_config_points_at_the_emulators(tmp_path: Path) -> None:
    settings = load_settings(COMPOSE_CONFIG, environ={})
    assert urlsplit(settings.redis.url).hostname == "redis"
    assert {p.base_url for p in settings.providers.values()} == {
        "http://emulator-smspva:8000",
        "http://emulator-vaksms:8000",
    }
    assert {p.api_key for p in settings.providers.values()} == {"emulator-key"}
    assert settings.providers["smspva"].rent_url == "http://emulator-smspva:8000/api/rent.php"
    assert Tenants(settings.tenants).authenticate(PLACEHOLDER_KEY) is not None
    assert settings.admin.host == "0.0.0.0" and settings.admin.port == 9090
    # Real accounts: secrets.env as the config's comment shows it.
    secrets = {
        "SMSPROXY_PROVIDERS__SMSPVA__API_KEY": "k1",
        "SMSPROXY_PROVIDERS__SMSPVA__BASE_URL": "https://api.smspva.com",
        "SMSPROXY_PROVIDERS__VAKSMS__API_KEY": "k2",
        "SMSPROXY_PROVIDERS__VAKSMS__BASE_URL": "https://vak-sms.ru",
        "SMSPROXY_TENANTS__0__KEY": "real-client-key",
    }
    for variable in secrets:
        assert variable in COMPOSE_CONFIG.read_text()
    real = load_settings(COMPOSE_CONFIG, environ=secrets)
    assert real.providers["smspva"].rent_url == "https://smspva.com/api/rent.php"
    tenants = Tenants(real.tenants)
    assert tenants.authenticate("real-client-key") is not None
    assert tenants.authenticate(PLACEHOLDER_KEY) is None


def test_compose_services(yaml: Any) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    settings = load_settings(COMPOSE_CONFIG, environ={})
    replicas = [name for name in services if name.startswith("smsproxy-")]
    assert len(replicas) == 2
    host_ports = set()
    for name in replicas:
        service = services[name]
        assert "profiles" not in service
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["SMSPROXY_CONFIG"] == "/etc/smsproxy/smsproxy.toml"
        assert service["env_file"] == [{"path": "secrets.env", "required": False}]
        assert "./compose/smsproxy.toml:/etc/smsproxy/smsproxy.toml:ro" in service["volumes"]
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        host_ports |= {port.rsplit(":", 2)[1] for port in service["ports"]}
    assert len(host_ports) == 2
    # Redis: AOF, on a named volume.
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert redis["volumes"][0].endswith(":/data")
    # The emulators: a profile, run with arguments `smsproxy emulate` takes, where the config's
    # base_url points.
    for provider in settings.providers.values():
        url = urlsplit(provider.base_url)
        service = services[str(url.hostname)]
        assert service["profiles"] == ["emulators"]
        assert service["command"][:3] == ["smsproxy", "emulate", provider.kind]
        args = build_parser().parse_args(service["command"][1:])
        assert (args.host, args.port, args.api_key) == ("0.0.0.0", url.port, provider.api_key)
        assert f":{url.port}/" in " ".join(service["healthcheck"]["test"])
    # Prometheus: a profile, scraping both replicas' admin port.
    assert services["prometheus"]["profiles"] == ["monitoring"]
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    (targets,) = job["static_configs"]
    assert sorted(targets["targets"]) == [f"{name}:{settings.admin.port}" for name in replicas]
    # Every file a service mounts is in the repository.
    sentinel = yaml.safe_load((DEPLOY / "compose.sentinel.yaml").read_text())
    for service in [*services.values(), *sentinel["services"].values()]:
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source


def test_compose_sentinel_override(yaml: Any) -> None:
    override = yaml.safe_load((DEPLOY / "compose.sentinel.yaml").read_text())
    services: dict[str, dict[str, Any]] = override["services"]
    sentinels = [name for name in services if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    conf = (DEPLOY / "compose" / "sentinel.conf").read_text()
    monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf, re.MULTILINE)
    assert monitor is not None
    name, host, _, quorum = monitor.groups()
    assert host == "redis" and int(quorum) == len(sentinels) // 2 + 1
    assert services["redis-replica"]["command"][-3:] == ["--replicaof", "redis", "6379"]
    environment = services["smsproxy-1"]["environment"]
    assert services["smsproxy-2"]["environment"] == environment
    assert environment["SMSPROXY_REDIS__SERVICE_NAME"] == name
    redis = load_settings(COMPOSE_CONFIG, environ=environment).redis
    assert (redis.mode, redis.url, redis.service_name) == ("sentinel", "", name)
    assert list(redis.sentinels) == [f"{s}:26379" for s in sentinels]


# ---------------------------------------------------------------------------------------------
# Kubernetes.


def test_kubernetes_configmap_loads_with_the_secret_example(yaml: Any, tmp_path: Path) -> None:
    secret = one(documents(yaml, SECRET), "Secret", "smsproxy")
    environ: dict[str, str] = dict(secret["stringData"])
    assert all(key.startswith("SMSPROXY_") for key in environ)
    settings = load_text(tmp_path, configmap_toml(yaml), environ)
    assert {p.api_key for p in settings.providers.values()} == {"replace"}
    assert Tenants(settings.tenants).authenticate(PLACEHOLDER_KEY) is not None
    # The keys the example leaves commented out are settings too.
    commented = re.findall(r"^  # (SMSPROXY_\w+): ", SECRET.read_text(), re.MULTILINE)
    assert commented
    for variable in commented:
        load_text(tmp_path, configmap_toml(yaml), {**environ, variable: "x"})


def test_kustomization_never_applies_the_secret(yaml: Any) -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (KUBE / resource).is_file(), resource
    assert "secretGenerator" not in kustomization
    assert not [d for d in kustomized(yaml) if d["kind"] == "Secret"]
    # Kept out of the directory, so that `kubectl apply -f deploy/kubernetes/` skips it too.
    for path in KUBE.glob("*.yaml"):
        assert not [d for d in documents(yaml, path) if d.get("kind") == "Secret"], path


def test_deployment(yaml: Any) -> None:
    docs = kustomized(yaml)
    deployment = one(docs, "Deployment", "smsproxy")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    # Security: as the Dockerfile's user, nothing writable but its volumes.
    security = {**pod["securityContext"], **container["securityContext"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == IMAGE_UID and security["runAsGroup"] == IMAGE_UID
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    built = image()
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for writable in ("/tmp", built.workdir):
        assert "emptyDir" in volumes[mounts[writable]], writable
    # Service links would add SMSPROXY_SERVICE_HOST, SMSPROXY_PORT, ... for the Service
    # "smsproxy": smsproxy leaves them alone (no `__`: no setting), and the pod gets none.
    assert pod["enableServiceLinks"] is False
    load_settings(None, environ={"SMSPROXY_SERVICE_HOST": "10.0.0.1", "SMSPROXY_PORT": "tcp://x"})
    # Probes: on the client port the image serves.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == build_parser().parse_args(built.cmd[1:]).port
    probes = {
        kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")
    }
    assert probes["readiness"] == {"path": "/health/ready", "port": "http"}
    assert probes["liveness"] == probes["startup"] == {"path": "/health/live", "port": "http"}
    # Config and keys.
    assert container["envFrom"] == [{"secretRef": {"name": "smsproxy"}}]
    assert volumes[mounts["/etc/smsproxy"]]["configMap"]["name"] == "smsproxy"
    # One replica at a time through a drain.
    budget = one(docs, "PodDisruptionBudget", "smsproxy")["spec"]
    assert budget["selector"] == spec["selector"]
    assert 0 < budget["minAvailable"] < spec["replicas"]


def test_redis_in_the_cluster(yaml: Any, tmp_path: Path) -> None:
    docs = kustomized(yaml)
    statefulset = one(docs, "StatefulSet", "redis")["spec"]
    service = one(docs, "Service", "redis")["spec"]
    assert service["selector"] == statefulset["selector"]["matchLabels"]
    assert statefulset["template"]["metadata"]["labels"] == service["selector"]
    (container,) = statefulset["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--dir") + 1] == "/data"
    (claim,) = statefulset["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    security = {
        **statefulset["template"]["spec"]["securityContext"],
        **container["securityContext"],
    }
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    # smsproxy's config names this Service and its port.
    url = urlsplit(load_text(tmp_path, configmap_toml(yaml), {}).redis.url)
    assert (url.hostname, url.port) == ("redis", service["ports"][0]["port"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl")
def test_kubectl_kustomize_renders_no_secret() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    kinds = sorted(re.findall(r"^kind: (\w+)$", rendered, re.MULTILINE))
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service", "StatefulSet"]
    )
