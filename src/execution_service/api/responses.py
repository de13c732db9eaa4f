"""JSON rendering with exact decimals, and the views of orders and trades."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from fastapi import responses

from execution_service.api.schemas import OrderEventView, StoredOrder
from execution_service.domain import codec
from execution_service.domain.orders import Order


class JSONResponse(responses.JSONResponse):
    """orjson-rendered JSON in which `Decimal` values are exact numbers. (A JSON response
    class to FastAPI, so that the OpenAPI document shows each answer's model.)"""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return codec.dumps(content)


T = TypeVar("T")


class Answer(JSONResponse, Generic[T]):
    """An answer whose body is `T`, the route's `response_model`: mypy checks what each
    handler puts in it (tests/api/test_answers.py, that each route declares the same)."""

    def __init__(self, content: T, status_code: int = 200,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(content, status_code=status_code, headers=headers)

    @classmethod
    def relayed(cls, body: Mapping[str, Any], status_code: int = 200) -> Answer[T]:
        """The pipeline's reply as it answered (`bus.envelope.Reply`): a wire message
        built by the codec, which its own tests hold to SPEC 4.2."""
        return cls(body, status_code)  # type: ignore[arg-type]


def order_view(order: Order) -> StoredOrder:
    """An order as the service's own API shows it: its `order_result` and what it keeps."""
    fields = codec.order_fields(order, int(order.updated_at.timestamp() * 1000))
    return {**fields, "created_at": order.created_at.isoformat(),
            "updated_at": order.updated_at.isoformat(), "reference_price": order.price,
            "metadata": order.metadata, "queue_ahead": order.queue_ahead, "number": order.number}


def event_view(event: dict[str, Any]) -> OrderEventView:
    """An `order_events` row."""
    return {"order_id": event["order_id"], "seq": event["seq"], "status": event["status"],
            "detail": event["detail"], "at": event["at"].isoformat()}
