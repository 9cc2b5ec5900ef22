"""The chat relay's page in a real headless Chromium: type a question, watch the answer arrive."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from conftest import require

import moveworks_async as mw
from moveworks_async.testing import Answer, FakeMoveworks

pytestmark = [pytest.mark.asyncio, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as CI installs it; never a browser downloaded by `playwright install`.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ANSWER = Answer(
    text="John Doe reports to Jane Smith, Director of Platform Engineering.",
    reasoning=("Looking up John Doe in the employee directory",),
    citations=(("Platform org chart", "https://people.example.com/org/platform"),),
    snapshots=5,
)


def async_playwright() -> Any:
    """Playwright's async entry point, or a skip (a failure under CI) when it is missing."""
    require(os.access(CHROMIUM, os.X_OK), f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright as start
    except ImportError:
        require(False, "the playwright Python package is not installed")
    return start()


async def test_page_streams_the_answer_to_two_tabs() -> None:
    """A question typed in one tab streams its answer into that tab and into a second one."""
    playwright = async_playwright()
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    relay = importlib.import_module("relay")
    async with (
        FakeMoveworks(answer=lambda _: ANSWER, stream_delay=0.05) as server,
        mw.AsyncMoveworks(
            assistant_name="acme-capi", token="test-token", base_url=server.url, api_version="v1"
        ) as client,
        TestServer(relay.make_app(client)) as http,
        playwright as p,
    ):
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            asker, watcher = await browser.new_page(), await browser.new_page()
            for page in (asker, watcher):
                await page.goto(str(http.make_url("/")))
                await page.wait_for_function(
                    "document.getElementById('status').textContent === 'connected'"
                )
            await asker.fill("#question", "Who does John Doe report to?")
            await asker.press("#question", "Enter")
            for page in (asker, watcher):
                entry = page.locator('#log > li[data-status="COMPLETED"]')
                await entry.wait_for(timeout=15_000)
                assert await entry.locator(".question").text_content() == (
                    "Who does John Doe report to?"
                )
                assert await entry.locator(".answer").text_content() == ANSWER.text
                steps = await entry.locator(".steps li").all_text_contents()
                assert steps == ["Looking up John Doe in the employee directory"]
                link = entry.locator(".sources a")
                assert await link.get_attribute("href") == "https://people.example.com/org/platform"
        finally:
            await browser.close()
    assert server.stats.stream_opened == 1  # two tabs, one upstream stream
