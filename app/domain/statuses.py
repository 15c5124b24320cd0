"""Order statuses and the only moves allowed between them (DESIGN.md §6)."""
from __future__ import annotations

from enum import Enum


class OrderStatus(str, Enum):
    GENERATED = "generated"
    PENDING = "pending"
    PAID = "paid"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    EXPIRED = "expired"


class ExceptionStatus(str, Enum):
    PAID_PARTIAL = "paid_partial"
    PAID_OVER = "paid_over"
    PAID_LATE = "paid_late"


class IllegalTransition(ValueError):
    """Raised when an order is asked to move where the transition table does not allow."""


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.GENERATED: frozenset({S.PENDING, S.EXPIRED}),
    # A reorg can take back the payment that made an order pending or paid.
    S.PENDING: frozenset({S.PAID, S.GENERATED}),
    S.PAID: frozenset({S.COMPLETED, S.REFUNDED, S.PENDING}),
    S.COMPLETED: frozenset({S.REFUNDED, S.PAID}),
    S.REFUNDED: frozenset(),
    # A late payment within the monitor window still counts (flagged paid_late); an unpaid order can be
    # requoted by the shopper, which makes it payable again.
    S.EXPIRED: frozenset({S.PENDING, S.GENERATED}),
}


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Return None if current → new is allowed; raises IllegalTransition otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"order cannot move from {current.value} to {new.value}")
