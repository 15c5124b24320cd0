"""The one way an order changes status (DESIGN.md §6): each move is checked against the transition table,
appends a history row (time, actor, cause) and writes its webhook event, in the caller's transaction.
Nothing else assigns `order.status` or `order.exception_status`."""
from __future__ import annotations

import logging
from datetime import datetime

from app.domain.statuses import ExceptionStatus, OrderStatus, check_transition, transition_path
from app.models import Order, OrderStatusChange, utcnow
from app.webhooks import events

logger = logging.getLogger(__name__)


def begin(order: Order, actor: str, at: datetime) -> None:
    """Give a new, fully built order its first status, generated, with its first history row and its
    order.created event (the order joins the session with them)."""
    order.status = OrderStatus.GENERATED
    _record(order, actor, {}, at)
    events.order_created(order)


def move(order: Order, target: OrderStatus, actor: str, cause: dict, at: datetime | None = None) -> None:
    """Move order one step to target, with a history row and its event; raises IllegalTransition if the table
    forbids it."""
    previous = OrderStatus(order.status)
    check_transition(previous, target)
    order.status = target
    _record(order, actor, cause, at)
    events.status_changed(order, previous, cause)
    logger.info("order status receipt=%s status=%s actor=%s cause=%s", order.receipt_id, target, actor, cause)


def walk(order: Order, target: OrderStatus, actor: str, cause: dict, at: datetime | None = None) -> None:
    """Move order to target through each allowed step (none when it is there); raises IllegalTransition
    when the table has no way there."""
    for step in transition_path(OrderStatus(order.status), target):
        move(order, step, actor, cause, at)


def note(order: Order, actor: str, cause: dict, at: datetime | None = None) -> None:
    """Append a history row that keeps the status (a requote of an order not yet marked expired)."""
    _record(order, actor, cause, at)


def flag(order: Order, exception_status: ExceptionStatus | None) -> None:
    """Set the order's exception status (paid_partial, paid_over, paid_late, or None)."""
    order.exception_status = exception_status


def _record(order: Order, actor: str, cause: dict, at: datetime | None) -> None:
    order.history.append(OrderStatusChange(status=order.status, at=at or utcnow(), actor=actor, cause=cause))
