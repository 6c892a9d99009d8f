"""The Kubernetes manifests (deploy/k8s), checked offline: kustomize renders the production overlay, every object
is valid against the schemas of the Kubernetes version docs/deployment.md names (kubernetes-validate; the
ServiceMonitor CRD by hand), and what the manifests say agrees with the code: the settings they set exist, the
probes ask routes the app serves on the port the command listens on, and the grace period outlasts the drain.
No cluster and no Docker: only kubectl's built-in kustomize, which must be installed (a missing kubectl fails)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from entrypoints.cli import build_parser, main
from entrypoints.http.app import create_litestar
from entrypoints.settings import Settings
from tests.support.app import memory_container
from tests.support.settings import setting_names as _setting_names

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PRODUCTION = K8S / "overlays" / "production"
BASE = K8S / "base"
SECRET_TEMPLATE = BASE / "secret.example.yaml"
KUBERNETES_VERSION = "1.32"  # the version docs/deployment.md says the manifests are validated against
PLACEHOLDER = "REPLACE_ME"


def _render(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: the manifests cannot be rendered (this test never skips)")
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return _render(PRODUCTION)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return _render(BASE)


def _secret_template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SECRET_TEMPLATE.read_text())
    return document


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _all(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod templates of the Deployments and Jobs, by workload name."""
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] in {"Deployment", "Job"}}


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [container] = _one(objects, kind, name)["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


def _migrate_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [job] = _all(objects, "Job")
    return job


def _config(objects: list[dict[str, Any]]) -> dict[str, str]:
    [config] = [o for o in _all(objects, "ConfigMap") if o["metadata"]["name"].startswith("parley-config")]
    data: dict[str, str] = config["data"]
    return data


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _pod_labels(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in {"Deployment", "Job"}
    }


# --- rendering and schemas ----------------------------------------------------------------------------------


def test_the_production_overlay_renders_every_part(production: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in production}

    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Service",
        "Deployment",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "NetworkPolicy",
        "Ingress",
    }
    assert {o["metadata"]["name"] for o in _all(production, "Deployment")} == {"parley-api", "parley-worker"}
    assert all(o["metadata"].get("namespace") == "parley" for o in production if o["kind"] != "Namespace")


def test_the_secret_template_is_never_rendered(production: list[dict[str, Any]]) -> None:
    """`kubectl apply -k` must not overwrite the real secret with the template's placeholders."""
    assert _all(production, "Secret") == []


def _validate(document: dict[str, Any]) -> None:
    if document["apiVersion"].startswith("monitoring.coreos.com/"):
        _check_service_monitor_fields(document)  # a CRD: kubernetes-validate has no schema for it
        return
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{document['kind']}/{document['metadata']['name']}: {exc.message} at {list(exc.path)}")


def _check_service_monitor_fields(monitor: dict[str, Any]) -> None:
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"]["name"]
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"}
    assert isinstance(spec["selector"], dict) and spec["selector"].get("matchLabels"), "selector is required"
    assert spec["endpoints"], "at least one endpoint"
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {
            "port",
            "targetPort",
            "path",
            "scheme",
            "interval",
            "scrapeTimeout",
            "honorLabels",
            "authorization",
        }
        assert isinstance(endpoint.get("port"), str), "endpoints scrape a named Service port"
        assert endpoint.get("path", "/metrics").startswith("/")


@pytest.mark.parametrize("overlay", ["production", "base"])
def test_every_rendered_object_is_valid_for_the_documented_kubernetes_version(
    overlay: str, request: pytest.FixtureRequest
) -> None:
    for document in request.getfixturevalue(overlay):
        _validate(document)


def test_the_secret_template_is_valid_and_holds_placeholders_only() -> None:
    secret = _secret_template()
    _validate(secret)

    assert secret["metadata"]["name"] == "parley-secrets"
    for key, value in secret["stringData"].items():
        assert value == "" or PLACEHOLDER in value, f"{key} holds something other than a placeholder"
    assert {"PARLEY_SECRET_KEY", "PARLEY_DATABASE_URL", "PARLEY_REDIS_URL", "PARLEY_BROKER_URL"} <= set(
        secret["stringData"]
    )
    assert {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "OPENAI_API_KEY"} <= set(secret["stringData"])


def test_the_documentation_names_the_validated_kubernetes_version() -> None:
    assert f"Kubernetes {KUBERNETES_VERSION}" in (ROOT / "docs" / "deployment.md").read_text()


# --- the manifests agree with the code ------------------------------------------------------------------------


def _variables_set(objects: list[dict[str, Any]]) -> set[str]:
    names = set(_config(objects)) | set(_secret_template()["stringData"])
    for spec in _pod_specs(objects).values():
        for container in spec["containers"]:
            names.update(variable["name"] for variable in container.get("env", []))
    return names


def test_every_variable_the_manifests_set_is_a_setting(production: list[dict[str, Any]]) -> None:
    unknown = _variables_set(production) - _setting_names()

    assert not unknown, f"not read by entrypoints.settings.Settings: {sorted(unknown)}"


def test_the_configured_values_parse_as_settings(production: list[dict[str, Any]], monkeypatch: Any) -> None:
    for name, value in {**_secret_template()["stringData"], **_config(production)}.items():
        monkeypatch.setenv(name, value)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.email_backend == "smtp" and settings.smtp_tls is True
    assert str(settings.var_dir) == "/var/lib/parley"
    for network in settings.trusted_proxies:
        ipaddress.ip_network(network)
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")


def test_every_workload_reads_the_config_and_the_secret(production: list[dict[str, Any]]) -> None:
    [config] = [o["metadata"]["name"] for o in _all(production, "ConfigMap")]
    for name, spec in _pod_specs(production).items():
        [container] = spec["containers"]
        sources = {(next(iter(s)), next(iter(s.values()))["name"]) for s in container["envFrom"]}
        assert sources == {("configMapRef", config), ("secretRef", "parley-secrets")}, name


def _api_routes(tmp_path: Path) -> set[str]:
    app = create_litestar(memory_container(tmp_path))
    return {route.path for route in app.routes}


def test_every_probe_asks_a_route_the_app_serves_on_the_port_it_listens_on(
    production: list[dict[str, Any]], tmp_path: Path
) -> None:
    routes = _api_routes(tmp_path)
    container = _container(production, "Deployment", "parley-api")
    command = container["command"]
    assert command[:2] == ["parley", "serve"]
    args = build_parser().parse_args(command[1:])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert args.host == "0.0.0.0" and args.no_migrate  # the migration Job migrates, not every API pod
    assert args.workers == 1  # one process per pod: the HPA scales pods
    assert ports == {"http": args.port}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["readinessProbe"]["path"] == "/ready"
    for kind, probe in probes.items():
        assert probe["path"] in routes, f"{kind} asks {probe['path']}, which the app does not serve"
        assert ports.get(probe["port"], probe["port"]) == args.port, kind


def test_the_service_and_the_service_monitor_reach_the_api_port(
    production: list[dict[str, Any]], tmp_path: Path
) -> None:
    service = _one(production, "Service", "parley-api")
    monitor = _one(production, "ServiceMonitor", "parley-api")
    container = _container(production, "Deployment", "parley-api")
    container_ports = {port["name"] for port in container["ports"]}
    service_ports = {port["name"]: port for port in service["spec"]["ports"]}
    api_labels = _pod_labels(production)["parley-api"]

    assert _matches({"matchLabels": service["spec"]["selector"]}, api_labels)
    assert {port["targetPort"] for port in service_ports.values()} <= container_ports
    assert _matches(monitor["spec"]["selector"], service["metadata"]["labels"])
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] in _api_routes(tmp_path)


def test_the_service_monitor_sends_a_metrics_token_exactly_when_the_app_asks_for_one(
    production: list[dict[str, Any]],
) -> None:
    monitor = _one(production, "ServiceMonitor", "parley-api")
    token_setting = "metrics_token" in Settings.model_fields  # PARLEY_METRICS_TOKEN, if the app ever has one

    for endpoint in monitor["spec"]["endpoints"]:
        assert ("authorization" in endpoint) == token_setting


def _drain_seconds(monkeypatch: Any) -> float:
    """The graceful-shutdown timeout `parley serve` hands uvicorn: how long open streams get on SIGTERM."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    for name in ("PARLEY_PUBLIC_URL", "PARLEY_REDIS_URL", "PARLEY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARLEY_PUBLIC_URL", "http://parley.test")  # restored after the test (serve sets it)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]) == 0
    [call] = calls
    return float(call["timeout_graceful_shutdown"])


def test_the_grace_period_outlasts_the_pre_stop_sleep_and_the_stream_drain(
    production: list[dict[str, Any]], monkeypatch: Any
) -> None:
    spec = _one(production, "Deployment", "parley-api")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    sleep = float(pre_stop[1])

    assert 0 < sleep <= 15
    assert spec["terminationGracePeriodSeconds"] > sleep + _drain_seconds(monkeypatch)


def test_every_command_is_one_the_cli_knows(production: list[dict[str, Any]]) -> None:
    worker = _container(production, "Deployment", "parley-worker")["command"]
    migrate = _migrate_job(production)["spec"]["template"]["spec"]["containers"][0]["command"]

    assert worker[:2] == ["parley", "worker"] and migrate == ["parley", "migrate"]
    for command in (worker, migrate):
        build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or option


def test_the_worker_has_no_http_probes(production: list[dict[str, Any]]) -> None:
    container = _container(production, "Deployment", "parley-worker")

    assert "ports" not in container and "readinessProbe" not in container and "startupProbe" not in container
    assert "httpGet" not in container.get("livenessProbe", {})


def test_every_image_and_the_migration_job_name_carry_the_release_tag(production: list[dict[str, Any]]) -> None:
    images = {c["image"] for spec in _pod_specs(production).values() for c in spec["containers"]}
    [image] = images
    tag = image.rsplit(":", 1)[1]

    assert tag not in {"", "latest"}
    assert _migrate_job(production)["metadata"]["name"] == f"parley-migrate-{tag}"
    assert _migrate_job(production)["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# --- security, scaling, traffic --------------------------------------------------------------------------------


def test_every_pod_runs_as_non_root_on_a_read_only_root_with_its_var_dir_mounted(
    production: list[dict[str, Any]],
) -> None:
    var_dir = _config(production)["PARLEY_VAR_DIR"]
    for name, spec in _pod_specs(production).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert {var_dir, "/tmp"} <= mounts, f"{name}: the app writes under {var_dir} and /tmp"


def test_the_base_api_takes_one_cpu_and_one_gib_on_two_replicas(base: list[dict[str, Any]]) -> None:
    api = _one(base, "Deployment", "parley-api")
    [container] = api["spec"]["template"]["spec"]["containers"]

    assert api["spec"]["replicas"] == 2
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }


def test_production_bumps_replicas_and_resources(production: list[dict[str, Any]]) -> None:
    api = _one(production, "Deployment", "parley-api")
    hpa = _one(production, "HorizontalPodAutoscaler", "parley-api")

    assert api["spec"]["replicas"] >= 3
    assert api["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2"
    assert hpa["spec"]["minReplicas"] <= api["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_the_autoscaler_and_the_disruption_budget_cover_the_api(production: list[dict[str, Any]]) -> None:
    hpa = _one(production, "HorizontalPodAutoscaler", "parley-api")
    pdb = _one(production, "PodDisruptionBudget", "parley-api")
    labels = _pod_labels(production)

    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "parley-api"}
    metrics = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"].startswith("parley_http_request_duration_seconds")
    assert "prometheus-adapter" in (BASE / "hpa.yaml").read_text()
    assert [name for name, pod in labels.items() if _matches(pdb["spec"]["selector"], pod)] == ["parley-api"]


def _routed(path: str, ingress_path: dict[str, Any]) -> bool:
    """Whether an Ingress path (Exact, or Prefix matched element by element) takes a request for `path`."""
    prefix = ingress_path["path"]
    if ingress_path["pathType"] == "Exact":
        return path == prefix
    return prefix == "/" or path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")


def test_the_ingress_serves_the_public_url_through_the_api_service(production: list[dict[str, Any]]) -> None:
    ingress = _one(production, "Ingress", "parley-api")
    service = _one(production, "Service", "parley-api")
    [rule] = ingress["spec"]["rules"]
    public = urlsplit(_config(production)["PARLEY_PUBLIC_URL"])

    assert public.scheme == "https" and rule["host"] == public.hostname
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    for path in rule["http"]["paths"]:
        assert path["backend"]["service"]["name"] == "parley-api"
        assert path["backend"]["service"]["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def test_the_ingress_routes_every_public_route_and_neither_metrics_nor_ready(
    production: list[dict[str, Any]], tmp_path: Path
) -> None:
    [rule] = _one(production, "Ingress", "parley-api")["spec"]["rules"]
    paths = rule["http"]["paths"]
    internal = {"/metrics", "/ready"}

    for route in _api_routes(tmp_path):
        routed = any(_routed(route, path) for path in paths)
        assert routed == (route not in internal), route


def _policies(objects: list[dict[str, Any]], policy_type: str) -> list[dict[str, Any]]:
    return [p for p in _all(objects, "NetworkPolicy") if policy_type in p["spec"]["policyTypes"]]


def test_network_policies_deny_by_default(production: list[dict[str, Any]]) -> None:
    deny = _one(production, "NetworkPolicy", "default-deny")

    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_only_the_api_pods_take_traffic_from_the_ingress_controller(production: list[dict[str, Any]]) -> None:
    labels = _pod_labels(production)
    api_port = _container(production, "Deployment", "parley-api")["ports"][0]["containerPort"]
    allowing = [p for p in _policies(production, "Ingress") if p["spec"].get("ingress")]

    sources = set()
    for policy in allowing:
        selected = [name for name, pod in labels.items() if _matches(policy["spec"]["podSelector"], pod)]
        assert selected == ["parley-api"], policy["metadata"]["name"]
        for rule in policy["spec"]["ingress"]:
            assert [port["port"] for port in rule["ports"]] == [api_port]
            for peer in rule["from"]:
                assert set(peer) == {"namespaceSelector"}
                sources.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert "ingress-nginx" in sources
    assert sources <= {"ingress-nginx", "monitoring"}


def _egress_ports(objects: list[dict[str, Any]], pod: dict[str, str]) -> set[int]:
    ports: set[int] = set()
    for policy in _policies(objects, "Egress"):
        if _matches(policy["spec"]["podSelector"], pod):
            for rule in policy["spec"].get("egress", []):
                ports.update(port["port"] for port in rule.get("ports", []))
    return ports


def test_only_parley_pods_reach_the_data_services_and_every_pod_resolves_names(
    production: list[dict[str, Any]],
) -> None:
    data = {5432, 6379, 5672}
    labels = _pod_labels(production)
    stranger = {"app.kubernetes.io/name": "something-else"}

    for name, pod in labels.items():
        assert data | {53} <= _egress_ports(production, pod), name
    assert _egress_ports(production, stranger) == {53}
    assert 443 not in _egress_ports(production, labels[_migrate_job(production)["metadata"]["name"]])
    assert 443 in _egress_ports(production, labels["parley-api"])  # the model providers, Stripe
    for policy in _policies(production, "Egress"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("ports"), f"{policy['metadata']['name']}: an egress rule open on every port"
