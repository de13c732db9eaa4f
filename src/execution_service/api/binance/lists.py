"""Binance's order lists and their queries (`orderList`, `openOrderList`, `allOrderList`,
`DELETE orderList`):

- OCO (`POST /orderList/oco`, and the older `POST /order/oco`): two orders, one above the
  price and one below; the one that executes first, a fill or a triggered stop, expires
  the other.
- OTO (`POST /orderList/oto`): a working order (LIMIT or LIMIT_MAKER) and a pending order,
  which waits PENDING_NEW, off the book and locking nothing, until the working order fills
  completely, and is placed then.
- OTOCO (`POST /orderList/otoco`): the same with an OCO pair as the pending orders.

In every list, cancelling one order cancels the others. A list is orders of the paper
exchange that name it (`orders.list_ref`, the first order's id; a pending order also
names its working order, `orders.waits_for`), submitted as one command: all accepted or
none. Its `orderListId` is its first order's number; its `listClientOrderId` is kept in
its orders' metadata.
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
_OCO_TYPES = frozenset({OrderType.LIMIT_MAKER, OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT,
                        OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
_WORKING_TYPES = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})
_PENDING_TYPES = frozenset(OrderType)
_BELOW_TYPES = _OCO_TYPES - {OrderType.LIMIT_MAKER}  # (an OTOCO's pending below)


@router.post("/orderList/oco", response_model=schemas.OrderListReport, responses=_TRADING)
async def new_oco(context: Context, request: SignedRequest) -> Answer[schemas.OrderListReport]:
    """An OCO: `above*` and `below*` name its two orders (type, price, stop price, time in
    force, client id), `side` and `quantity` are both's."""
    params = request.params
    return await _new_list(context, request, [(_leg(params, "above"), _OCO_TYPES),
                                              (_leg(params, "below"), _OCO_TYPES)])


@router.post("/order/oco", response_model=schemas.OrderListReport, responses=_TRADING)
async def new_oco_legacy(context: Context, request: SignedRequest
                         ) -> Answer[schemas.OrderListReport]:
    """The older form of an OCO, still sent by some clients: a LIMIT_MAKER at `price` and a
    stop at `stopPrice` (a STOP_LOSS_LIMIT with `stopLimitPrice`), the stop listed first."""
    params = request.params
    shared = {"symbol": params.get("symbol", ""), "side": params.get("side", ""),
              "quantity": params.get("quantity", "")}
    limit = {**shared, "type": "LIMIT_MAKER", "price": params.get("price", ""),
             **_sent(params, newClientOrderId="limitClientOrderId")}
    if not limit["price"]:
        raise BinanceError.missing("price")
    stop = {**shared, **_sent(params, stopPrice="stopPrice", newClientOrderId="stopClientOrderId",
                              price="stopLimitPrice", timeInForce="stopLimitTimeInForce")}
    stop["type"] = "STOP_LOSS_LIMIT" if stop.get("price") else "STOP_LOSS"
    return await _new_list(context, request, [(stop, _OCO_TYPES), (limit, _OCO_TYPES)])


@router.post("/orderList/oto", response_model=schemas.OrderListReport, responses=_TRADING)
async def new_oto(context: Context, request: SignedRequest) -> Answer[schemas.OrderListReport]:
    """An OTO: `working*` name the working order (LIMIT or LIMIT_MAKER), `pending*` the
    order placed when it has filled completely."""
    params = request.params
    return await _new_list(context, request, [
        (_leg(params, "working", "working"), _WORKING_TYPES),
        (_leg(params, "pending", "pending"), _PENDING_TYPES)], pending=1)


@router.post("/orderList/otoco", response_model=schemas.OrderListReport, responses=_TRADING)
async def new_otoco(context: Context, request: SignedRequest
                    ) -> Answer[schemas.OrderListReport]:
    """An OTOCO: `working*` name the working order, `pendingAbove*` and `pendingBelow*` the
    OCO placed when it has filled completely (`pendingSide`, `pendingQuantity` both's)."""
    params = request.params
    return await _new_list(context, request, [
        (_leg(params, "working", "working"), _WORKING_TYPES),
        (_leg(params, "pendingAbove", "pending"), _OCO_TYPES),
        (_leg(params, "pendingBelow", "pending"), _BELOW_TYPES)], pending=2)


async def _new_list(context: Context, request: SignedRequest,
                    legs: list[tuple[dict[str, str], frozenset[OrderType]]], pending: int = 0
                    ) -> Answer[schemas.OrderListReport]:
    """Submit a list's orders, each read from its own parameters and of a type its place
    in the list allows; the last `pending` wait for the first to fill."""
    list_client = new_client_id(request.params.get("listClientOrderId"), "listClientOrderId")
    documents = []
    for leg, allowed in legs:
        if leg["type"] not in allowed:
            raise BinanceError(-1116, "Invalid orderType.")
        document = order_document(context, leg, request.account)
        document[LIST_CLIENT_ID] = list_client
        documents.append(document)
    for document in documents:
        same = await context.reads.account_order(request.account, document["symbol"],
                                                 client_id=document["client_id"])
        if same is not None and same.status.is_open:
            raise BinanceError(-2010, "Duplicate order sent.")
    command = SubmitOrderList(tuple(replace(command_of(d), binance_rules=True)
                                    for d in documents), pending)
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
    return Answer(list_view(await _named_list(context, request.account, request.params)))


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
    report: schemas.OrderListCanceled = {**list_view(after), "orderReports": [
        {"symbol": o.symbol, "origClientOrderId": client_id_of(o), "orderId": number_of(o),
         "orderListId": list_id_of(o, lists),
         "clientOrderId": request.params.get("newClientOrderId") or client_id_of(o),
         "transactTime": ms(o.updated_at), **order_terms(o)} for o in after]}
    return Answer(report)


@router.get("/openOrderList", response_model=list[schemas.OrderList], responses=_SIGNED)
async def open_lists(context: Context, request: SignedRequest) -> Answer[list[schemas.OrderList]]:
    lists = await context.reads.account_lists(request.account, open_only=True)
    return Answer([list_view(orders) for orders in lists])


@router.get("/allOrderList", response_model=list[schemas.OrderList], responses=_SIGNED)
async def all_lists(context: Context, request: SignedRequest) -> Answer[list[schemas.OrderList]]:
    count = parse_limit(request.params.get("limit") or None, 500, 1000)
    lists = await context.reads.account_lists(request.account, limit=count)
    return Answer([list_view(orders) for orders in lists])


def _leg(params: Mapping[str, str], position: str, terms: str = "") -> dict[str, str]:
    """One order's parameters from a list's: its own `{position}Type`, `{position}Price`,
    ..., and the side and quantity it shares (`{terms}Side`, `{terms}Quantity`; an OCO's
    `side` and `quantity`)."""
    shared = {name: f"{terms}{name.title()}" if terms else name for name in ("side", "quantity")}
    leg = {"symbol": params.get("symbol", ""), "type": params.get(f"{position}Type", "")}
    for name, sent in shared.items():
        if not params.get(sent):
            raise BinanceError.missing(sent)
        leg[name] = params[sent]
    leg.update(_sent(params, price=f"{position}Price", stopPrice=f"{position}StopPrice",
                     timeInForce=f"{position}TimeInForce",
                     newClientOrderId=f"{position}ClientOrderId"))
    if not leg["type"]:
        raise BinanceError.missing(f"{position}Type")
    return leg


def _sent(params: Mapping[str, str], **names: str) -> dict[str, str]:
    """An order's parameters under its own names (the keys) from the list's (the values),
    those that were sent."""
    return {name: params[given] for name, given in names.items() if params.get(given)}


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


def list_view(orders: list[Order]) -> schemas.OrderList:
    """A list as Binance's list queries show it: its status and its orders' ids."""
    first = orders[0]
    status, order_status = _list_status(orders)
    contingency = "OTO" if any(order.waits_for for order in orders) else "OCO"
    return {"orderListId": _first_number(orders), "contingencyType": contingency,
            "listStatusType": status, "listOrderStatus": order_status,
            "listClientOrderId": str(first.metadata.get(LIST_CLIENT_ID, "")),
            "transactionTime": ms(first.created_at), "symbol": first.symbol,
            "orders": [{"symbol": o.symbol, "orderId": number_of(o),
                        "clientOrderId": client_id_of(o)} for o in orders]}


def _list_report(orders: list[Order], lists: Mapping[str, int]) -> schemas.OrderListReport:
    """A new list as Binance answers it: the list and each order's report."""
    return {**list_view(orders), "orderReports": [{"symbol": o.symbol, "orderId": number_of(o),
                              "orderListId": list_id_of(o, lists),
                              "clientOrderId": client_id_of(o), "transactTime": ms(o.created_at),
                              **order_terms(o), "workingTime": working_time(o)}
                             for o in orders]}
