"""The service's own API (SPEC 7), in-process: orders in, their state, the account's books."""

from __future__ import annotations

from tests.api.conftest import AUTH, Api

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01"}


async def test_an_order_is_created_filled_stored_and_found_again(api: Api) -> None:
    placed = await api.http.post("/orders", json={**ORDER, "client_id": "own-1"}, headers=AUTH)
    assert placed.status_code == 201
    body = placed.json()
    assert (body["status"], body["filled_quantity"], body["client_id"]) == ("FILLED", 0.01, "own-1")

    again = await api.http.post("/orders", json={**ORDER, "client_id": "own-1"}, headers=AUTH)
    assert (again.status_code, again.json()["order_id"], again.json()["duplicate"]) == (
        200, body["order_id"], True)

    detail = (await api.http.get(f"/orders/{body['order_id']}")).json()
    assert [event["status"] for event in detail["events"]] == ["NEW", "FILLED"]
    assert [trade["quantity"] for trade in detail["trades"]] == [0.01]
    listed = (await api.http.get("/orders", params={"symbol": "BTCUSDT"})).json()
    assert [order["order_id"] for order in listed] == [body["order_id"]]
    trades = (await api.http.get("/trades")).json()
    assert trades[0]["order_id"] == body["order_id"]
    assert trades[0]["liquidity"] == "taker"


async def test_the_account_shows_what_the_fill_moved(api: Api) -> None:
    await api.http.post("/orders", json=ORDER, headers=AUTH)
    balances = (await api.http.get("/balances")).json()
    assert balances["BTC"]["free"] == 2.01
    assert balances["USDT"]["free"] < 100000 - 900
    positions = (await api.http.get("/positions")).json()
    assert [(p["symbol"], p["quantity"]) for p in positions] == [("BTCUSDT", 0.01)]
    assert (await api.http.get("/accounts")).json() == ["bot-a", "default"]


async def test_writes_need_the_token_and_a_valid_order(api: Api) -> None:
    assert (await api.http.post("/orders", json=ORDER)).status_code == 401
    wrong = await api.http.post("/orders", json=ORDER, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    refused = await api.http.post("/orders", json={**ORDER, "quantity": "-1"}, headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_ORDER"
    unknown = await api.http.get("/orders/MOCK_nothing")
    assert unknown.status_code == 404


async def test_a_resting_order_is_canceled_and_releases_its_lock(api: Api) -> None:
    placed = (await api.http.post("/orders", json={**ORDER, "order_type": "LIMIT",
                                                   "price": "80000"}, headers=AUTH)).json()
    assert placed["status"] == "NEW"
    assert (await api.http.get("/balances")).json()["USDT"]["locked"] > 800
    canceled = await api.http.delete(f"/orders/{placed['order_id']}", headers=AUTH)
    assert (canceled.status_code, canceled.json()["status"]) == (200, "CANCELED")
    assert (await api.http.get("/balances")).json()["USDT"]["locked"] == 0
    again = await api.http.delete(f"/orders/{placed['order_id']}", headers=AUTH)
    assert again.status_code == 409


async def test_the_kill_switch_rejects_orders_until_released(api: Api) -> None:
    engaged = await api.http.post("/kill-switch", json={"reason": "drill"}, headers=AUTH)
    assert engaged.json()["active"] is True
    assert (await api.http.get("/kill-switch")).json()["reason"] == "drill"
    refused = (await api.http.post("/orders", json=ORDER, headers=AUTH)).json()
    assert (refused["status"], refused["error_code"]) == ("REJECTED", "KILL_SWITCH")
    await api.http.delete("/kill-switch", headers=AUTH)
    assert (await api.http.post("/orders", json=ORDER, headers=AUTH)).json()["status"] == "FILLED"


async def test_status_counts_what_the_pipeline_did(api: Api) -> None:
    await api.http.post("/orders", json=ORDER, headers=AUTH)
    status = (await api.http.get("/status")).json()
    assert status["stats"]["orders_received"] == 1
    assert status["stats"]["orders_filled"] == 1
    assert status["database"] == {"backend": "memory", "connected": True, "error": None,
                                  "total_orders": 1, "orders_by_status": {"FILLED": 1},
                                  "total_trades": 1, "volume": status["database"]["volume"],
                                  "outbox_unsent": 0, "rejected_messages": 0}
    assert (await api.http.get("/health")).json()["status"] == "ok"
