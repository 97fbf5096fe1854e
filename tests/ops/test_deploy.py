"""deploy/: the Kubernetes manifests rendered by kustomize and validated by kubeconform
against the Kubernetes 1.33 schemas (strict: no unknown fields), the Compose file against
the Compose Specification schema, and the properties the issue asks of them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from labelops_cli.stack import versions
from tests.ops.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
SERVICES = ("dataset", "jobs", "assignment", "prelabel", "export")
TARGETS = ("base", "overlays/example")


def render(kustomize: Path, target: str) -> str:
    done = subprocess.run([str(kustomize), "build", str(K8S / target)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"kustomize build {target}:\n{done.stderr}"
    return done.stdout


def kubeconform_check(kubeconform: Path, schemas: Path, manifests: str) -> dict[str, Any]:
    location = str(schemas) + ("/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
                               "/{{ .ResourceKind }}{{ .KindSuffix }}.json")
    done = subprocess.run(
        [str(kubeconform), "-strict", "-summary", "-output", "json",
         "-kubernetes-version", versions.K8S_VERSION, "-schema-location", location, "-"],
        input=manifests, capture_output=True, text=True, timeout=120)
    report: dict[str, Any] = json.loads(done.stdout)
    report["returncode"] = done.returncode
    return report


def objects(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


@pytest.mark.parametrize("target", TARGETS)
def test_kubeconform_validates_the_rendered_manifests(
        target: str, kustomize: Path, kubeconform: Path, k8s_schemas: Path) -> None:
    manifests = render(kustomize, target)
    report = kubeconform_check(kubeconform, k8s_schemas, manifests)
    summary = report["summary"]
    problems = [r for r in report.get("resources", []) if r.get("status") != "statusValid"]
    assert report["returncode"] == 0 and not problems, problems
    assert summary["valid"] == len(objects(manifests)) and summary["skipped"] == 0


def test_kubeconform_would_catch_a_wrong_manifest(
        kustomize: Path, kubeconform: Path, k8s_schemas: Path) -> None:
    docs = objects(render(kustomize, "base"))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {}
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["minReplicas"] = "two"
    report = kubeconform_check(kubeconform, k8s_schemas,
                               yaml.safe_dump_all([deployment, hpa]))
    assert report["returncode"] != 0 and report["summary"]["invalid"] == 2


def test_every_service_runs_as_the_issue_asks(kustomize: Path) -> None:
    docs = objects(render(kustomize, "overlays/example"))
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    secret = next(iter(by_kind["Secret"]))
    config = next(iter(by_kind["ConfigMap"]))
    for service in SERVICES:
        name = f"labelops-{service}"
        pod = by_kind["Deployment"][name]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["grpc"]["port"] == 50051, (service, probe)
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {secret, config}, service  # config by ConfigMap, secrets by Secret
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["LABELOPS_SERVICE_NAME"] == service
        assert container["resources"]["requests"]["cpu"]
        hpa = by_kind["HorizontalPodAutoscaler"][name]["spec"]
        kinds = {m["type"] for m in hpa["metrics"]}
        assert kinds == {"Resource", "External"}, service  # CPU and consumer lag
        lag = next(m for m in hpa["metrics"] if m["type"] == "External")["external"]
        assert lag["metric"]["selector"]["matchLabels"]["group"] == name
        assert name in by_kind["Service"] and name in by_kind["PodDisruptionBudget"]
    settings = by_kind["ConfigMap"][config]["data"]
    assert len(settings["LABELOPS_KAFKA_BOOTSTRAP"].split(",")) == 3  # a Kafka cluster
    assert settings["LABELOPS_KAFKA_REPLICATION_FACTOR"] == "3"
    assert not any(k.endswith(("SECRET_KEY", "JWT_SECRET", "MONGO_URL")) for k in settings)
    secrets = by_kind["Secret"][secret]["data"]
    assert {"LABELOPS_MONGO_URL", "LABELOPS_JWT_SECRET",
            "LABELOPS_MINIO_SECRET_KEY"} <= set(secrets)


def test_every_setting_in_the_config_is_a_service_setting() -> None:
    from labelops_shared.settings import ServiceSettings

    known = {f"LABELOPS_{name.upper()}" for name in ServiceSettings.model_fields}
    config = (K8S / "base" / "config.env").read_text().split()
    secrets = (K8S / "overlays" / "example" / "secrets.example.env").read_text().split()
    unknown = sorted(line.split("=", 1)[0] for line in config + secrets
                     if line.split("=", 1)[0] not in known)
    assert not unknown, f"not read by any service: {unknown}"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification(compose_schema: Path) -> None:
    schema = json.loads(compose_schema.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, errors
    broken = _compose()
    broken["services"]["kafka"]["restart_policy"] = "always"
    assert list(validator.iter_errors(broken))  # the schema does catch mistakes


def test_the_compose_file_runs_the_services_on_official_images() -> None:
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["mongo"]["image"].startswith("mongo:")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    for service in SERVICES:
        spec = services[service]
        assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert spec["environment"]["LABELOPS_SERVICE_NAME"] == service
        assert spec["healthcheck"]["test"][:4] == ["CMD", "python", "-m",
                                                    "labelops_shared.healthcheck"]


def test_one_dockerfile_builds_every_service() -> None:
    text = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert 'python -m \\"services.${LABELOPS_SERVICE_NAME}\\"' in text
    assert "USER 10001" in text
    for service in SERVICES:
        assert (ROOT / "services" / service / "__main__.py").exists()
