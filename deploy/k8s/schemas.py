#!/usr/bin/env python3
"""What validating deploy/k8s needs, fetched once into the cache (`make kube-schemas`):

    schemas.py fetch     the validator's virtualenv (deploy/k8s/requirements.txt, from PyPI: it
                         bundles the Kubernetes JSON schemas), Strimzi's CRDs (from Maven
                         Central: io.strimzi:api:STRIMZI_VERSION:jar:tests, whose crds/v1beta2/
                         are the CRDs as that release installs them, every served version's
                         openAPIV3Schema) and the prometheus-operator's CRDs of PodMonitor and
                         PrometheusRule (its Go module, PROMETHEUS_OPERATOR_MODULE at
                         PROMETHEUS_OPERATOR_VERSION, fetched by `go mod download` and checked
                         against its pinned hash: example/prometheus-operator-crd/ holds the
                         CRDs that release installs); idempotent, quick when all are there
    schemas.py paths     print where they are (and exit 1 when one is missing)

Under $VIVRES_CACHE_DIR (else ~/.cache/vivres, as deploy/local/stack.py): k8s/tools-<digest of
requirements.txt>/, k8s/strimzi-<version>/ and k8s/prometheus-operator-<version>/. Standard
library only: it runs before .venv. Go is found as $GO (the Makefile passes its own), else on the
PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"

STRIMZI_VERSION = "0.51.0"
STRIMZI_ARTIFACT = f"io.strimzi:api:{STRIMZI_VERSION}:jar:tests"
# The artifact as Maven Central served it when this was written (its .sha1 was e4adacef...):
# a different file under the same name is refused.
STRIMZI_JAR_SHA256 = "b99f69303dc507ca505b74345d93f5260621bb084b8b79447f726e54b6e66a1d"
STRIMZI_CRDS = ("040-Crd-kafka.yaml", "043-Crd-kafkatopic.yaml", "044-Crd-kafkauser.yaml",
                "045-Crd-kafkanodepool.yaml")
# The prometheus-operator publishes no Maven or PyPI artifact with its CRDs; its Go module carries
# them (Go builds the Compose checker already). The h1: hash is the module's, as go.sum and Go's
# checksum database give it: `go mod download` refuses a module that does not match that database,
# and a module whose hash is not this one is refused here.
PROMETHEUS_OPERATOR_VERSION = "0.85.0"
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_SUM = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
PROMETHEUS_OPERATOR_CRDS = ("monitoring.coreos.com_podmonitors.yaml",
                            "monitoring.coreos.com_prometheusrules.yaml")
MAKE_TARGET = "make kube-schemas"


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def from_env(cls) -> Paths:
        cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        cache = Path(os.environ.get("VIVRES_CACHE_DIR", cache_home / "vivres"))
        return cls(cache / "k8s")

    @property
    def tools(self) -> Path:
        digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
        return self.root / f"tools-{digest}"

    @property
    def python(self) -> Path:
        return self.tools / "bin" / "python"

    @property
    def crds(self) -> Path:
        return self.root / f"strimzi-{STRIMZI_VERSION}"

    @property
    def monitoring_crds(self) -> Path:
        return self.root / f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}"

    @property
    def crd_dirs(self) -> list[Path]:
        """Every directory of CRDs the validator reads (`validate.py --crds` each)."""
        return [self.crds, self.monitoring_crds]

    def missing(self) -> list[str]:
        """What is not there yet, in words (empty when all is)."""
        found = []
        if not (self.tools / ".complete").exists():
            found.append(f"the validator's virtualenv ({self.tools})")
        if not (self.crds / ".complete").exists():
            found.append(f"Strimzi {STRIMZI_VERSION}'s CRDs ({self.crds})")
        if not (self.monitoring_crds / ".complete").exists():
            found.append(f"the prometheus-operator {PROMETHEUS_OPERATOR_VERSION}'s CRDs "
                         f"({self.monitoring_crds})")
        return found


def say(message: str) -> None:
    print(f"[kube-schemas] {message}", flush=True)


def fetch_tools(paths: Paths) -> None:
    if (paths.tools / ".complete").exists():
        return
    say(f"installing the validator ({REQUIREMENTS.name}) into {paths.tools} (once)")
    shutil.rmtree(paths.tools, ignore_errors=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(paths.tools)
    subprocess.run([str(paths.python), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", str(REQUIREMENTS)], check=True)
    (paths.tools / ".complete").write_text(REQUIREMENTS.read_text())
    for older in paths.root.glob("tools-*"):  # made from an earlier requirements.txt
        if older != paths.tools:
            shutil.rmtree(older, ignore_errors=True)


def fetch_crds(paths: Paths) -> None:
    if (paths.crds / ".complete").exists():
        return
    if shutil.which("mvn") is None:
        sys.exit("[kube-schemas] Maven (mvn) is required to fetch Strimzi's CRDs: "
                 "apt-get install maven")
    say(f"fetching {STRIMZI_ARTIFACT} with Maven (once)")
    paths.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="strimzi-", dir=paths.root))
    try:
        command = ["mvn", "-B", "-q", "--no-transfer-progress", "dependency:copy",
                   f"-Dartifact={STRIMZI_ARTIFACT}", f"-DoutputDirectory={staging}"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=staging)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            sys.exit(f"[kube-schemas] Maven failed: {' '.join(command)}")
        [jar] = staging.glob("*.jar")
        digest = hashlib.sha256(jar.read_bytes()).hexdigest()
        if digest != STRIMZI_JAR_SHA256:
            sys.exit(f"[kube-schemas] {jar.name}: sha256 {digest}, expected {STRIMZI_JAR_SHA256}")
        with zipfile.ZipFile(jar) as archive:
            for name in STRIMZI_CRDS:
                (staging / name).write_bytes(archive.read(f"crds/v1beta2/{name}"))
        jar.unlink()
        (staging / ".complete").write_text(
            f"{STRIMZI_ARTIFACT} sha256 {digest}: crds/v1beta2/{{{','.join(STRIMZI_CRDS)}}}\n")
        shutil.rmtree(paths.crds, ignore_errors=True)
        staging.rename(paths.crds)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_monitoring_crds(paths: Paths) -> None:
    target = paths.monitoring_crds
    if (target / ".complete").exists():
        return
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        sys.exit("[kube-schemas] Go is required to fetch the prometheus-operator's CRDs (its Go "
                 "module): install Go 1.24 or later and put go on the PATH")
    module = f"{PROMETHEUS_OPERATOR_MODULE}@v{PROMETHEUS_OPERATOR_VERSION}"
    say(f"fetching the Go module {module} (once)")
    paths.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="prometheus-operator-", dir=paths.root))
    try:
        # outside any Go module (a directory of its own), so that nothing's go.mod changes
        command = [go, "mod", "download", "-json", module]
        result = subprocess.run(command, capture_output=True, text=True, cwd=staging,
                                env={**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"})
        answer = json.loads(result.stdout or "{}")
        if result.returncode != 0 or answer.get("Error"):
            sys.stderr.write(result.stderr[-4000:])
            sys.exit(f"[kube-schemas] {' '.join(command)} failed: {answer.get('Error', '')}")
        if answer.get("Sum") != PROMETHEUS_OPERATOR_SUM:
            sys.exit(f"[kube-schemas] {module}: hash {answer.get('Sum')}, "
                     f"expected {PROMETHEUS_OPERATOR_SUM}")
        inside = f"{module}/example/prometheus-operator-crd"
        with zipfile.ZipFile(answer["Zip"]) as archive:
            for name in PROMETHEUS_OPERATOR_CRDS:
                (staging / name).write_bytes(archive.read(f"{inside}/{name}"))
        (staging / ".complete").write_text(
            f"{module} {answer['Sum']}: example/prometheus-operator-crd/"
            f"{{{','.join(PROMETHEUS_OPERATOR_CRDS)}}}\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fetch what validating deploy/k8s needs")
    parser.add_argument("command", choices=["fetch", "paths"])
    args = parser.parse_args(argv)
    paths = Paths.from_env()
    if args.command == "paths":
        print(f"python {paths.python}")
        for directory in paths.crd_dirs:
            print(f"crds {directory}")
        return 1 if paths.missing() else 0
    started = time.monotonic()
    if not paths.missing():
        return 0
    fetch_tools(paths)
    fetch_crds(paths)
    fetch_monitoring_crds(paths)
    say(f"ready in {time.monotonic() - started:.1f} s: {paths.tools.name}, "
        f"{', '.join(d.name for d in paths.crd_dirs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
