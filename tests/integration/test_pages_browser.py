"""The store page and the hub dashboard in a real headless Chromium (Debian's, via Playwright).

Screenshots go to test-artifacts/; with UPDATE_DOC_SCREENSHOTS=1 they also replace docs/images/.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.procs import REPO, AgentProc, HubProc
from tests.integration.test_erp_relay import erp, erp_section  # noqa: F401 - fixture
from tests.integration.test_pipeline import hub_and_agents, start
from tests.integration.tills import Till

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
async def browser():
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM),
                                           args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        await chromium.close()


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_DOC_SCREENSHOTS"):
        (REPO / "docs" / "images").mkdir(exist_ok=True)
        shutil.copyfile(path, REPO / "docs" / "images" / f"{name}.png")


async def test_store_page_while_head_office_is_down_then_back(tmp_path, http, procs, browser):
    hub = HubProc(tmp_path / "hub", ["S001"])  # configured, not started yet
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    page = await browser.new_page(viewport={"width": 900, "height": 1000})
    await page.goto(agent.url + "/")
    headline = page.locator("#headline")
    assert (await headline.inner_text()).startswith("Offline since")
    till = Till(agent.url)
    await till.sell_many(http, 4)
    await page.reload()
    assert "4 sales waiting" in await headline.inner_text()
    await till.sell_many(http, 5)
    await page.reload()
    assert "9 sales waiting" in await headline.inner_text()
    assert "Keep selling: nothing is lost." in await headline.inner_text()
    await shot(page, "store-offline")
    start(procs, hub)
    await hub.ready(http)
    # The page refreshes itself; no reload from the test.
    await page.wait_for_function(
        "document.getElementById('headline').innerText === 'All sales sent to head office'",
        timeout=60_000)
    assert "at head office" in await page.locator("#recent").inner_text()
    await shot(page, "store-online")


async def test_dashboard_retries_a_dead_letter_with_the_admin_token(tmp_path, http, procs, browser,
                                                                    erp):  # noqa: F811
    erp.reject_skus = {"SKU-2"}
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(erp.url))
    await Till(agent.url).sell_many(http, 3)
    page = await browser.new_page(viewport={"width": 1200, "height": 1000})
    await page.goto(hub.url + "/")
    retry = page.locator("#dead + table button", has_text="Retry")
    await page.wait_for_function("document.querySelector('#dead + table') !== null",
                                 timeout=30_000, polling=500)
    await shot(page, "hub-dashboard")
    erp.reject_skus = set()
    await page.fill("#token", "wrong")
    await retry.click()
    await page.wait_for_function("document.getElementById('flash').innerText.includes('401')")
    await page.fill("#token", hub.admin_token)
    await retry.click()
    await page.wait_for_function(
        "document.getElementById('flash').innerText.includes('retry queued')")
    # The page reloads itself after an action; the dead letter goes and the sale is posted.
    await page.wait_for_function("document.querySelector('#dead + table') === null"
                                 " && document.body.innerText.includes('Dead letters')",
                                 timeout=30_000, polling=500)

    async def all_posted():
        return len(erp.commits) == 3

    await wait_for(all_posted, 30, "the retried sale to reach the ERP")
    assert sorted(erp.commits.values()) == [1, 1, 1]
