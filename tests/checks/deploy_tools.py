"""What the deploy checks share: deploy/k8s's scripts loaded as modules, a YAML reader, and the
Go checkers of deploy/tools as the Makefile builds them.

.venv has no YAML parser (the project writes YAML with services/bus/yaml.py and reads none), so
YAML files are read by PyYAML in the manifests' validator's virtualenv (`make kube-schemas`), as
the tools that load them would read them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CACHE = Path(os.environ.get("VIVRES_CACHE_DIR") or Path.home() / ".cache" / "vivres")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"vivres_k8s_{name}", K8S / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


generate = _load("generate")
schemas = _load("schemas")


def validator_paths() -> Any:
    """Where the validator and its schemas are; the test fails, naming the target, without."""
    paths = schemas.Paths.from_env()
    missing = paths.missing()
    if missing:
        pytest.fail(f"missing {' and '.join(missing)}: run `{schemas.MAKE_TARGET}` once "
                    "(`make test` does)", pytrace=False)
    return paths


_READ = "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)"


def load_yaml(path: Path) -> list[Any]:
    """The documents of a YAML file, as PyYAML reads them."""
    result = subprocess.run([str(validator_paths().python), "-c", _READ, str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{path} is not valid YAML:\n{result.stderr}"
    return [doc for doc in json.loads(result.stdout) if doc is not None]


def go_tool(name: str) -> Path:
    """The build of deploy/tools/NAME for these sources, named as the Makefile names it (their
    sorted contents' hash); the test fails, naming the target, when it is not built."""
    tool = ROOT / "deploy" / "tools" / name
    sources = sorted([*tool.glob("*.go"), *tool.glob("go.*")])
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    built = CACHE / "bin" / f"{name}-{digest}"
    if not built.exists():
        pytest.fail(f"{built} is missing: run `make {name}` once (it builds it with Go; "
                    "`make test` does it first)", pytrace=False)
    return built
