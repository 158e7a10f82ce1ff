"""The pages people open: each is served as one file (what the pages share written into it),
allowed by its Content-Security-Policy and by nothing looser, and `make run` prints them with
the demo's tokens."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from services.bus.pages import INCLUDE, page

ROOT = Path(__file__).resolve().parents[2]
PAGES = [("services.gateway", p.name)
         for p in sorted(resources.files("services.gateway").joinpath("static").iterdir())
         if p.name.endswith(".html")] + [("services.health", "exploitation.html")]


def _sha(body: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


@pytest.mark.parametrize(("package", "name"), PAGES)
def test_a_page_is_one_file_its_policy_allows_exactly(package: str, name: str) -> None:
    served = page(package, name)
    html = served.html.decode("utf-8")
    assert not INCLUDE.search(html), "an inclusion left unexpanded"
    policy = dict(part.strip().split(" ", 1) for part in served.policy.split(";"))
    for tag in ("script", "style"):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        assert policy[f"{tag}-src"].split() == [_sha(b) for b in bodies]
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    # nothing the policy would refuse, hence nothing that would silently not work
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|https?://(?!www\.w3\.org/2000/svg)",
                         html)
    assert not re.search(r"\son[a-z]+=|\sstyle=\"", html), "inline handlers or style attributes"


def test_the_shared_script_is_written_into_the_pages_that_ask_for_it() -> None:
    html = page("services.gateway", "epicerie.html").html.decode("utf-8")
    assert "const V = (() =>" in html and "--accent" in html


def _procs():
    spec = importlib.util.spec_from_file_location("procs", ROOT / "deploy" / "local" / "procs.py")
    module = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "deploy" / "local"))
    return module


def test_make_run_prints_each_page_with_a_demo_token(tmp_path, monkeypatch) -> None:
    tokens = tmp_path / "demo-tokens.json"
    tokens.write_text(json.dumps({"shops": {"lyon-graine": "vvr_shop1", "lyon-b": "vvr_shop2"},
                                  "hub": "vvr_hub", "committees": {"lyon": "vvr_com"}}))
    monkeypatch.setenv("VIVRES_DEMO_TOKENS", str(tokens))
    procs = _procs()
    assert procs._with_token("shops") == "#token=vvr_shop1"  # a group: its first entry
    assert procs._with_token("hub") == "#token=vvr_hub"
    assert procs._with_token("committees.lyon") == "#token=vvr_com"
    assert procs._with_token("treasurers.lyon") == ""  # the demo has none: the bare link
    assert procs._with_token(None) == ""
    pages = {p["url"].rsplit("/", 1)[1]: p.get("token")
             for e in procs.services() for p in e.get("pages", [])}
    assert {"producteurs", "epicerie", "pole", "caisse", "annuaire"} <= set(pages)
    assert all(pages.values()), pages
