"""Every answer is typed once: the handler's return type `Answer[T]` and the route's
`response_model` are the same `T`, so what mypy checks in the handler is what the OpenAPI
document promises."""

from __future__ import annotations

from typing import get_args, get_origin, get_type_hints

from fastapi.routing import APIRoute

from execution_service.api.binance import history, lists, market, sapi, trading
from execution_service.api.responses import Answer
from execution_service.api.routes import account, dashboard, health, kill_switch, orders
from tests.api.conftest import Api

# Answers that are not JSON documents: the metrics' text, the dashboard's page and assets,
# the live feed's event stream.
_NOT_JSON = {"/metrics", "/", "/dashboard/{name}", "/events"}


def test_each_route_declares_the_type_its_handler_answers() -> None:
    routes = [route for module in (health, orders, account, kill_switch, dashboard,
                                   market, history, trading, lists, sapi)
              for route in module.router.routes if isinstance(route, APIRoute)]
    checked = 0
    for route in routes:
        returned = get_type_hints(route.endpoint)["return"]
        if route.path in _NOT_JSON:
            assert get_origin(returned) is not Answer, route.path
            continue
        assert get_origin(returned) is Answer, f"{route.path} answers {returned}"
        (model,) = get_args(returned)
        assert model == route.response_model, f"{route.path}: {model} != {route.response_model}"
        checked += 1
    assert checked >= 50  # (every JSON route of the own API, /api/v3 and /sapi)


async def test_the_openapi_document_shows_the_typed_answers(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["StoredOrder"]["properties"]["quantity"] == {
        "title": "Quantity", "type": "number"}  # an exact decimal, written as a number
    assert schemas["BinanceOrder"]["properties"]["origQty"]["type"] == "string"
    assert "fills" in schemas["OrderFilled"]["required"]
    ok = document["paths"]["/api/v3/order"]["post"]["responses"]["200"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in
            ok["content"]["application/json"]["schema"]["anyOf"]} == {
        "OrderAck", "OrderPlaced", "OrderFilled"}
