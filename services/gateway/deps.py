"""What the gateway's handlers need (GatewayDeps), and how a route asks for it: a parameter
typed `Deps` (or `Tokens`), which FastAPI fills in from the app create_app built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request

from services.bus.publisher import Publisher
from services.caisse.books import Books
from services.caisse.replies import CaisseClient
from services.caisse.rules import FollowedCommittee
from services.directory.rules import Directory
from services.events.auth import TokenIssued
from services.events.base import Event
from services.events.caisse import DecisionRecorded
from services.events.catalog import (
    DfcProductLinked,
    ProductDefined,
    TillCodeMapped,
    TillCodeUnmapped,
)
from services.events.demand import DemandSignalRecorded, SubscriptionRecorded
from services.events.orders import NeedStated, OrderRecorded
from services.events.planning import CoverageRecorded, CropPlanned, ForwardNeedStated
from services.events.stock import StockLevelRecorded
from services.events.supply import OfferDeclared

E = TypeVar("E", bound=Event)
LOCAL_URL = "http://127.0.0.1:8080"  # the gateway as `make run` serves it


class Rows(Protocol[E]):
    """What a handler reads of a followed table (TableView): its rows by key. A test gives
    a dict."""

    def get(self, key: str, /) -> E | None: ...
    def values(self) -> Iterable[E]: ...
    def __len__(self) -> int: ...


@dataclass
class PlanningTables:
    """What the planning endpoints read: forward needs, crop plans, coverages (by key)."""

    needs: Rows[ForwardNeedStated] = field(default_factory=dict)
    plans: Rows[CropPlanned] = field(default_factory=dict)
    coverage: Rows[CoverageRecorded] = field(default_factory=dict)


@dataclass
class GatewayDeps:
    """What the handlers need: a publisher, the reference tables, a clock."""

    publisher: Publisher
    tokens: Rows[TokenIssued]  # by digest
    products: Rows[ProductDefined]
    mappings: Rows[TillCodeMapped]
    unmapped: Rows[TillCodeUnmapped]
    stock: Rows[StockLevelRecorded]
    offers: Rows[OfferDeclared]
    orders: Rows[OrderRecorded]
    needs: Rows[NeedStated] = field(default_factory=dict)  # by need_id (orders.needs)
    caisse: CaisseClient | None = None  # asks the caisse service and waits for its answers
    decisions: Rows[DecisionRecorded] | None = None
    books: Books | None = None
    signals: Rows[DemandSignalRecorded] | None = None  # demand.signals (territories only)
    subscriptions: Rows[SubscriptionRecorded] | None = None
    directory: Directory = field(default_factory=Directory)  # its four tables
    planning: PlanningTables = field(default_factory=PlanningTables)
    dfc_links: Rows[DfcProductLinked] = field(default_factory=dict)  # by link_key
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    public_url: str = LOCAL_URL  # where clients reach the API: the base of the DFC IRIs

    def __post_init__(self) -> None:
        self.committee = FollowedCommittee(self.decisions)  # the decisions in force


# Async, so that FastAPI calls them in the event loop rather than in a worker thread. Neither
# adds a parameter to the OpenAPI document: they read the request's app only.
async def deps(request: Request) -> GatewayDeps:
    """The dependencies of the app serving the request (create_app keeps them there)."""
    return request.app.state.deps


Deps = Annotated[GatewayDeps, Depends(deps)]


async def tokens(found: Deps) -> Rows[TokenIssued]:
    return found.tokens


Tokens = Annotated[Rows[TokenIssued], Depends(tokens)]  # all the principal reads
