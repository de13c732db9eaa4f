"""Binance's order lists: OCO (`POST /orderList/oco`: two orders, one above the price and
one below, where the one that executes first, a fill or a triggered stop, expires the
other, and cancelling either cancels both), and the list queries: `orderList`,
`openOrderList`, `allOrderList`, `DELETE orderList`.

A list is two orders of the paper exchange that name it (`orders.list_ref`, the first
order's id), submitted as one command: both accepted or neither. Its `orderListId` is its
first order's number; its `listClientOrderId` is kept in its orders' metadata. OTO and
OTOCO are not served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import parse_id, parse_limit
from execution_service.api.binance.signing import SignedRequest
from execution_service.api.binance.trading import (
    client_id_of,
    command_of,
    committed,
    list_id_of,
    list_ids,
    ms,
    new_client_id,
    number_of,
    order_document,
    order_terms,
    refusal,
    symbol_param,
    working_time,
)
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.bus.envelope import Envelope, Outcome
from execution_service.domain.commands import CancelOrder, SubmitOrderList
from execution_service.domain.orders import Order, OrderStatus, OrderType, Source

router = APIRouter()
_SIGNED = schemas.problems(400, 401, binance=True)
_TRADING = schemas.problems(400, 401, 503, binance=True)
LIST_CLIENT_ID = "list_client_id"  # metadata: the list's listClientOrderId
_LEG_TYPES = frozenset({OrderType.LIMIT_MAKER, OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT,
                        OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})


@router.post("/orderList/oco", response_model=schemas.OrderListReport, responses=_TRADING)
async def new_oco(context: Context, request: SignedRequest) -> Answer[schemas.OrderListReport]:
    """An OCO: `above*` and `below*` name its two orders (type, price, stop price, time in
    force, client id), `side` and `quantity` are both's."""
    params = request.params
    list_client = new_client_id(params.get("listClientOrderId"), "listClientOrderId")
    documents = [order_document(context, _leg(params, position), request.account)
                 for position in ("above", "below")]
    for document in documents:
        document[LIST_CLIENT_ID] = list_client
        if OrderType(document["order_type"]) not in _LEG_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        same = await context.reads.account_order(request.account, document["symbol"],
                                                 client_id=document["client_id"])
        if same is not None and same.status.is_open:
            raise BinanceError(-2010, "Duplicate order sent.")
    command = SubmitOrderList(tuple(replace(command_of(d), binance_rules=True)
                                    for d in documents))
    reply = await context.gateway.submit(
        Envelope(source=Source.REST, received_at=context.clock.now(), command=command))
    if reply.outcome is Outcome.DUPLICATE:
        raise BinanceError(-2010, "Duplicate order sent.")
    if reply.outcome is Outcome.UNAVAILABLE:
        committed(reply)  # (raises Binance's -1007)
    results: list[Mapping[str, Any]] = reply.body["orders"]
    # The first refused is the cause (those after it are refused for it).
    refused = next((result for result in results if result["status"] == "REJECTED"), None)
    if refused is not None:
        raise refusal(refused)
    orders = [detail.order for result in results
              if (detail := await context.reads.get_order_by_id(str(result["order_id"])))]
    return Answer(_list_report(orders, await list_ids(context, orders)))


@router.get("/orderList", response_model=schemas.OrderList, responses=_SIGNED)
async def query_list(context: Context, request: SignedRequest) -> Answer[schemas.OrderList]:
    return Answer(_list_view(await _named_list(context, request.account, request.params)))


@router.delete("/orderList", response_model=schemas.OrderListCanceled, responses=_TRADING)
async def cancel_list(context: Context, request: SignedRequest
                      ) -> Answer[schemas.OrderListCanceled]:
    """Cancels the list's open orders (cancelling one cancels the other)."""
    symbol = symbol_param(request.params)
    orders = await _named_list(context, request.account, request.params)
    open_orders = [o for o in orders if o.symbol == symbol and o.status.is_open]
    if not open_orders:
        raise BinanceError(-2011, "Unknown order sent.")
    reply = await context.gateway.submit(Envelope(
        source=Source.REST, received_at=context.clock.now(),
        command=CancelOrder(order_id=open_orders[0].order_id, account=request.account)))
    if reply.outcome in (Outcome.NOT_FOUND, Outcome.NOT_OPEN):
        raise BinanceError(-2011, "Unknown order sent.")
    committed(reply)
    after = await context.reads.account_list(request.account, number=_first_number(orders))
    lists = await list_ids(context, after)
    report: schemas.OrderListCanceled = {**_list_view(after), "orderReports": [
        {"symbol": o.symbol, "origClientOrderId": client_id_of(o), "orderId": number_of(o),
         "orderListId": list_id_of(o, lists),
         "clientOrderId": request.params.get("newClientOrderId") or client_id_of(o),
         "transactTime": ms(o.updated_at), **order_terms(o)} for o in after]}
    return Answer(report)


@router.get("/openOrderList", response_model=list[schemas.OrderList], responses=_SIGNED)
async def open_lists(context: Context, request: SignedRequest) -> Answer[list[schemas.OrderList]]:
    lists = await context.reads.account_lists(request.account, open_only=True)
    return Answer([_list_view(orders) for orders in lists])


@router.get("/allOrderList", response_model=list[schemas.OrderList], responses=_SIGNED)
async def all_lists(context: Context, request: SignedRequest) -> Answer[list[schemas.OrderList]]:
    count = parse_limit(request.params.get("limit") or None, 500, 1000)
    lists = await context.reads.account_lists(request.account, limit=count)
    return Answer([_list_view(orders) for orders in lists])


def _leg(params: Mapping[str, str], position: str) -> dict[str, str]:
    """One order's parameters from an OCO's (`aboveType`, `abovePrice`, ...)."""
    leg = {"symbol": params.get("symbol", ""), "side": params.get("side", ""),
           "quantity": params.get("quantity", ""), "type": params.get(f"{position}Type", "")}
    for name, sent in (("price", "Price"), ("stopPrice", "StopPrice"),
                       ("timeInForce", "TimeInForce"), ("newClientOrderId", "ClientOrderId")):
        if params.get(position + sent):
            leg[name] = params[position + sent]
    if not leg["type"]:
        raise BinanceError.missing(f"{position}Type")
    return leg


async def _named_list(context: Context, account: str, params: Mapping[str, str]) -> list[Order]:
    number = parse_id(params.get("orderListId"), "orderListId")
    client_id = params.get("listClientOrderId") or params.get("origClientOrderId") or None
    if number is None and client_id is None:
        raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderListId' must be sent,"
                                  " but both were empty/null!")
    orders = await context.reads.account_list(account, number=number, client_id=client_id)
    if not orders:
        raise BinanceError(-2013, "Order does not exist.")
    return orders


def _first_number(orders: list[Order]) -> int:
    return min(number_of(order) for order in orders)


def _list_status(orders: list[Order]) -> tuple[str, str]:
    """Binance's listStatusType and listOrderStatus."""
    if any(order.status.is_open for order in orders):
        return "EXEC_STARTED", "EXECUTING"
    if all(order.status is OrderStatus.REJECTED for order in orders):
        return "ALL_DONE", "REJECT"
    return "ALL_DONE", "ALL_DONE"


def _list_view(orders: list[Order]) -> schemas.OrderList:
    """A list as Binance's list queries show it: its status and its orders' ids."""
    first = orders[0]
    status, order_status = _list_status(orders)
    return {"orderListId": _first_number(orders), "contingencyType": "OCO",
            "listStatusType": status, "listOrderStatus": order_status,
            "listClientOrderId": str(first.metadata.get(LIST_CLIENT_ID, "")),
            "transactionTime": ms(first.created_at), "symbol": first.symbol,
            "orders": [{"symbol": o.symbol, "orderId": number_of(o),
                        "clientOrderId": client_id_of(o)} for o in orders]}


def _list_report(orders: list[Order], lists: Mapping[str, int]) -> schemas.OrderListReport:
    """A new list as Binance answers it: the list and each order's report."""
    return {**_list_view(orders), "orderReports": [{"symbol": o.symbol, "orderId": number_of(o),
                              "orderListId": list_id_of(o, lists),
                              "clientOrderId": client_id_of(o), "transactTime": ms(o.created_at),
                              **order_terms(o), "workingTime": working_time(o)}
                             for o in orders]}
