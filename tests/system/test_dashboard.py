"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the real
process: it loads without console errors, shows an order placed meanwhile without a
reload, draws the equity chart's points, cancels with the token and is refused without,
and fits a phone's 390 px. Screenshots go to `artifacts/dashboard/`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Names, wait_for_sync
from tests.processes import ServiceProcess, starter

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright.expect

TOKEN = "dashboard-token"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium; .ci/run does)")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {**Names.new().env(), "API_TOKEN": TOKEN, "MOCK_SUCCESS_RATE": "1",
           "EQUITY_INTERVAL_S": "1", "ACCOUNTS": "bot-a"}
    with starter(env, Path(tmp_path_factory.mktemp("dashboard"))) as start:
        process = start()
        process.wait_ready()
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, service: ServiceProcess) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda m: m.type in ("error", "warning") and opened.problems.append(m.text))
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.goto(service.url + "/")
    opened.wait_for_selector("#live.on", timeout=10_000)  # the event stream is open
    yield opened
    context.close()


def order(service: ServiceProcess, **fields: Any) -> dict[str, Any]:
    answer = service.send("POST", "/orders", TOKEN, json={"symbol": "BTCUSDT", "side": "BUY",
                                                           "quantity": "0.01", **fields})
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_orders_and_fills_appear_live_and_the_chart_has_its_points(
        page: Any, service: ServiceProcess) -> None:
    filled = order(service)
    other = order(service, symbol="ETHUSDT", quantity="0.5", account="bot-a")
    for result in (filled, other):  # pushed by the pipeline: no reload, no polling
        page.wait_for_selector(f'#orders tr[data-key="{result["order_id"]}"]', timeout=5_000)
    row = page.inner_text(f'#orders tr[data-key="{filled["order_id"]}"]')
    assert "BTCUSDT" in row
    assert "FILLED" in row
    page.wait_for_selector(f'#trades tr[data-key^="{filled["order_id"]}-"]', timeout=5_000)
    balances = page.inner_text("#balances")
    assert "bot-a" in balances
    assert "ETH" in balances
    # Equity snapshots every second, pushed too: each account's line gains points.
    wait_for_sync(lambda: min(_points(page).values(), default=0) >= 3, timeout_s=10,
                  what="three equity points per account")
    assert set(_points(page)) == {"default", "bot-a"}
    # Fill quality: the taker fills, and every intake-to-result latency counted.
    page.reload()
    page.wait_for_selector("#live.on")
    # (locators, not wait_for_function: the page's CSP forbids the eval it relies on)
    expect(page.locator("#latency-chart rect").first).to_be_attached()
    assert "taker 2 of the last 2 fills" in page.inner_text("#liquidity-text")
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    assert page.problems == []


def test_cancel_needs_the_token(page: Any, service: ServiceProcess) -> None:
    resting = order(service, order_type="LIMIT", price="50000")
    key = f'#open-orders tr[data-key="{resting["order_id"]}"]'
    page.wait_for_selector(key, timeout=5_000)
    page.click(f"{key} button")  # no token typed yet
    page.wait_for_selector("#cancel-error:not([hidden])")
    assert "401" in page.inner_text("#cancel-error") or "token" in page.inner_text("#cancel-error")
    assert service.get(f"/orders/{resting['order_id']}").json()["status"] == "NEW"
    page.screenshot(path=str(ARTIFACTS / "cancel-refused.png"))

    page.fill("#token", TOKEN)
    page.click(f"{key} button")
    page.wait_for_selector(key, state="detached", timeout=5_000)  # gone, live
    assert service.get(f"/orders/{resting['order_id']}").json()["status"] == "CANCELED"
    page.wait_for_selector(f'#orders tr[data-key="{resting["order_id"]}"]:has-text("CANCELED")')


def test_order_detail_shows_its_fills_and_events(page: Any, service: ServiceProcess) -> None:
    filled = order(service, quantity="0.2")  # two levels of the book: two fills
    page.click(f'#orders tr[data-key="{filled["order_id"]}"]', timeout=5_000)
    page.wait_for_selector("#detail:not([hidden])")
    assert page.locator("#detail-fills tbody tr").count() == 2
    events = page.inner_text("#detail-events")
    assert "NEW" in events
    assert "FILLED" in events


def test_the_kill_switch_is_engaged_and_released_with_the_token(
        page: Any, service: ServiceProcess) -> None:
    page.click("#engage")
    page.wait_for_selector("#kill-error:not([hidden])")
    assert service.get("/kill-switch").json()["active"] is False
    page.fill("#token", TOKEN)
    page.click("#engage")
    expect(page.locator("#kill-state")).to_contain_text("ENGAGED")
    assert service.get("/kill-switch").json()["active"] is True
    page.click("#release")
    expect(page.locator("#kill-state")).to_contain_text("released")
    assert service.get("/kill-switch").json()["active"] is False


def test_a_phone_width_never_scrolls_sideways(browser: Any, service: ServiceProcess) -> None:
    order(service)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(service.url + "/")
    phone.wait_for_selector("#live.on", timeout=10_000)
    phone.wait_for_selector("#orders tbody tr")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "phone-390.png"), full_page=True)
    phone.select_option("#account", "bot-a")  # one account
    expect(phone.locator("body")).to_have_class(re.compile("one-account"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_the_pages_carry_a_content_security_policy_and_the_api_docs_work_offline(
        browser: Any, service: ServiceProcess) -> None:
    for path in ("/", "/docs", "/orders"):
        headers = service.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert service.get("/orders").headers["content-security-policy"].startswith(
        "default-src 'none'")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    docs = context.new_page()
    requested: list[str] = []
    problems: list[str] = []
    docs.on("request", lambda request: requested.append(request.url))
    docs.on("console", lambda m: m.type == "error" and problems.append(m.text))
    docs.goto(service.url + "/docs")
    expect(docs.locator(".swagger-ui .info .title")).to_contain_text("execution-service")
    expect(docs.locator(".opblock-summary-path").first).to_be_visible()
    docs.screenshot(path=str(ARTIFACTS / "docs.png"))
    context.close()
    assert [url for url in requested if not url.startswith(service.url)] == []
    assert problems == []


def _points(page: Any) -> dict[str, int]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#equity-chart polyline')].map(l => [l.dataset.account,
        l.getAttribute('points').trim().split(/\\s+/).length]))""")
