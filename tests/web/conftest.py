"""Browser fixtures: the distribution's Chromium (apt `chromium`) driven by Playwright from PyPI.

No browser is ever downloaded (`playwright install` is not used).  Where /usr/bin/chromium (or
$EXECUTIVE_CHROMIUM) is missing the browser tests are skipped with one reason line, unless CI is
set: then a missing browser is a failure (`make browser` installs it; .ci/run calls that).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("EXECUTIVE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every test saves a screenshot here (git-ignored); `make screenshots` points this at docs/screenshots,
# the README's pictures, so an ordinary test run leaves the committed PNGs alone.
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("EXECUTIVE_SCREENSHOTS", ROOT / "build" / "screenshots"))


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (make browser installs Debian's chromium)"
    return None


_WHY_NOT = _missing()
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

if _WHY_NOT is not None and not _IN_CI:
    # Not collected at all, and said once: one line instead of one skip per test.
    collect_ignore_glob = ["test_*.py"]

    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(f"tests/web: browser tests skipped: {_WHY_NOT}")


@pytest.fixture(autouse=True)
def _browser_required_in_ci() -> None:
    """Under CI a missing browser is a failure of every browser test, never a skip."""
    if _WHY_NOT is not None:
        pytest.fail(f"CI is set but the browser tests cannot run: {_WHY_NOT}")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


class Dashboard:
    """One browser page on one daemon, with the console errors it logged."""

    def __init__(self, page: Any, base: str, token: str | None) -> None:
        self.page = page
        self.base = base
        self.token = token
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))

    async def sign_in(self, token: str | None = None) -> None:
        await self.page.goto(self.base + "/login")
        await self.page.fill("#token", token if token is not None else (self.token or ""))
        await self.page.click("#login-submit")
        await self.page.wait_for_selector("#conn[data-state=ok]", timeout=15000)

    async def go(self, route: str) -> None:
        await self.page.evaluate(f"location.hash = {route!r}")

    async def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


@pytest.fixture
async def open_dashboard(browser: Any) -> AsyncIterator[Any]:
    """``await open_dashboard(daemon_info, token)`` -> a :class:`Dashboard` at 1280×800 (dark theme)."""
    contexts: list[Any] = []

    async def factory(
        info: dict[str, Any], token: str | None, *, width: int = 1280, height: int = 800, theme: str = "dark"
    ) -> Dashboard:
        ctx = await browser.new_context(viewport={"width": width, "height": height}, color_scheme=theme)
        contexts.append(ctx)
        page = await ctx.new_page()
        return Dashboard(page, f"http://{info['host']}:{info['port']}", token)

    yield factory
    for ctx in contexts:
        await ctx.close()
