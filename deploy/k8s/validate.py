"""Validates Kubernetes manifests against their schemas; run by the validator's own Python (the
virtualenv `make kube-schemas` makes, deploy/k8s/schemas.py), which has jsonschema, PyYAML and
kubernetes-validate:

    python validate.py --crds DIR [--crds DIR]... [--kubernetes 1.30,1.37] [--json] FILE...
    python validate.py --crds DIR... [--kubernetes ...] --json --stdin   (a JSON list of objects)

Core objects: kubernetes-validate's strict schemas (an unknown field is an error) of each
Kubernetes version named. Custom resources (Strimzi's, the prometheus-operator's: the CRDs of every
--crds directory): the openAPIV3Schema of the CRD version their
apiVersion names (served, not deprecated), made strict as `kubectl apply` is (its default
field validation refuses unknown fields; x-kubernetes-preserve-unknown-fields keeps its meaning),
with metadata checked against Kubernetes' ObjectMeta. Prints each object's errors (and, with
--json, the objects as parsed); exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, schema_contents
from referencing import Registry, Resource

KUBERNETES = "1.30,1.37"
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # RFC 1035: a Service's name


def strict(schema: Any) -> Any:
    """An openAPIV3Schema as a JSON Schema that refuses unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()
           if key not in ("nullable", "x-kubernetes-int-or-string")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], **out}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (schema.get("type") == "object" and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


class Validator:
    def __init__(self, crd_dirs: list[Path], versions: list[str]) -> None:
        self.versions = versions
        self.crds: dict[tuple[str, str], dict[str, Any]] = {}
        for crd_dir in crd_dirs:
            paths = sorted(crd_dir.glob("*.yaml"))
            if not paths:
                raise SystemExit(f"no CRD in {crd_dir}")
            for path in paths:
                crd = yaml.safe_load(path.read_text(encoding="utf-8"))
                spec = crd["spec"]
                self.crds[(spec["group"], spec["names"]["kind"])] = crd
        self._object_meta: dict[str, Any] = {}

    def errors(self, obj: Any) -> list[str]:
        if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
            return ["not a Kubernetes object (apiVersion and kind)"]
        group = obj["apiVersion"].rpartition("/")[0]
        found = self._custom(obj) if (group, obj["kind"]) in self.crds else self._core(obj)
        return found + self._name(obj)

    def _core(self, obj: dict[str, Any]) -> list[str]:
        found = []
        for version in self.versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except ValidationError as error:
                found.append(f"Kubernetes {version}: {_where(error)}: {error.message}")
            except SchemaNotFoundError as error:
                found.append(error.message)
        return found

    def _custom(self, obj: dict[str, Any]) -> list[str]:
        group, _, version = obj["apiVersion"].rpartition("/")
        crd = self.crds[(group, obj["kind"])]
        served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
        if version not in served:
            return [f"{obj['apiVersion']} {obj['kind']}: not served by the CRD "
                    f"(served: {', '.join(served)})"]
        entry = served[version]
        found = []
        if entry.get("deprecated"):
            found.append(f"{obj['apiVersion']} {obj['kind']}: deprecated "
                         f"({entry.get('deprecationWarning', '')})")
        schema = strict(entry["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}  # checked below, as ObjectMeta
        validator = jsonschema.Draft4Validator(schema)
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            found.append(f"{crd['metadata']['name']} {version}: {_where(error)}: "
                         f"{error.message}")
        for kube in self.versions:
            meta = self._meta_validator(kube)
            for error in meta.iter_errors(obj.get("metadata")):
                path = "".join(f".{part}" for part in error.absolute_path)
                found.append(f"Kubernetes {kube} ObjectMeta: metadata{path}: {error.message}")
        return found

    def _meta_validator(self, version: str) -> Any:
        if version not in self._object_meta:
            directory = f"kubernetes-json-schema/v{version}.0-local-strict"
            schema = schema_contents(f"{directory}/objectmeta-meta-v1.json", version)
            definitions = schema_contents(f"{directory}/_definitions.json", version)
            registry = Resource.from_contents(definitions) @ (
                Resource.from_contents(schema) @ Registry())
            self._object_meta[version] = jsonschema.Draft202012Validator(
                schema, registry=registry)
        return self._object_meta[version]

    @staticmethod
    def _name(obj: dict[str, Any]) -> list[str]:
        name = (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str):
            return ["metadata.name: missing"]
        if obj["kind"] == "Service":
            ok, rule = DNS_LABEL.fullmatch(name) and len(name) <= 63, "an RFC 1035 label"
        else:
            ok, rule = DNS_SUBDOMAIN.fullmatch(name) and len(name) <= 253, "a DNS-1123 subdomain"
        return [] if ok else [f"metadata.name: {name!r} is not {rule}"]


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="validate Kubernetes manifests")
    parser.add_argument("--crds", type=Path, required=True, action="append",
                        help="a directory of CRD YAML files (repeatable)")
    parser.add_argument("--kubernetes", default=KUBERNETES,
                        help=f"Kubernetes versions, comma-separated ({KUBERNETES})")
    parser.add_argument("--json", action="store_true", help="a JSON report on stdout")
    parser.add_argument("--stdin", action="store_true", help="objects as a JSON list on stdin")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    validator = Validator(args.crds, args.kubernetes.split(","))
    sources: list[tuple[str, int, Any]] = []
    if args.stdin:
        sources += [("<stdin>", i, obj) for i, obj in enumerate(json.load(sys.stdin))]
    for path in args.files:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        sources += [(str(path), i, obj) for i, obj in enumerate(docs)]
    report = []
    for source, index, obj in sources:
        meta = obj.get("metadata", {}) if isinstance(obj, dict) else {}
        report.append({"file": source, "index": index,
                       "kind": obj.get("kind") if isinstance(obj, dict) else None,
                       "name": meta.get("name") if isinstance(meta, dict) else None,
                       "errors": validator.errors(obj), "object": obj})
    failed = [r for r in report if r["errors"]]
    if args.json:
        json.dump({"kubernetes": validator.versions,
                   "crds": sorted(c["metadata"]["name"] for c in validator.crds.values()),
                   "documents": report}, sys.stdout)
    else:
        for r in report:
            status = "FAIL" if r["errors"] else "ok"
            print(f"{status:4} {r['file']}#{r['index']} {r['kind']}/{r['name']}")
            for error in r["errors"]:
                print(f"       {error}")
        print(f"{len(report) - len(failed)} valid, {len(failed)} invalid "
              f"(Kubernetes {', '.join(validator.versions)}; CRDs from "
              f"{', '.join(map(str, args.crds))})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
