"""Binance's SIGNED account and order endpoints: account, order (POST, GET, DELETE),
openOrders (GET, DELETE), allOrders, myTrades.

Each key trades its own sub-account. An order sent here goes through the same pipeline
as one from Redis: committed before it is answered, stored, published on the results
channel and `stream.fills`, counted. Its answer is read back from what was committed.

Order and trade ids are integers, as Binance's: each order's and trade's number, given by
the database when it is stored (increasing, unique across instances, never changed);
`orderId` and `fromId` page by them. The service's own ids (`MOCK_...`) stay on the
pipeline's results. Where this differs from Binance: `quoteOrderQty`, icebergs and
trailing stops are refused with Binance's "not supported" texts.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from execution_service.api import schemas
from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import now_ms, parse_id, parse_limit, parse_time, text
from execution_service.api.binance.signing import SignedRequest
from execution_service.api.deps import Context
from execution_service.api.responses import Answer
from execution_service.bus.envelope import Envelope, Outcome, Reply
from execution_service.domain import codec
from execution_service.domain.commands import CancelOrder, SubmitOrder
from execution_service.domain.orders import (
    ErrorCode,
    Order,
    OrderType,
    Side,
    Source,
    TimeInForce,
    Trade,
)
from execution_service.domain.symbols import split_symbol
from execution_service.engine.models import BPS
from execution_service.errors import InvalidMessage

router = APIRouter()

_ZERO = "0.00000000"
_RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
_CLIENT_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_UNSUPPORTED = {
    "icebergQty": "Iceberg orders are not supported for this symbol.",
    "trailingDelta": "Trailing stop orders are not supported for this symbol.",
    "pegPriceType": "Pegged orders are not supported for this symbol.",
}
# The engine's refusals as Binance words them (-2010 unless said otherwise).
_REFUSALS: dict[ErrorCode, tuple[int, str | None]] = {
    ErrorCode.INSUFFICIENT_BALANCE: (-2010, "Account has insufficient balance for requested action."),
    ErrorCode.WOULD_TAKE: (-2010, "Order would immediately match and take."),
    ErrorCode.WOULD_TRIGGER: (-2010, "Order would trigger immediately."),
    ErrorCode.KILL_SWITCH: (-2010, "This account may not place or cancel orders."),
    ErrorCode.UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    ErrorCode.FILTER_FAILURE: (-1013, None),  # "Filter failure: LOT_SIZE", ...
    ErrorCode.INVALID_ORDER: (-1013, None),
    ErrorCode.MOCK_REJECTION: (-1001, "Internal error; unable to process your request. Please try again."),
    ErrorCode.UNKNOWN_ACCOUNT: (-2015, "Invalid API-key, IP, or permissions for action."),
}
_UNKNOWN_ORDER = "Unknown order sent."
_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$", re.ASCII)
QUOTE_ORDER_QTY = "quote_order_qty"  # metadata: a market order's quoteOrderQty, as sent
_NO_COMMISSION: schemas.CommissionRates = {"maker": _ZERO, "taker": _ZERO, "buyer": _ZERO,
                                           "seller": _ZERO}
_NO_DISCOUNT: schemas.Discount = {"enabledForAccount": False, "enabledForSymbol": False,
                                  "discountAsset": "BNB", "discount": _ZERO}


_SIGNED = schemas.problems(400, 401, binance=True)
_TRADING = schemas.problems(400, 401, 503, binance=True)


@router.get("/account", response_model=schemas.AccountInfo, responses=_SIGNED)
async def account(context: Context, request: SignedRequest) -> Answer[schemas.AccountInfo]:
    fees = context.fees
    balances = await context.reads.get_balances(request.account)
    omit_zero = request.params.get("omitZeroBalances", "false").lower() == "true"
    return Answer({
        "makerCommission": int(fees.maker * BPS), "takerCommission": int(fees.taker * BPS),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": text(fees.maker), "taker": text(fees.taker),
                            "buyer": _ZERO, "seller": _ZERO},
        "canTrade": not context.exchange.kill_switch.active, "canWithdraw": False,
        "canDeposit": False, "brokered": False, "requireSelfTradePrevention": False,
        "preventSor": False, "updateTime": now_ms(context.clock), "accountType": "SPOT",
        "balances": [{"asset": asset, "free": text(amounts["free"]),
                      "locked": text(amounts["locked"])}
                     for asset, amounts in balances.items()
                     if not omit_zero or amounts["free"] or amounts["locked"]],
        "permissions": ["SPOT"], "uid": zlib.crc32(request.account.encode()),
    })


@router.get("/account/commission", response_model=schemas.AccountCommission,
            responses=_SIGNED)
async def account_commission(context: Context, request: SignedRequest
                             ) -> Answer[schemas.AccountCommission]:
    """The symbol's commission rates: the service's fee schedule, no tax, no discount."""
    symbol = symbol_param(request.params)
    fees = context.fees
    return Answer({"symbol": symbol,
                   "standardCommission": {"maker": text(fees.maker), "taker": text(fees.taker),
                                          "buyer": _ZERO, "seller": _ZERO},
                   "specialCommission": _NO_COMMISSION, "taxCommission": _NO_COMMISSION,
                   "discount": _NO_DISCOUNT})


@router.get("/rateLimit/order", response_model=list[schemas.RateLimit], responses=_SIGNED)
async def order_rate_limits(context: Context, request: SignedRequest
                            ) -> Answer[list[schemas.RateLimit]]:
    """The order-count limits: none here (the request weight is counted: api/weights.py)."""
    return Answer([])


@router.post("/order/test", response_model=schemas.OrderTest, responses=_SIGNED)
async def test_order(context: Context, request: SignedRequest) -> Answer[schemas.OrderTest]:
    """Checks a new order as `POST /order` does, up to the exchange's filters at the last
    price, and sends nothing; with `computeCommissionRates=true`, the rates it would pay."""
    params = request.params
    decoded = command_of(order_document(context, params, request.account))
    last = context.exchange.last_price(decoded.symbol)
    filters = context.exchange.markets().get(decoded.symbol)
    if last is None or filters is None:
        raise BinanceError.bad_symbol()
    limit = decoded.price if decoded.order_type.has_limit_price else None
    failure = filters.violation(decoded.order_type, decoded.quantity, limit,
                                decoded.stop_price, last)
    if failure is not None:
        raise BinanceError(-1013, failure)
    if params.get("computeCommissionRates", "false").lower() != "true":
        return Answer({})
    fees = context.fees
    rates: schemas.OrderCommissions = {
        "standardCommissionForOrder": {"maker": text(fees.maker), "taker": text(fees.taker)},
        "specialCommissionForOrder": {"maker": _ZERO, "taker": _ZERO},
        "taxCommissionForOrder": {"maker": _ZERO, "taker": _ZERO}, "discount": _NO_DISCOUNT}
    return Answer(rates)


@router.post("/order", response_model=schemas.NewOrder, responses=_TRADING)
async def new_order(context: Context, request: SignedRequest) -> Answer[schemas.NewOrder]:
    return Answer(await _place(context, request.account, request.params))


@router.post("/order/cancelReplace", response_model=schemas.CancelReplace,
             responses=_TRADING)
async def cancel_replace(context: Context, request: SignedRequest
                         ) -> Answer[schemas.CancelReplace]:
    """Cancel an order and place a new one: with `cancelReplaceMode=STOP_ON_FAILURE`, not
    after a failed cancel; with `ALLOW_FAILURE`, regardless. Each step is committed on
    its own (Binance's matching engine does both at once: here another order may be
    matched between them)."""
    params = request.params
    mode = params.get("cancelReplaceMode")
    if not mode:
        raise BinanceError.missing("cancelReplaceMode")
    if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
        raise BinanceError.illegal("cancelReplaceMode", "STOP_ON_FAILURE, ALLOW_FAILURE")
    named = {"symbol": params.get("symbol", ""), "orderId": params.get("cancelOrderId", ""),
             "origClientOrderId": params.get("cancelOrigClientOrderId", "")}
    if not named["orderId"] and not named["origClientOrderId"]:
        raise BinanceError(-1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be"
                                  " sent, but both were empty/null!")
    canceled: schemas.CanceledOrder | None = None
    cancel_refused: schemas.BinanceProblem | None = None
    try:
        order = await _named_order(context, request.account, named)
        if order is None:
            raise BinanceError(-2011, _UNKNOWN_ORDER)
        canceled = await _cancel(context, order, {"newClientOrderId": new_client_id(
            params.get("cancelNewClientOrderId"), "cancelNewClientOrderId")})
    except BinanceError as refused:
        if refused.code == -1007:  # (unknown whether it was canceled: nothing more)
            raise
        cancel_refused = {"code": refused.code, "msg": refused.msg}
    if canceled is None and mode == "STOP_ON_FAILURE":
        raise BinanceError(-2022, "Order cancel-replace failed.", data={
            "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": cancel_refused, "newOrderResponse": None})
    try:
        placed = await _place(context, request.account, params)
    except BinanceError as refused:
        if refused.code == -1007:
            raise
        raise BinanceError(
            -2021 if canceled is not None else -2022,
            "Order cancel-replace partially failed." if canceled is not None
            else "Order cancel-replace failed.",
            data={"cancelResult": "SUCCESS" if canceled is not None else "FAILURE",
                  "newOrderResult": "FAILURE", "cancelResponse": canceled or cancel_refused,
                  "newOrderResponse": {"code": refused.code, "msg": refused.msg}}) from None
    if canceled is None:  # (ALLOW_FAILURE: the new order went in all the same)
        raise BinanceError(-2021, "Order cancel-replace partially failed.", data={
            "cancelResult": "FAILURE", "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_refused, "newOrderResponse": placed})
    return Answer({"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                   "cancelResponse": canceled, "newOrderResponse": placed})


async def _place(context: Context, account: str, params: Mapping[str, str]) -> schemas.NewOrder:
    """A new order through the pipeline, answered as `newOrderRespType` asks."""
    document = order_document(context, params, account)
    answer = params.get("newOrderRespType") or (
        "FULL" if document["order_type"] in ("MARKET", "LIMIT") else "ACK")
    if answer not in _RESPONSE_TYPES:
        raise BinanceError.illegal("newOrderRespType", "ACK, RESULT, FULL")
    if "newClientOrderId" in params:  # Binance: unique among the account's open orders
        same = await context.reads.account_order(account, document["symbol"],
                                                 client_id=document["client_id"])
        if same is not None and same.status.is_open:
            raise BinanceError(-2010, "Duplicate order sent.")
    command = replace(command_of(document), binance_rules=True)
    reply = await context.gateway.submit(
        Envelope(source=Source.REST, received_at=context.clock.now(), command=command))
    if reply.outcome is Outcome.DUPLICATE:
        raise BinanceError(-2010, "Duplicate order sent.")
    order_id = committed(reply)
    if reply.body.get("status") == "REJECTED":
        raise refusal(reply.body)
    detail = await context.reads.get_order_by_id(order_id)
    assert detail is not None  # committed before the reply
    order = detail.order
    ack: schemas.OrderAck = {"symbol": order.symbol, "orderId": number_of(order), "orderListId": -1,
                             "clientOrderId": client_id_of(order),
                             "transactTime": ms(order.created_at)}
    if answer == "ACK":
        return ack
    placed: schemas.OrderPlaced = {**ack, **order_terms(order),
                                   "workingTime": working_time(order)}
    if answer == "RESULT":
        return placed
    filled: schemas.OrderFilled = {**placed, "fills": [
        {"price": text(t.price), "qty": text(t.quantity), "commission": text(t.fee),
         "commissionAsset": t.fee_asset, "tradeId": number_of(t)} for t in detail.trades]}
    return filled


@router.get("/order", response_model=schemas.BinanceOrder, responses=_SIGNED)
async def query_order(context: Context, request: SignedRequest) -> Answer[schemas.BinanceOrder]:
    order = await _named_order(context, request.account, request.params)
    if order is None:
        raise BinanceError(-2013, "Order does not exist.")
    return Answer(_order_view(order, await list_ids(context, [order])))


@router.delete("/order", response_model=schemas.CanceledOrder, responses=_TRADING)
async def cancel_order(context: Context, request: SignedRequest
                       ) -> Answer[schemas.CanceledOrder]:
    order = await _named_order(context, request.account, request.params)
    if order is None:
        raise BinanceError(-2011, _UNKNOWN_ORDER)
    return Answer(await _cancel(context, order, request.params))


@router.get("/openOrders", response_model=list[schemas.BinanceOrder], responses=_SIGNED)
async def open_orders(context: Context, request: SignedRequest
                      ) -> Answer[list[schemas.BinanceOrder]]:
    symbol = request.params.get("symbol") or None
    if symbol is not None:
        symbol_param(request.params)
    orders = await context.reads.account_orders(request.account, symbol, open_only=True)
    lists = await list_ids(context, orders)
    return Answer([_order_view(order, lists) for order in orders])


@router.delete("/openOrders", response_model=list[schemas.CanceledOrder],
               responses=_TRADING)
async def cancel_open_orders(context: Context, request: SignedRequest
                             ) -> Answer[list[schemas.CanceledOrder]]:
    symbol = symbol_param(request.params)
    orders = await context.reads.account_orders(request.account, symbol, open_only=True)
    canceled = []
    for order in orders:
        try:
            canceled.append(await _cancel(context, order, request.params))
        except BinanceError as refused:
            if refused.code != -2011:  # (one that filled meanwhile is left out)
                raise
    if not canceled:
        raise BinanceError(-2011, _UNKNOWN_ORDER)
    return Answer(canceled)


@router.get("/allOrders", response_model=list[schemas.BinanceOrder], responses=_SIGNED)
async def all_orders(context: Context, request: SignedRequest
                     ) -> Answer[list[schemas.BinanceOrder]]:
    params = request.params
    symbol = symbol_param(params)
    start, end = _time_range(params)
    orders = await context.reads.account_orders(  # with orderId, from that one on
        request.account, symbol, start=start, end=end, limit=_limit(params),
        from_number=parse_id(params.get("orderId"), "orderId"))
    lists = await list_ids(context, orders)
    return Answer([_order_view(order, lists) for order in orders])


@router.get("/myTrades", response_model=list[schemas.AccountTrade], responses=_SIGNED)
async def my_trades(context: Context, request: SignedRequest
                    ) -> Answer[list[schemas.AccountTrade]]:
    params = request.params
    symbol = symbol_param(params)
    start, end = _time_range(params)
    if start is not None and end is not None and end - start > timedelta(hours=24):
        raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
    order_id = None
    if (number := parse_id(params.get("orderId"), "orderId")) is not None:
        order = await context.reads.account_order(request.account, symbol, number=number)
        if order is None:
            return Answer([])
        order_id = order.order_id
    trades = await context.reads.account_trades(  # with fromId, from that trade on
        request.account, symbol, order_id=order_id, start=start, end=end, limit=_limit(params),
        from_number=parse_id(params.get("fromId"), "fromId"))
    numbers = await context.reads.order_numbers({trade.order_id for trade in trades})
    return Answer([_trade_view(trade, numbers) for trade in trades])


# Reading the parameters


def command_of(document: dict[str, Any]) -> SubmitOrder:
    try:
        decoded = codec.decode_mapping(document)
    except InvalidMessage as invalid:
        raise BinanceError(-1013, invalid.reason) from None
    assert isinstance(decoded, SubmitOrder)  # (a document with a side is an order)
    return decoded


def order_document(context: Context, params: Mapping[str, str], account: str
                    ) -> dict[str, Any]:
    """A new order's parameters as the service's order message (see `codec`); a market
    order's `quoteOrderQty` as the quantity the book holds for it now."""
    for name, refusal in _UNSUPPORTED.items():
        if params.get(name):
            raise BinanceError(-2010, refusal)
    symbol = symbol_param(params)
    side = _choice(params, "side", Side.__members__, -1117, "Invalid side.")
    kind = _choice(params, "type", OrderType.__members__, -1116, "Invalid orderType.")
    order_type = OrderType(kind)
    tif = _time_in_force(params, order_type)
    quote = _decimal(params, "quoteOrderQty", required=False)
    for name, wanted in (("price", order_type.has_limit_price),
                         ("stopPrice", order_type.has_stop_price),
                         ("quoteOrderQty", order_type is OrderType.MARKET),
                         ("quantity", quote is None)):
        if params.get(name) and not wanted:
            raise BinanceError(-1106, f"Parameter '{name}' sent when not required.")
    document: dict[str, Any] = {
        "symbol": symbol, "side": side, "order_type": kind, "time_in_force": tif,
        "quantity": (_decimal(params, "quantity", required=True) if quote is None
                     else _quantity_for(context, symbol, Side(side), Decimal(quote))),
        "price": _decimal(params, "price", required=order_type.has_limit_price),
        "stop_price": _decimal(params, "stopPrice", required=order_type.has_stop_price),
        "client_id": new_client_id(params.get("newClientOrderId")),
        "strategy_id": params.get("strategyId") or None, "account": account,
    }
    if quote is not None:
        document[QUOTE_ORDER_QTY] = quote  # (kept in the order's metadata)
    return document


def _choice(params: Mapping[str, str], name: str, names: Mapping[str, Any], code: int,
            refusal: str) -> str:
    """A mandatory parameter that must be one of `names`."""
    value = params.get(name, "")
    if not value:
        raise BinanceError.missing(name)
    if value not in names:
        raise BinanceError(code, refusal)
    return value


def _time_in_force(params: Mapping[str, str], order_type: OrderType) -> str | None:
    """`timeInForce`: required for limit types but LIMIT_MAKER, refused for the others."""
    tif = params.get("timeInForce") or None
    if tif is not None and tif not in TimeInForce.__members__:
        raise BinanceError(-1115, "Invalid timeInForce.")
    needed = order_type.has_limit_price and order_type is not OrderType.LIMIT_MAKER
    if needed and tif is None:
        raise BinanceError.missing("timeInForce")
    if tif is not None and not needed:
        raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
    return tif


def _quantity_for(context: Context, symbol: str, side: Side, quote: Decimal) -> str:
    """What a market order of `quote` in the quote asset buys (or sells) walking the book
    now, down to the lot step, as Binance sizes a `quoteOrderQty` order."""
    book = context.exchange.book(symbol, 5000)
    filters = context.exchange.markets().get(symbol)
    if book is None or filters is None:
        raise BinanceError.bad_symbol()
    levels = book[1] if side is Side.BUY else book[0]  # a buy walks the asks
    left, bought = quote, Decimal(0)
    for level in levels:
        value = left if level.quantity is None else min(left, level.quantity * level.price)
        bought += value / level.price
        left -= value
        if left <= 0:
            break
    quantity = filters.floor_to_step(bought)
    if quantity <= 0:
        raise BinanceError(-1013, f"Filter failure: {filters.notional_filter}")
    return str(quantity)


def symbol_param(params: Mapping[str, str]) -> str:
    symbol = params.get("symbol", "")
    if not symbol:
        raise BinanceError.missing("symbol")
    if split_symbol(symbol) is None:
        raise BinanceError.bad_symbol()
    return symbol


def _decimal(params: Mapping[str, str], name: str, *, required: bool) -> str | None:
    """A decimal parameter in Binance's legal range: ASCII digits, at most 20 before the
    point and 20 after (no exponent, no sign: nothing a Decimal could overflow on)."""
    raw = params.get(name) or None
    if raw is None:
        if required:
            raise BinanceError.missing(name)
        return None
    if not _DECIMAL.fullmatch(raw):
        raise BinanceError.illegal(name, _DECIMAL.pattern)
    number = Decimal(raw)
    if number == 0:
        raise BinanceError(-1013, f"Invalid {name}.")
    return raw


def new_client_id(given: str | None, name: str = "newClientOrderId") -> str:
    """A client id parameter as Binance allows it (`name` in the refusal), or one made
    when none is given."""
    if given is None or given == "":
        return "paper" + uuid.uuid4().hex[:17]  # 22 characters, as Binance makes them
    if len(given) > 36 or not set(given) <= _CLIENT_ID:
        raise BinanceError.illegal(name, "^[a-zA-Z0-9-_]{1,36}$")
    return given


def _time_range(params: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    bounds = []
    for name in ("startTime", "endTime"):
        raw = params.get(name) or None
        bounds.append(datetime.fromtimestamp(parse_time(raw, name, 0) / 1000, UTC)
                      if raw else None)
    return bounds[0], bounds[1]


def _limit(params: Mapping[str, str]) -> int:
    return parse_limit(params.get("limit") or None, 500, 1000)


async def _named_order(context: Context, account: str, params: Mapping[str, str]
                       ) -> Order | None:
    """The order `orderId` names (whose client id must then be `origClientOrderId`, when
    given), else the newest under `origClientOrderId`: of the key's account only."""
    symbol = symbol_param(params)
    number = parse_id(params.get("orderId"), "orderId")
    client_id = params.get("origClientOrderId") or None
    if number is None and client_id is None:
        raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent,"
                                  " but both were empty/null!")
    if number is None:
        return await context.reads.account_order(account, symbol, client_id=client_id)
    order = await context.reads.account_order(account, symbol, number=number)
    if order is not None and client_id is not None and client_id_of(order) != client_id:
        return None
    return order


async def _cancel(context: Context, order: Order, params: Mapping[str, str]
                  ) -> schemas.CanceledOrder:
    reply = await context.gateway.submit(Envelope(
        source=Source.REST, received_at=context.clock.now(),
        command=CancelOrder(order_id=order.order_id, account=order.account)))
    if reply.outcome in (Outcome.NOT_FOUND, Outcome.NOT_OPEN):
        raise BinanceError(-2011, _UNKNOWN_ORDER)
    committed(reply)
    detail = await context.reads.get_order_by_id(order.order_id)
    assert detail is not None
    canceled = detail.order
    return {"symbol": canceled.symbol, "origClientOrderId": client_id_of(canceled),
            "orderId": number_of(canceled), "orderListId": -1,
            "clientOrderId": params.get("newClientOrderId") or new_client_id(None),
            "transactTime": ms(canceled.updated_at), **order_terms(canceled)}


def refusal(result: Mapping[str, Any]) -> BinanceError:
    """An order the engine refused (its `order_result`), as Binance words the refusal."""
    reason = str(result.get("error_message"))
    code, message = _REFUSALS.get(ErrorCode(result["error_code"]), (-2010, None))
    if reason.startswith("Precision is over"):  # (the pipeline's words for it)
        code, message = -1111, "Parameter 'quantity' has too much precision."
    return BinanceError(code, message or reason)


def committed(reply: Reply) -> str:
    """The order id of a committed answer; a 503 when the commit did not happen in time."""
    if reply.outcome is Outcome.UNAVAILABLE:
        raise BinanceError(-1007, "Timeout waiting for response from backend server. Send"
                                  " status unknown; execution status unknown.", 503)
    order_id = reply.body.get("order_id")
    if not isinstance(order_id, str):
        raise BinanceError(-1013, str(reply.body.get("error_message") or "invalid order"))
    return order_id


# Writing the answers


async def list_ids(context: Context, orders: list[Order]) -> dict[str, int]:
    """The ids of the order lists these orders belong to (a list's id is its first
    order's number), by the list's ref."""
    return await context.reads.order_numbers({o.list_ref for o in orders if o.list_ref})


def list_id_of(order: Order, lists: Mapping[str, int]) -> int:
    """Binance's `orderListId`: -1 for an order of no list."""
    return lists[order.list_ref] if order.list_ref else -1


def _order_view(order: Order, lists: Mapping[str, int]) -> schemas.BinanceOrder:
    """An order as Binance's query-order answer has it."""
    return {"symbol": order.symbol, "orderId": number_of(order),
            "orderListId": list_id_of(order, lists),
            "clientOrderId": client_id_of(order), **order_terms(order),
            "time": ms(order.created_at), "updateTime": ms(order.updated_at),
            "isWorking": working_time(order) != -1, "workingTime": working_time(order)}


def order_terms(order: Order) -> schemas.OrderTerms:
    terms: schemas.OrderTerms = {
        "price": text(order.limit_price) if order.limit_price is not None else _ZERO,
        "origQty": text(order.quantity), "executedQty": text(order.filled_quantity),
        "cummulativeQuoteQty": text(_quote_quantity(order)), "status": order.status.value,
        "timeInForce": (order.time_in_force or TimeInForce.GTC).value,
        "type": order.order_type.value, "side": order.side.value,
        "origQuoteOrderQty": text(Decimal(order.metadata.get(QUOTE_ORDER_QTY, 0))),
        "selfTradePreventionMode": "NONE",
    }
    if order.stop_price is not None:
        terms["stopPrice"] = text(order.stop_price)
    return terms


def working_time(order: Order) -> int:
    """Since when the order works on the book; -1 for a stop not yet triggered or a
    list's pending order not yet placed."""
    if order.waiting or (order.order_type.has_stop_price and order.triggered_at is None):
        return -1
    return ms(order.working_at or order.triggered_at or order.created_at)


def _trade_view(trade: Trade, order_numbers: Mapping[str, int]) -> schemas.AccountTrade:
    return {"symbol": trade.symbol, "id": number_of(trade), "orderId": order_numbers[trade.order_id],
            "orderListId": -1, "price": text(trade.price), "qty": text(trade.quantity),
            "quoteQty": text(trade.quantity * trade.price), "commission": text(trade.fee),
            "commissionAsset": trade.fee_asset, "time": ms(trade.executed_at),
            "isBuyer": trade.side is Side.BUY, "isMaker": trade.liquidity.value == "maker",
            "isBestMatch": True}


def _quote_quantity(order: Order) -> Decimal:
    """What the fills came to in the quote asset (from the average price, to 8 places)."""
    if order.avg_fill_price is None:
        return Decimal(0)
    return (order.filled_quantity * order.avg_fill_price).quantize(Decimal("1e-8"))


def number_of(stored: Order | Trade) -> int:
    """A stored order's or trade's number: its Binance id (the database gives each one)."""
    assert stored.number is not None, f"{stored} was never stored"
    return stored.number


def client_id_of(order: Order) -> str:
    return order.client_id or order.order_id


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
