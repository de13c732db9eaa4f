"""A real order book from MARKET_DEPTH_CHANNEL, in the real process: Binance's partial
depth message (combined stream) reaches the engine, Binance's depth endpoint shows it, and
a market order fills level by level against it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import redis

from tests.helpers import REDIS_URL, Names, wait_for_sync
from tests.processes import starter

TOKEN = "book-token"


def test_a_market_order_walks_the_book_the_depth_feed_sent(tmp_path: Path) -> None:
    names = Names.new()
    depth_channel = f"{names.prefix}.depth"
    env = {**names.env(), "API_TOKEN": TOKEN, "MOCK_SUCCESS_RATE": "1",
           "MARKET_DEPTH_CHANNEL": depth_channel}
    with starter(env, tmp_path) as start:
        service = start()
        service.wait_ready()
        redis.Redis.from_url(REDIS_URL).publish(depth_channel, orjson.dumps({
            "stream": "ethusdt@depth5@100ms",
            "data": {"lastUpdateId": 7, "bids": [["2999.50", "1.5"]],
                     "asks": [["3000.50", "0.2"], ["3001.00", "3"]]}}))
        book = wait_for_sync(lambda: (d := service.get("/api/v3/depth?symbol=ETHUSDT").json())
                             ["asks"][:1] == [["3000.50000000", "0.20000000"]] and d,
                             what="the real book in Binance's depth answer")
        assert book["bids"] == [["2999.50000000", "1.50000000"]]
        result = service.send("POST", "/orders", TOKEN, json={
            "symbol": "ETHUSDT", "side": "BUY", "quantity": "0.5"}).json()
        assert result["status"] == "FILLED"
        trades = service.get(f"/orders/{result['order_id']}").json()["trades"]
        assert [(Decimal(str(t["quantity"])), Decimal(str(t["price"]))) for t in trades] == [
            (Decimal("0.2"), Decimal("3000.5")), (Decimal("0.3"), Decimal("3001"))]
