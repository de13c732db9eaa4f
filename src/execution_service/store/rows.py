"""Rows <-> domain objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from execution_service.domain.orders import (
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    Trade,
)


def order_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_id": order.client_id,
        "intake_ref": order.intake_ref,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "price": order.price,
        "filled_quantity": order.filled_quantity,
        "avg_fill_price": order.avg_fill_price,
        "fee": order.fee,
        "fee_asset": order.fee_asset,
        "slippage_bps": order.slippage_bps,
        "status": order.status.value,
        "error_code": order.error_code.value if order.error_code else None,
        "error_message": order.error_message,
        "strategy_id": order.strategy_id,
        "bot_id": order.bot_id,
        "source": order.source.value,
        "metadata": order.metadata,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_from_row(row: RowMapping) -> Order:
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
    )


def trade_row(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "order_id": trade.order_id,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "quantity": trade.quantity,
        "price": trade.price,
        "fee": trade.fee,
        "fee_asset": trade.fee_asset,
        "slippage_bps": trade.slippage_bps,
        "liquidity": trade.liquidity.value,
        "executed_at": trade.executed_at,
    }


def trade_from_row(row: RowMapping) -> Trade:
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
    )
