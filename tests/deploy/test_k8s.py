"""deploy/k8s: the example overlay renders to manifests Kubernetes accepts, wired for arrears."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import SERVICES
from tests.deploy.support import ROOT, run

K8S = ROOT / "deploy/k8s"
OVERLAY = K8S / "overlays/example"
# The oldest release still supported upstream when these were written.
KUBERNETES_VERSION = "1.33.0"
# A consumer run handles CONSUMER_MAX_BATCH records in one transaction; seconds.
CONSUMER_BATCH_S = 30

_spec = importlib.util.spec_from_file_location("render", K8S / "render.py")
assert _spec is not None and _spec.loader is not None
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


@pytest.fixture(scope="module")
def docs() -> dict[tuple[str, str], dict[str, Any]]:
    rendered = render.render(OVERLAY)
    by_key = {_key(d): d for d in rendered}
    assert len(by_key) == len(rendered), "two documents share a kind and name"
    return by_key


def test_every_rendered_manifest_is_valid_kubernetes(docs: dict[Any, dict[str, Any]]) -> None:
    for key, doc in docs.items():
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key}: {exc.message}")


def test_the_validator_refuses_an_invalid_manifest(docs: dict[Any, dict[str, Any]]) -> None:
    bad = yaml.safe_load(yaml.safe_dump(docs["Deployment", "accounts"]))
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_kubectl_kustomize_renders_the_same(docs: dict[Any, dict[str, Any]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: render.py alone renders (it is what CI uses)")
    out = run(kubectl, "kustomize", str(OVERLAY))
    assert out.returncode == 0, out.stderr
    theirs = {_key(d): d for d in yaml.safe_load_all(out.stdout) if d}
    assert theirs == docs


def test_each_service_is_deployed_as_an_operator_expects(docs: dict[Any, dict[str, Any]]) -> None:
    partitions = int(docs["ConfigMap", "arrears-config"]["data"]["TOPIC_PARTITIONS"])
    for service in SERVICES:
        pod = docs["Deployment", service]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == "registry.example/arrears:0.1.0"
        assert container["args"][:2] == ["serve", service]
        assert "--no-migrate" in container["args"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"requests", "limits"} <= set(container["resources"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert pod["terminationGracePeriodSeconds"] > CONSUMER_BATCH_S
        assert "preStop" in container["lifecycle"]
        assert (
            docs["Service", service]["spec"]["selector"]
            == (docs["Deployment", service]["spec"]["selector"]["matchLabels"])
        )
        assert ("PodDisruptionBudget", service) in docs
        job = docs["Job", f"{service}-migrate"]
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", service]
        assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
        assert ("Secret", f"{service}-database") in docs
        hpa = docs.get(("HorizontalPodAutoscaler", service))
        if hpa is not None:
            (metric,) = hpa["spec"]["metrics"]
            assert metric["external"]["metric"]["name"] == "arrears_consumer_lag"
            assert set(metric["external"]["metric"]["selector"]["matchLabels"]) == {"group"}
            # Replicas beyond the partitions would sit idle.
            assert hpa["spec"]["maxReplicas"] <= partitions
    assert ("NetworkPolicy", "arrears") in docs


def test_the_keda_alternative_scales_the_base_deployments(
    docs: dict[Any, dict[str, Any]],
) -> None:
    (config,) = (
        d
        for d in yaml.safe_load_all((K8S / "base/common.yaml").read_text())
        if d["kind"] == "ConfigMap"
    )
    base_partitions = int(config["data"]["TOPIC_PARTITIONS"])
    for scaled in yaml.safe_load_all((K8S / "optional/keda/scaledobjects.yaml").read_text()):
        target = scaled["spec"]["scaleTargetRef"]["name"]
        assert ("Deployment", target) in docs
        assert scaled["spec"]["maxReplicaCount"] <= base_partitions


def test_render_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(render.RenderError, match="namePrefix"):
        render.render(tmp_path)


def test_a_patch_merges_named_lists_by_name() -> None:
    base = {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}]}
    patch = {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}
    assert render.merge(base, patch) == {
        "containers": [
            {
                "name": "a",
                "image": "x",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            }
        ]
    }
