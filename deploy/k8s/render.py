"""Render a kustomization the way `kustomize build` does, for the subset deploy/k8s uses.

Debian's archive has neither kustomize nor kubectl, and building kustomize from its Go
module would cost every CI run minutes, so CI renders with this; where `kubectl` is on
PATH, tests/deploy checks that `kubectl kustomize` renders the same documents.

The subset, and nothing else (an unknown kustomization field is an error, not ignored):
- `resources`: YAML files, or directories holding a kustomization.yaml (rendered first);
- `namespace`: set on every document;
- `images`: `name` -> `newName` and/or `newTag`, in containers and initContainers;
- `patches` with `path` only: strategic-merge patches found by kind and metadata.name;
  maps merge recursively, lists of maps that all carry `name` merge by name (containers,
  env, volumes), any other list is replaced.

    python deploy/k8s/render.py deploy/k8s/overlays/example > manifests.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}


class RenderError(Exception):
    """The kustomization uses something outside the supported subset, or is inconsistent."""


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents `kustomize build directory` prints, in resource order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise RenderError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise RenderError(f"{directory}: only `patches: - path: FILE` is supported")
        for patch in yaml.safe_load_all((directory / patch_entry["path"]).read_text()):
            if patch:
                _apply_patch(docs, patch, directory / patch_entry["path"])
    for image in kustomization.get("images", []):
        for doc in docs:
            _set_image(doc, image)
    if "namespace" in kustomization:
        for doc in docs:
            doc.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    return docs


def _apply_patch(docs: list[dict[str, Any]], patch: dict[str, Any], source: Path) -> None:
    key = (patch["kind"], patch["metadata"]["name"])
    targets = [d for d in docs if (d["kind"], d["metadata"]["name"]) == key]
    if len(targets) != 1:
        raise RenderError(f"{source}: patch for {key} matches {len(targets)} documents")
    merged = merge(targets[0], patch)
    targets[0].clear()
    targets[0].update(merged)


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge of `patch` onto `base` (the subset described in the module doc)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v) if k in base else v
        return out
    if _named_list(base) and _named_list(patch):
        out_list = list(base)
        index = {item["name"]: i for i, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(item)
        return out_list
    return patch


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _set_image(doc: dict[str, Any], image: dict[str, str]) -> None:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            new = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new}:{new_tag}" if new_tag else new


def main(argv: list[str]) -> None:
    """Print the rendered documents of the kustomization directory in argv[0]."""
    (directory,) = argv
    print(yaml.safe_dump_all(render(Path(directory)), sort_keys=False), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
