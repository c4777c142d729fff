"""A small kustomize renderer for deploy/: resources, configMapGenerator and strategic-merge patches.

No kustomize binary is available offline, and deploy/ uses only these features. Anything else in
a kustomization.yaml is refused, so the renderer never silently ignores what kustomize would apply.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

KNOWN = {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "patches"}
# Lists kustomize merges by a key rather than replacing (the strategic-merge keys deploy/ uses).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "name", "ports": "containerPort"}


class KustomizeError(ValueError):
    pass


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[dict]:
    directory = Path(directory)
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    objects: list[dict] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else load_all(path)
    options = spec.get("generatorOptions", {})
    for generator in spec.get("configMapGenerator", []):
        _generate(directory, objects, generator, options)
    for patch in spec.get("patches", []):
        _patch(directory, objects, patch)
    return objects


def find(objects: list[dict], kind: str, name: str) -> dict | None:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) > 1:
        raise KustomizeError(f"{kind}/{name} is defined twice")
    return found[0] if found else None


def _generate(directory: Path, objects: list[dict], generator: dict, options: dict) -> None:
    if not options.get("disableNameSuffixHash"):
        raise KustomizeError("only generators with disableNameSuffixHash: true are rendered here")
    name = generator["name"]
    data = {Path(f).name: (directory / f).read_text() for f in generator.get("files", [])}
    data.update(generator.get("literals") and dict(x.split("=", 1) for x in generator["literals"]) or {})
    metadata = {"name": name}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    made = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
    existing = find(objects, "ConfigMap", name)
    behavior = generator.get("behavior", "create")
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"ConfigMap/{name} exists; use behavior: replace or merge")
        objects.append(made)
    elif behavior in ("replace", "merge"):
        if existing is None:
            raise KustomizeError(f"ConfigMap/{name}: nothing to {behavior}")
        if behavior == "replace":
            existing["data"] = data
        else:
            existing["data"].update(data)
    else:
        raise KustomizeError(f"unknown generator behavior {behavior!r}")


def _patch(directory: Path, objects: list[dict], patch: dict) -> None:
    if set(patch) - {"path", "patch"}:
        raise KustomizeError(f"only path/patch strategic merges are rendered here, not {sorted(patch)}")
    doc = yaml.safe_load((directory / patch["path"]).read_text() if "path" in patch else patch["patch"])
    target = find(objects, doc["kind"], doc["metadata"]["name"])
    if target is None:
        raise KustomizeError(f"patch target {doc['kind']}/{doc['metadata']['name']} not found")
    merge(target, doc)


def merge(target: dict, patch: dict) -> None:
    """Strategic merge: maps merge, named lists merge by key, other lists are replaced."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(target.get(key), list):
            by = MERGE_KEYS[key]
            for item in value:
                match = next((t for t in target[key] if t.get(by) == item.get(by)), None)
                if match is None:
                    target[key].append(copy.deepcopy(item))
                else:
                    merge(match, item)
        else:
            target[key] = copy.deepcopy(value)
