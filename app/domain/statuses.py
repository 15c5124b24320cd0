"""Order, refund and settle-transaction statuses, and the only moves allowed between order statuses
(DESIGN.md §6). StrEnums: each member is its value in SQL, JSON and f-strings."""
from __future__ import annotations

from collections import deque
from enum import StrEnum


class OrderStatus(StrEnum):
    GENERATED = "generated"
    PENDING = "pending"
    PAID = "paid"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ExceptionStatus(StrEnum):
    PAID_PARTIAL = "paid_partial"
    PAID_OVER = "paid_over"
    PAID_LATE = "paid_late"


class RefundStatus(StrEnum):
    """A refund is requested, its transaction submitted (checked on chain), then confirmed by the watcher."""

    REQUESTED = "requested"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"


class SettleState(StrEnum):
    """A recorded settle transaction: pending until its nonce is final, then done, failed (reverted) or
    replaced (another attempt with the same nonce was mined)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    REPLACED = "replaced"


class DeliveryState(StrEnum):
    """A webhook delivery: pending (due at its next attempt, or being sent), succeeded, or dead (retries
    exhausted, or its endpoint disabled)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class IllegalTransition(ValueError):
    """Raised when an order is asked to move where the transition table does not allow."""


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.GENERATED: frozenset({S.PENDING, S.EXPIRED, S.CANCELLED}),
    # A reorg can take back the payment that made an order pending or paid.
    S.PENDING: frozenset({S.PAID, S.GENERATED}),
    S.PAID: frozenset({S.COMPLETED, S.REFUNDED, S.PENDING}),
    S.COMPLETED: frozenset({S.REFUNDED, S.PAID}),
    S.REFUNDED: frozenset(),
    # A late payment within the monitor window still counts (flagged paid_late); an unpaid order can be
    # requoted by the shopper, which makes it payable again.
    S.EXPIRED: frozenset({S.PENDING, S.GENERATED, S.CANCELLED}),
    # The merchant cancelled an order that received nothing; its address is no longer watched.
    S.CANCELLED: frozenset(),
}
UNPAID = frozenset({S.GENERATED, S.EXPIRED})  # statuses of an order that has no payment


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Return None if current → new is allowed; raises IllegalTransition otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"order cannot move from {current} to {new}")


def transition_path(current: OrderStatus, target: OrderStatus) -> list[OrderStatus]:
    """Return the shortest list of allowed steps from current to target (empty when already there);
    raises IllegalTransition when the table has no way there."""
    if current == target:
        return []
    previous: dict[OrderStatus, OrderStatus] = {}
    queue = deque([current])
    while queue:
        status = queue.popleft()
        for following in sorted(TRANSITIONS[status]):  # sorted: the same path on every run
            if following not in previous and following != current:
                previous[following] = status
                queue.append(following)
    if target not in previous:
        raise IllegalTransition(f"no allowed path from {current} to {target}")
    path = [target]
    while previous[path[-1]] != current:
        path.append(previous[path[-1]])
    return path[::-1]
