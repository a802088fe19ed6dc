"""deploy/compose.yaml: valid against the Compose specification, and wired as the README says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.settings import SERVICES, Settings
from tests.deploy.support import ROOT, run, tool

COMPOSE = ROOT / "deploy/compose.yaml"
ENV_EXAMPLE = ROOT / "deploy/compose/arrears.env.example"


def _check(path: Path) -> tuple[int, str]:
    out = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))
    return out.returncode, out.stdout + out.stderr


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_is_valid_against_the_compose_spec() -> None:
    code, output = _check(COMPOSE)
    assert code == 0, output


def test_the_schema_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace(
            "condition: service_completed_successfully", "condition: service_finished", 1
        )
    )
    code, _ = _check(broken)
    assert code != 0


def test_each_service_starts_after_its_migration_and_scales() -> None:
    services = _compose()["services"]
    for name in SERVICES:
        service = services[name]
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["migrate", name]
        assert service["depends_on"][f"{name}-migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert service["command"][:2] == ["serve", name]
        assert "--no-migrate" in service["command"]
        # A fixed host port would make `--scale NAME=2` collide: the container port only.
        assert service["ports"] == ["8000"]
        assert "container_name" not in service


def _setting_names() -> set[str]:
    names = {name.upper() for name in Settings.model_fields if name != "service"}
    return names | {f"{s.upper()}_{n}" for s in SERVICES for n in ("DATABASE_URL", "POLICY_FILE")}


def test_every_variable_given_to_arrears_is_a_documented_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    given = set(_compose()["x-arrears"]["environment"])
    for service in SERVICES:
        given |= set(_compose()["services"][service]["environment"])
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            given.add(line.split("=", 1)[0])
    assert given <= _setting_names(), given - _setting_names()
    undocumented = {
        name
        for name in given
        if name not in readme and not name.endswith("_DATABASE_URL")  # `<SERVICE>_DATABASE_URL`
    }
    assert not undocumented
