"""How long an order takes to show in the dashboard: POST /orders sent -> its row in the
page of a real browser (Debian's Chromium through Playwright), the browser's polling
included. Against a running service:

    API_TOKEN=... python bench/dashboard_latency.py --url http://127.0.0.1:8003 --orders 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import httpx
from playwright.sync_api import sync_playwright


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8003")
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page()
        page.goto(args.url + "/")
        page.wait_for_selector("#live.on")
        delays = []
        for _ in range(args.orders):
            started = time.perf_counter()
            result = httpx.post(f"{args.url}/orders", headers=headers, json={
                "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"}).json()
            page.wait_for_selector(f'#orders tr[data-key="{result["order_id"]}"]', timeout=10_000)
            delays.append((time.perf_counter() - started) * 1000)
        browser.close()
    print(f"order sent -> shown in the page: median {statistics.median(delays):.0f} ms, "
          f"max {max(delays):.0f} ms over {len(delays)} orders")


if __name__ == "__main__":
    main()
