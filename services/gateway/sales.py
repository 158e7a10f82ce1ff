"""POST /v1/sales: one ticket or a batch (an offline till's backlog), refunds included."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Discriminator, Tag

from services.auth.tokens import Principal
from services.bus.catalog import REFUNDS_SUBMITTED, SALES_SUBMITTED
from services.directory.rules import selling_problems
from services.events.auth import Role
from services.gateway.auth import principal, require
from services.gateway.deps import Deps
from services.sales.intake import SalesBatch, TicketIn

router = APIRouter(tags=["sales"])


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and ({"tickets", "refunds"} & value.keys()) \
        else "ticket"


Submission = Annotated[
    Annotated[TicketIn, Tag("ticket")] | Annotated[SalesBatch, Tag("batch")],
    Discriminator(_shape),
]


class Accepted(BaseModel):
    tickets: list[str]
    refunds: list[str]


@router.post("/v1/sales", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             responses={401: {"description": "no valid token"},
                        403: {"description": "a ticket of another shop"},
                        422: {"description": "malformed (`detail` names each field), or "
                                             "a shop unknown to the directory or closed"},
                        503: {"description": "Kafka unavailable: nothing acknowledged"}})
async def post_sales(request: Request, submission: Annotated[Submission, Body()],
                     who: Annotated[Principal, Depends(principal)], deps: Deps) -> Accepted:
    """Accept tickets once they are durably in Kafka (202). A repeated ticket is accepted and
    not duplicated. The whole request is validated before anything is written."""
    batch = SalesBatch(tickets=[submission]) if isinstance(submission, TicketIn) else submission
    require(who, Role.SHOP)
    others = sorted(shop for shop in batch.shops() if not who.is_shop(shop))
    if others:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this token belongs to shop {who.subject}, not {', '.join(others)}")
    strangers = selling_problems(deps.directory, batch.sold())
    if strangers:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [refusal.detail() for refusal in strangers])
    late = batch.out_of_window(deps.clock())
    if late:
        single = isinstance(submission, TicketIn)
        raise RequestValidationError([
            {"type": "value_error", "msg": why, "input": None,
             "loc": ("body", "occurred_at") if single else ("body", name, index, "occurred_at")}
            for name, index, why in late])
    correlation = request.headers.get("x-correlation-id")
    tickets = [t.to_event() for t in batch.tickets]
    refunds = [r.to_event() for r in batch.refunds]
    try:
        if tickets:
            await deps.publisher.publish_many(SALES_SUBMITTED, tickets, correlation_id=correlation)
        if refunds:
            await deps.publisher.publish_many(REFUNDS_SUBMITTED, refunds,
                                              correlation_id=correlation)
    except Exception as err:  # noqa: BLE001 - any producer failure means "not acknowledged"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"Kafka did not acknowledge the tickets: {err}; send them again"
                            ) from err
    return Accepted(tickets=[t.ticket_id for t in tickets], refunds=[r.refund_id for r in refunds])
