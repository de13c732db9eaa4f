"""The HTTP API (SPEC 7) served by the running service: answers, auth, and no 500 on bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution_service.service import ExecutionService
from tests.helpers import Names
from tests.service_harness import base_url, running_service

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.001}


@pytest.fixture
async def service(names: Names, sqlite_url: str, redis_client: object
                  ) -> AsyncIterator[ExecutionService]:
    async with running_service(names, sqlite_url, api_token=TOKEN) as running:
        yield running


@pytest.fixture
async def http(service: ExecutionService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(service), timeout=15) as client:
        yield client


async def test_health_ready_and_status(http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    assert health.status_code == 200
    assert health.json()["service"] == "execution_service"
    assert health.json()["status"] == "ok"
    assert (await http.get("/ready")).status_code == 200
    status = (await http.get("/status")).json()
    assert set(status["stats"]) >= {"orders_received", "orders_filled", "orders_rejected",
                                    "start_time"}
    assert status["redis"]["connected"] is True
    assert status["database"]["backend"] == "sqlite"
    assert status["database"]["total_orders"] == 0


async def test_post_order_then_duplicate_then_lookup(http: httpx.AsyncClient) -> None:
    placed = await http.post("/orders", json={**ORDER, "client_id": "api-1"}, headers=AUTH)
    assert placed.status_code == 201
    order = placed.json()
    assert order["status"] == "FILLED"
    again = await http.post("/orders", json={**ORDER, "client_id": "api-1"}, headers=AUTH)
    assert again.status_code == 200
    assert again.json()["order_id"] == order["order_id"]
    assert again.json()["duplicate"] is True
    detail = (await http.get(f"/orders/{order['order_id']}")).json()
    assert [event["status"] for event in detail["events"]] == ["NEW", "FILLED"]
    assert detail["trades"][0]["price"] == order["price"]
    listed = (await http.get("/orders", params={"symbol": "BTC/USDT", "status": "FILLED"})).json()
    assert [o["order_id"] for o in listed] == [order["order_id"]]
    assert (await http.get("/orders", params={"status": "REJECTED"})).json() == []
    trades = (await http.get("/trades")).json()
    assert trades[0]["order_id"] == order["order_id"]
    balances = (await http.get("/balances")).json()
    assert balances["BTC"]["free"] == 0.001


async def test_post_invalid_order_is_400_with_a_reason(http: httpx.AsyncClient) -> None:
    answer = await http.post("/orders", content=b'{"symbol":"BTCUSDT","side":"BUY"}',
                             headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_ORDER"
    assert answer.json()["error_message"] == "quantity is required"


async def test_business_rejection_is_a_stored_order(http: httpx.AsyncClient) -> None:
    answer = await http.post("/orders", json={**ORDER, "quantity": 1000}, headers=AUTH)
    assert answer.status_code == 201
    assert answer.json()["error_code"] == "INSUFFICIENT_BALANCE"
    assert (await http.get(f"/orders/{answer.json()['order_id']}")).status_code == 200


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    answer = await http.post("/orders", content=b"x" * 2_000_000, headers=AUTH)
    assert answer.status_code == 413


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
async def test_state_changes_need_the_bearer_token(http: httpx.AsyncClient,
                                                   headers: dict[str, str]) -> None:
    for method, path in [("POST", "/orders"), ("DELETE", "/orders/MOCK_x"),
                         ("POST", "/kill-switch"), ("DELETE", "/kill-switch")]:
        answer = await http.request(method, path, json=ORDER, headers=headers)
        assert answer.status_code == 401, (method, path)
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_without_api_token_state_changes_are_forbidden(names: Names, sqlite_url: str,
                                                             redis_client: object) -> None:
    async with running_service(names, sqlite_url) as service, \
            httpx.AsyncClient(base_url=base_url(service)) as http:
        answer = await http.post("/orders", json=ORDER, headers=AUTH)
        assert answer.status_code == 403
        assert "API_TOKEN" in answer.json()["detail"]


async def test_cancel_answers_404_unknown_and_409_for_a_filled_order(
    http: httpx.AsyncClient
) -> None:
    assert (await http.delete("/orders/MOCK_unknown", headers=AUTH)).status_code == 404
    order = (await http.post("/orders", json=ORDER, headers=AUTH)).json()
    refused = await http.delete(f"/orders/{order['order_id']}", headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error_code"] == "ORDER_NOT_OPEN"


async def test_kill_switch_endpoints(http: httpx.AsyncClient) -> None:
    engaged = await http.post("/kill-switch", json={"reason": "manual stop"}, headers=AUTH)
    assert engaged.json()["active"] is True
    rejected = (await http.post("/orders", json=ORDER, headers=AUTH)).json()
    assert rejected["error_code"] == "KILL_SWITCH"
    assert (await http.get("/kill-switch")).json()["reason"] == "manual stop"
    assert (await http.delete("/kill-switch", headers=AUTH)).json()["active"] is False
    assert (await http.post("/orders", json=ORDER, headers=AUTH)).json()["status"] == "FILLED"


async def test_unknown_order_is_404_and_bad_queries_are_422(http: httpx.AsyncClient) -> None:
    assert (await http.get("/orders/MOCK_nope")).status_code == 404
    for params in ({"limit": 0}, {"limit": "ten"}, {"status": "DONE"}, {"symbol": "??"}):
        answer = await http.get("/orders", params=params)
        assert answer.status_code == 422, params
        assert answer.json()["detail"]


async def test_metrics_are_prometheus_text_with_the_spec_names(http: httpx.AsyncClient) -> None:
    await http.post("/orders", json=ORDER, headers=AUTH)
    text = (await http.get("/metrics")).text
    for name in ("execution_orders_received_total", "execution_orders_filled_total",
                 "execution_orders_rejected_total", "execution_duplicates_total",
                 "execution_order_latency_seconds_bucket", "execution_batch_size_bucket",
                 "execution_db_commit_seconds_bucket", "execution_intake_pending",
                 "execution_outbox_unsent", "execution_redis_connected",
                 "execution_db_connected", "execution_uptime_seconds"):
        assert name in text, name
    assert 'execution_orders_received_total{source="rest"} 1.0' in text
    assert "execution_redis_connected 1.0" in text


async def test_openapi_describes_every_endpoint(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths) >= {"/health", "/ready", "/status", "/metrics", "/orders",
                          "/orders/{order_id}", "/trades", "/balances", "/kill-switch"}


texts = st.text(max_size=40)
queries = st.dictionaries(st.sampled_from(["limit", "symbol", "status"]), texts, max_size=3)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(path=st.sampled_from(["/orders", "/trades", "/orders/{x}"]), query=queries,
       body=st.binary(max_size=300), order_id=texts)
async def test_no_endpoint_answers_500(http: httpx.AsyncClient, path: str,
                                       query: dict[str, str], body: bytes, order_id: str) -> None:
    target = path.replace("{x}", quote(order_id, safe="") or "x")
    for method in ("GET", "POST", "DELETE"):
        answer = await http.request(method, target, params=query, content=body, headers=AUTH)
        assert answer.status_code < 500 or answer.status_code == 503, (method, target, answer.text)
