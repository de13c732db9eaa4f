"""The shapes of the messages the service sends (SPEC 4.2), as typed dicts: the codec builds
them, mypy checks every key it writes, and the API's answers (api/schemas.py) extend them,
so that the OpenAPI document shows the same fields the messages carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, NotRequired, TypeVar

from pydantic import ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

# An exact decimal written as a JSON number (pydantic would document a Decimal as a string).
Number = Annotated[Decimal | int | float, WithJsonSchema({"type": "number"})]

_T = TypeVar("_T")


def open_shape(shape: type[_T]) -> type[_T]:
    """The fields named are always there, as typed; more may follow."""
    return with_config(ConfigDict(extra="allow"))(shape)


@open_shape
class OrderFields(TypedDict):
    """An order's state as the service tells it; an order with a limit, a stop or an expiry
    tells those too, and metadata the risk manager reads back is echoed beside."""

    order_id: str
    client_id: str | None
    status: str
    symbol: str
    side: str
    order_type: str
    quantity: Number
    filled_quantity: Number
    price: Number | None  # the average fill price
    fee: Number
    fees: Number  # the name upstream's db_writer reads
    fee_asset: str | None
    slippage_bps: Number | None
    timestamp: int
    event_time_ms: int
    strategy_id: str | None
    bot_id: str | None
    source: str
    account: str
    error_code: str | None
    error_message: str | None
    limit_price: NotRequired[Number | None]
    stop_price: NotRequired[Number | None]
    time_in_force: NotRequired[str | None]
    expire_at: NotRequired[str | None]


@open_shape
class OrderResult(OrderFields):
    """The `order_result` message."""

    type: str


@open_shape
class Fill(TypedDict):
    """A fill as the service's API and live feed show it."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    quantity: Number
    price: Number
    fee: Number
    fee_asset: str
    slippage_bps: Number
    liquidity: str
    executed_at: str
    account: str


@open_shape
class KillSwitchState(TypedDict):
    """The kill switch as stored (`control_state`) and shown."""

    active: bool
    reason: str | None
    since: str | None
