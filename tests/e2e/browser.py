"""What the browser tests share: the system's Chromium driven by Playwright (its own browser
download is never used), a check for script errors and refused loads, and the PNG screenshots
kept in tests/artifacts/."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from playwright.async_api import Page

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path(os.environ.get("VIVRES_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def require_chromium() -> str:
    """The Chromium to drive; the test fails (never skips) without one."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (or set VIVRES_CHROMIUM)")
    return str(CHROMIUM)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def page_problems(page: Page, expected: re.Pattern[str] | None = None) -> list[str]:
    """Script errors, failed loads and refusals by the Content-Security-Policy, as they come;
    console errors matching `expected` (the page's own anticipated refusals) excepted."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not (expected and expected.match(message.text))
            else None)
    return problems
