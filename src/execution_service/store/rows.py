"""Rows <-> domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from execution_service.domain.orders import (
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    TimeInForce,
    Trade,
)
from execution_service.engine.positions import Position
from execution_service.store import tables

ORDER_COLUMNS = tables.written(tables.orders)


def order_values(order: Order) -> tuple[Any, ...]:
    """An `orders` row, in `ORDER_COLUMNS` order."""
    return (order.order_id, order.client_id, order.intake_ref, order.symbol, order.side.value,
            order.order_type.value, order.quantity, order.price, order.filled_quantity,
            order.avg_fill_price, order.fee, order.fee_asset, order.slippage_bps,
            order.status.value, order.error_code.value if order.error_code else None,
            order.error_message, order.strategy_id, order.bot_id, order.source.value,
            order.metadata, order.created_at, order.updated_at,
            order.time_in_force.value if order.time_in_force else None, order.stop_price,
            order.expire_at, order.due_at, order.triggered_at, order.reserved,
            order.reserved_asset, order.version, order.fingerprint, order.account,
            order.queue_ahead)


def order_from_row(row: Mapping[Any, Any]) -> Order:
    error_code = row["error_code"]
    return Order(
        order_id=row["order_id"],
        client_id=row["client_id"],
        intake_ref=row["intake_ref"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        quantity=row["quantity"],
        price=row["price"],
        filled_quantity=row["filled_quantity"],
        avg_fill_price=row["avg_fill_price"],
        fee=row["fee"],
        fee_asset=row["fee_asset"],
        slippage_bps=row["slippage_bps"],
        status=OrderStatus(row["status"]),
        error_code=ErrorCode(error_code) if error_code in ErrorCode.__members__ else None,
        error_message=row["error_message"],
        strategy_id=row["strategy_id"],
        bot_id=row["bot_id"],
        source=Source(row["source"]),
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        time_in_force=TimeInForce(row["time_in_force"]) if row["time_in_force"] else None,
        stop_price=row["stop_price"],
        expire_at=row["expire_at"],
        due_at=row["due_at"],
        triggered_at=row["triggered_at"],
        reserved=row["reserved"],
        reserved_asset=row["reserved_asset"],
        version=row["version"],
        fingerprint=row["fingerprint"],
        account=row["account"],
        queue_ahead=row["queue_ahead"],
    )


TRADE_COLUMNS = tables.written(tables.trades)


def trade_values(trade: Trade) -> tuple[Any, ...]:
    """A `trades` row, in `TRADE_COLUMNS` order."""
    return (trade.trade_id, trade.order_id, trade.symbol, trade.side.value, trade.quantity,
            trade.price, trade.fee, trade.fee_asset, trade.slippage_bps, trade.liquidity.value,
            trade.executed_at, trade.account)


def trade_from_row(row: Mapping[Any, Any]) -> Trade:
    return Trade(
        trade_id=row["trade_id"],
        order_id=row["order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        fee=row["fee"],
        fee_asset=row["fee_asset"],
        slippage_bps=row["slippage_bps"],
        liquidity=Liquidity(row["liquidity"]),
        executed_at=row["executed_at"],
        account=row["account"],
    )


def position_from_row(row: Mapping[Any, Any]) -> Position:
    return Position(symbol=row["symbol"], quantity=row["quantity"],
                    avg_entry_price=row["avg_entry_price"], realized_pnl=row["realized_pnl"],
                    fees=row["fees"], quote_asset=row["quote_asset"], version=row["version"],
                    updated_at=row["updated_at"], account=row["account"])
