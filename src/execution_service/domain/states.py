"""The order state machine: which status may follow which.

Every change of an order's status goes through `check`; anything the table does not list
is refused with `IllegalTransition` (and counted by the pipeline), so a bug in the
matching code can never publish, say, a FILLED order turning NEW again.

    (created) -> PENDING_NEW | NEW | REJECTED
    PENDING_NEW -> PENDING_NEW (a list's pending order sent) | NEW | REJECTED | CANCELED | EXPIRED
    NEW -> NEW (stop triggered) | PARTIALLY_FILLED | FILLED | REJECTED | CANCELED | EXPIRED
    PARTIALLY_FILLED -> PARTIALLY_FILLED | FILLED | CANCELED | EXPIRED
    FILLED, CANCELED, REJECTED, EXPIRED: final
"""

from __future__ import annotations

from collections.abc import Mapping

from execution_service.domain.orders import OrderStatus

PENDING_NEW, NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED = (
    OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
    OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)

TRANSITIONS: Mapping[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({PENDING_NEW, NEW, REJECTED}),
    PENDING_NEW: frozenset({PENDING_NEW, NEW, REJECTED, CANCELED, EXPIRED}),
    NEW: frozenset({NEW, PARTIALLY_FILLED, FILLED, REJECTED, CANCELED, EXPIRED}),
    PARTIALLY_FILLED: frozenset({PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED}),
    FILLED: frozenset(),
    CANCELED: frozenset(),
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the state machine does not allow."""

    def __init__(self, order_id: str, current: OrderStatus | None, new: OrderStatus) -> None:
        super().__init__(f"order {order_id}: {current or '(new)'} -> {new} is not a legal transition")
        self.current = current
        self.new = new


def check(order_id: str, current: OrderStatus | None, new: OrderStatus) -> None:
    """Raise `IllegalTransition` unless `current -> new` is in the table."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(order_id, current, new)
