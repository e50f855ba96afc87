"""The store page and the hub dashboard in a real headless Chromium (Debian's, via Playwright).

Screenshots go to test-artifacts/; with UPDATE_DOC_SCREENSHOTS=1 they also replace docs/images/.
"""

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import erp_section, hub_and_agents, start
from tests.integration.procs import REPO, AgentProc, HubProc
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


async def no_sideways_scroll(page) -> None:
    """The page fits the viewport's width (phones: nothing to scroll sideways but tables)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width} px wide"


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
    assert "Errno" not in await page.locator("body").inner_text()  # plain words for staff
    await shot(page, "store-offline")
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    await phone.goto(agent.url + "/")
    await no_sideways_scroll(phone)
    await phone.fill("input[name=register]", "R1")
    await phone.fill("input[name=number]", "000003")
    await phone.click("#lookup button")
    assert "waiting to send" in await phone.locator("#found").inner_text()
    await no_sideways_scroll(phone)
    await shot(phone, "store-phone")
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
    retry = page.locator("#dead + div table button", has_text="Retry")
    await page.wait_for_function("document.querySelector('#dead + div table') !== null",
                                 timeout=30_000, polling=500)
    await shot(page, "hub-dashboard")
    erp.reject_skus = set()
    await page.fill("#token", "wrong")
    await page.fill("#actor", "Bob Ops")
    await retry.click()
    await page.wait_for_function("document.getElementById('flash').innerText.includes('401')")
    await page.fill("#token", hub.admin_token)
    await retry.click()
    await page.wait_for_function(
        "document.getElementById('flash').innerText.includes('retry queued')")
    # The page reloads itself after an action; the dead letter goes and the sale is posted.
    await page.wait_for_function("document.querySelector('#dead + div table') === null"
                                 " && document.body.innerText.includes('Dead letters')",
                                 timeout=30_000, polling=500)

    async def all_posted():
        return len(erp.commits) == 3

    await wait_for(all_posted, 30, "the retried sale to reach the ERP")
    assert sorted(erp.commits.values()) == [1, 1, 1]


async def test_store_page_is_green_while_sales_flow_steadily(tmp_path, http, procs, browser):
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    till = Till(agent.url)
    await till.sell_many(http, 1)

    async def status_of_store():
        async with http.get(agent.url + "/v1/status") as r:
            return await r.json()

    async def acked():
        status = await status_of_store()
        return status if status["last_ack_at"] and not status["backlog"]["events"] else None

    await wait_for(acked, 30, "the first sale to be acknowledged")
    stop = asyncio.Event()
    tills = [Till(agent.url, f"R{n}") for n in range(2, 8)]  # a busy store: six tills at once
    selling = [asyncio.create_task(t.sell_until(http, stop, pause=0)) for t in tills]
    levels, flowing = [], 0
    try:
        while flowing < 5 and len(levels) < 400:
            status = await status_of_store()
            levels.append(status["headline"]["level"])
            flowing += status["backlog"]["events"] > 0
    finally:
        stop.set()
        await asyncio.gather(*selling)
    # Sales in flight with acks coming back is "up to date", not a blue "Sending...".
    assert flowing, "never caught a sale on its way: the test proves nothing"
    assert set(levels) == {"ok"}, levels


async def test_dashboard_resubmits_an_edited_payload_finds_and_checks(tmp_path, http, procs,
                                                                     browser, erp):  # noqa: F811
    erp.reject_skus = {"SKU-2"}
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(erp.url))
    await Till(agent.url).sell_many(http, 3)  # sale 000001 is of SKU-2: a dead letter
    async with http.get(hub.url + "/?page=9223372036854775807") as r:
        assert r.status == 422 and (await r.json())["field"] == "page"
    async with http.get(hub.url + "/?day=yesterday") as r:
        assert r.status == 422 and (await r.json())["field"] == "day"
    page = await browser.new_page(viewport={"width": 1200, "height": 1000})
    await page.goto(hub.url + "/")
    await page.wait_for_function("document.querySelector('#dead + div table') !== null",
                                 timeout=30_000, polling=500)
    body = await page.locator("body").inner_text()
    assert "admin_token_file" in body and "demo-data/hub/admin-token" in body
    assert "asked the store to send" in await page.locator("abbr").get_attribute("title")
    workers = await page.locator("#workers + p + div").inner_text()  # the one worker leads
    assert "leads" in workers and "(this page's)" in workers
    await page.wait_for_selector("#activity")
    await page.fill("#token", hub.admin_token)
    await page.click("#dead + div summary")
    editor = page.locator("#dead + div textarea")
    payload = await editor.input_value()
    assert '"SKU-2"' in payload
    await page.fill("#dead + div textarea", payload.replace('"SKU-2"', '"SKU-1"'))
    resubmit = page.locator("#dead + div button", has_text="Resubmit this payload")
    dead_id = await resubmit.get_attribute("data-id")
    await resubmit.click()
    await page.wait_for_function("document.getElementById('flash').innerText.includes('name')")
    await page.fill("#actor", "Alice Ops")
    await resubmit.click()
    await page.wait_for_function(
        "document.getElementById('flash').innerText.includes('resubmit queued')")

    async def all_posted():
        return len(erp.commits) == 3

    await wait_for(all_posted, 30, "the corrected sale to reach the ERP")
    dead = await hub.get(http, f"/v1/postings/{dead_id}")
    shown = dead
    assert shown["audit"][-1]["actor"] == "Alice Ops"
    assert shown["payload"]["lines"][0]["sku"] == "SKU-1"

    await page.goto(hub.url + "/")
    await page.fill("input[name=find]", "S001/R1/000001")
    await page.click("#search button")
    found = await page.locator("#found").inner_text()
    assert dead_id in found and "posted" in found and "DOC-" in found
    await page.goto(hub.url + "/?find=S001")
    assert (await page.locator("#found tr").count()) == 4  # header and the store's 3 postings
    assert "Posted today\n3" in await page.locator(".grid").inner_text()
    await page.fill("input[name=day]", dead["business_day"])
    await page.click("#reconciliation + form button")
    check = await page.locator("#daycheck").inner_text()
    assert "S001" in check and "Differences" in check and "{" not in check
    await shot(page, "hub-dashboard-day-check")
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    await phone.goto(hub.url + "/")
    await no_sideways_scroll(phone)
    await shot(phone, "hub-dashboard-phone")
