"""Producers' demand feeds: the current signals, and a live Server-Sent Events stream.

Producers see territory aggregates only (`demand.signals`): never a ticket, a shop's figures or
a member. The stream is resumable: each event's id is a cursor (the next offset per partition
of `demand.signals` the client has seen); reconnecting with `Last-Event-ID` sends what changed
since, then follows.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from fastapi.responses import StreamingResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.auth.tokens import Principal
from services.events.auth import Role
from services.bus.catalog import SUBSCRIPTIONS
from services.bus.signature import new_secret
from services.events.catalog import ProductDefined
from services.events.demand import DemandSignalRecorded, SubscriptionRecorded
from services.gateway.auth import principal, require
from services.gateway import sse
from services.gateway.deps import Deps, Rows
from services.gateway.fields import Identifier, Slug

router = APIRouter(prefix="/v1/demand", tags=["demand"])
FEED_ROLES = (Role.PRODUCER, Role.HUB, Role.OPERATOR)


class Filter:
    def __init__(self, products: Rows[ProductDefined], territory: str | None,
                 product: str | None, category: str | None) -> None:
        self.products = products
        self.territory, self.product, self.category = territory, product, category

    def __call__(self, signal: DemandSignalRecorded) -> bool:
        if signal.shop_id is not None:  # never a shop's figures on a producer feed
            return False
        if self.territory and signal.territory != self.territory:
            return False
        if self.product and signal.product_id != self.product:
            return False
        if self.category:
            product = self.products.get(signal.product_id)
            return product is not None and product.category == self.category
        return True


def _filter(deps: Deps, territory: Annotated[Slug | None, Query()] = None,
            product: Annotated[Slug | None, Query()] = None,
            category: Annotated[Slug | None, Query()] = None) -> Filter:
    return Filter(deps.products, territory, product, category)


@router.get("", response_model=list[DemandSignalRecorded])
async def current(who: Annotated[Principal, Depends(principal)],
                  wanted: Annotated[Filter, Depends(_filter)],
                  deps: Deps) -> list[DemandSignalRecorded]:
    """The current signal of every territory × product the filter selects."""
    require(who, *FEED_ROLES)
    signals = [s for s in deps.signals.values() if wanted(s)]
    return sorted(signals, key=lambda s: (s.territory, s.product_id))


@router.get("/stream", response_class=StreamingResponse,
            responses=sse.documented("signal", "a DemandSignalRecorded"))
async def stream(who: Annotated[Principal, Depends(principal)],
                 wanted: Annotated[Filter, Depends(_filter)], deps: Deps,
                 last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                             max_length=4096)] = None
                 ) -> StreamingResponse:
    """Server-Sent Events: `event: signal` with the signal as JSON, first what changed since
    `Last-Event-ID` (everything without it), then each change as it happens."""
    require(who, *FEED_ROLES)
    return sse.stream(deps.signals, last_event_id, "signal",
                      lambda signal: signal.model_dump(mode="json") if wanted(signal) else None)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl  # at most 2083 characters
    territory: Slug | None = None
    product_id: Slug | None = None
    category: Slug | None = None
    events: Annotated[list[Literal["demand.signal", "planning.coverage"]],
                      Field(min_length=1, max_length=2,
                            description="What to deliver: the live signal, the season's "
                                        "coverage as you see it.")] = ["demand.signal"]


class SubscriptionOut(BaseModel):
    subscription_id: str
    url: str
    territory: str | None
    product_id: str | None
    category: str | None
    events: list[str]
    secret: str | None = None  # only in the answer to its creation


def _out(subscription: SubscriptionRecorded, *, with_secret: bool = False) -> SubscriptionOut:
    return SubscriptionOut(subscription_id=subscription.subscription_id, url=subscription.url,
                           territory=subscription.territory, product_id=subscription.product_id,
                           category=subscription.category, events=list(subscription.events),
                           secret=subscription.secret if with_secret else None)


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED,
             response_model=SubscriptionOut)
async def subscribe(body: SubscriptionIn, who: Annotated[Principal, Depends(principal)],
                    deps: Deps) -> SubscriptionOut:
    """Signals matching the filter will be POSTed to `url`, signed the Standard Webhooks way
    (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,...`) under the `whsec_` secret in
    this answer; keep it, it is not shown again."""
    require(who, Role.PRODUCER)
    subscription = SubscriptionRecorded(
        subscription_id=f"sub-{uuid.uuid4().hex[:12]}", producer_id=who.subject or "",
        url=str(body.url), territory=body.territory, product_id=body.product_id,
        category=body.category, secret=new_secret(), created_at=deps.clock(),
        events=tuple(dict.fromkeys(body.events)))
    await deps.publisher.publish(SUBSCRIPTIONS, subscription)
    deps.subscriptions.put(subscription)
    return _out(subscription, with_secret=True)


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def subscriptions(who: Annotated[Principal, Depends(principal)],
                        deps: Deps) -> list[SubscriptionOut]:
    """The producer's active subscriptions (without their secrets)."""
    require(who, Role.PRODUCER)
    return [_out(s) for s in deps.subscriptions.values()
            if s.producer_id == who.subject and not s.revoked]


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(subscription_id: Annotated[Identifier, Path()],
                      who: Annotated[Principal, Depends(principal)], deps: Deps) -> None:
    require(who, Role.PRODUCER)
    found = deps.subscriptions.get(subscription_id)
    if found is None or found.producer_id != who.subject or found.revoked:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such subscription of yours")
    revoked = found.model_copy(update={"revoked": True, "created_at": deps.clock()})
    await deps.publisher.publish(SUBSCRIPTIONS, revoked)
    deps.subscriptions.put(revoked)
