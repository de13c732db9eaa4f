"""JSON rendering with exact decimals, and the views of orders and trades."""

from __future__ import annotations

from typing import Any

from fastapi import responses

from execution_service.domain import codec
from execution_service.domain.orders import Order, Trade


class JSONResponse(responses.JSONResponse):
    """orjson-rendered JSON in which `Decimal` values are exact numbers. (A JSON response
    class to FastAPI, so that the OpenAPI document shows each answer's model.)"""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return codec.dumps(content)


def order_view(order: Order) -> dict[str, Any]:
    view = codec.order_result(order, int(order.updated_at.timestamp() * 1000))
    del view["type"]
    view.update(created_at=order.created_at.isoformat(), updated_at=order.updated_at.isoformat(),
                reference_price=order.price, metadata=order.metadata,
                queue_ahead=order.queue_ahead)
    return view


def trade_view(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id, "order_id": trade.order_id, "symbol": trade.symbol,
        "side": trade.side.value, "quantity": trade.quantity, "price": trade.price,
        "fee": trade.fee, "fee_asset": trade.fee_asset, "slippage_bps": trade.slippage_bps,
        "liquidity": trade.liquidity.value, "executed_at": trade.executed_at.isoformat(),
        "account": trade.account,
    }
