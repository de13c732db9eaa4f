"""JSON rendering with exact decimals, and the views of orders and trades."""

from __future__ import annotations

from typing import Any

from fastapi import responses

from execution_service.domain import codec
from execution_service.domain.orders import Order


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
