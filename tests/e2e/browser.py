"""What the browser tests share: the system's Chromium driven by Playwright (its own browser
download is never used), a check for script errors and refused loads, and the PNG screenshots
kept in tests/artifacts/."""

from __future__ import annotations

import contextlib
import os
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, Playwright

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
CHROMIUM = Path(os.environ.get("VIVRES_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def require_chromium() -> str:
    """The Chromium to drive; the test fails (never skips) without one."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (or set VIVRES_CHROMIUM)")
    return str(CHROMIUM)


@contextlib.asynccontextmanager
async def french_browser(playwright: Playwright, profile: Path, width: int = 1100,
                         height: int = 800) -> AsyncIterator[BrowserContext]:
    """The system's Chromium, headless, in French and Paris time, closed at the end."""
    browser = await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=require_chromium(), headless=True, args=CHROMIUM_ARGS,
        locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": width, "height": height})
    try:
        yield browser
    finally:
        await browser.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


async def keep_screenshot(page: Page, path: Path, *, width: int = 1000, height: int = 600,
                          size: int = 20_000, full_page: bool = True) -> None:
    """A screenshot of `page` kept at `path` (a stale one removed first), at least `width` ×
    `height` pixels and `size` bytes (so a blank or cut page is seen)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    await page.screenshot(path=str(path), full_page=full_page)
    got_width, got_height = png_size(path)
    assert got_width >= width and got_height >= height and path.stat().st_size > size, \
        (got_width, got_height, path.stat().st_size)


def page_problems(page: Page, expected: re.Pattern[str] | None = None) -> list[str]:
    """Script errors, failed loads and refusals by the Content-Security-Policy, as they come;
    console errors matching `expected` (the page's own anticipated refusals) excepted."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not (expected and expected.match(message.text))
            else None)
    return problems


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands (one line each:
    the rule, its help and the first elements). axe is evaluated through the DevTools protocol,
    which the page's Content-Security-Policy does not govern; `make browser` installs it."""
    if not AXE.exists():
        pytest.fail(f"no axe-core at {AXE}: run `make browser`")
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['nodes'])}"
            for v in found if v["impact"] in SERIOUS]


async def kept_at_both_widths(page: Page, name: str,
                              phone_ready: Callable[[], Awaitable[object]] | None = None) -> None:
    """axe-core finds no serious violation at 1280 px nor at 390 px wide, the phone's layout
    scrolls only downwards, and both screenshots are kept (tests/artifacts/<name>.png and
    <name>-phone.png). `phone_ready`: what to wait for once the page is narrowed."""
    found = await accessibility_problems(page)
    assert found == [], found
    await page.evaluate("window.scrollTo(0, 0)")
    await keep_screenshot(page, ARTIFACTS / f"{name}.png", width=1280, height=800)
    await page.set_viewport_size({"width": 390, "height": 844})
    if phone_ready is not None:
        await phone_ready()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    found = await accessibility_problems(page)
    assert found == [], found  # at 390 px
    await keep_screenshot(page, ARTIFACTS / f"{name}-phone.png", width=390, height=800,
                          size=10_000)
