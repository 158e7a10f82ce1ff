"""Planning a season: the outlook and coverage per territory × product, the shops' forward
needs and the producers' crop plans (services.planning).

A producer sees the territory's totals and its own plan, a shop the totals and its own needs,
a hub the totals and its territory's shops' needs; nobody sees another producer's plan.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.auth.tokens import Principal
from services.bus.catalog import PLANNING_IMPORTS, PLANNING_NEEDS, PLANNING_PLANS
from services.directory.rules import Refusal
from services.events.auth import Role
from services.events.planning import (
    CoverageRecorded,
    CropPlanned,
    ForwardNeedStated,
    HistoryWeekImported,
)
from services.gateway import sse
from services.gateway.auth import principal, require
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import Day, ShopId, Slug, StockQuantity
from services.planning import rules
from services.planning.coverage import Viewer, view

router = APIRouter(prefix="/v1/planning", tags=["planning"])
PARIS = ZoneInfo("Europe/Paris")
VIEW_ROLES = (Role.PRODUCER, Role.SHOP, Role.HUB, Role.OPERATOR)


class WeekIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    week: Annotated[Day, Field(description="The week's Monday.")]
    units: Annotated[StockQuantity, Field(description="Base units; 0 withdraws the week.")]


Weeks = Annotated[list[WeekIn], Field(min_length=1, max_length=60)]


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    territory: Slug
    product_id: Slug
    weeks: Weeks


class NeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop_id: Annotated[ShopId | None, Field(description="Default: the shop of the token.")] = None
    product_id: Slug
    weeks: Weeks
    firm: Annotated[bool, Field(description="A commitment to take them (contrat de culture).")] \
        = False
    price_cents: Annotated[int | None, Field(gt=0, le=10**7,
                                             description="Per kg, litre or piece; firm only.")] \
        = None


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    territory: Slug
    product_id: Slug
    weeks: Annotated[list[WeekIn], Field(min_length=1, max_length=600)]


def _today(deps: GatewayDeps) -> date:
    return deps.clock().astimezone(UTC).astimezone(PARIS).date()


def _refused(problems: list[Refusal]) -> JSONResponse:
    return JSONResponse({"detail": [p.detail() for p in problems]},
                        status_code=min(p.status for p in problems))


async def _published(deps: GatewayDeps, topic: Any, events: list[Any], table: Any) -> list[dict]:
    """Publish `events` together, apply them to the gateway's `table` (read your own writes),
    and give them back as JSON."""
    await deps.publisher.publish_many(topic, events)
    for event in events:
        table.put(event)
    return [e.model_dump(mode="json") for e in events]


def _viewer(who: Principal) -> Viewer:
    if who.role is Role.PRODUCER:
        return Viewer(producer_id=who.subject or "")
    if who.role is Role.SHOP:
        return Viewer(shop_id=who.subject or "")
    return Viewer()


def _coverages(deps: GatewayDeps, territory: str | None, product: str | None
               ) -> list[CoverageRecorded]:
    rows = deps.planning.coverage.values()
    return sorted((c for c in rows if territory in (None, c.territory)
                   and product in (None, c.product_id)), key=lambda c: c.pair_key)


def _unit(deps: GatewayDeps, product_id: str) -> str | None:
    product = deps.products.get(product_id)
    return product.unit.value if product is not None else None


Territory = Annotated[Slug | None, Query()]
Product = Annotated[Slug | None, Query()]


@router.get("/coverage")
async def coverage(who: Annotated[Principal, Depends(principal)], deps: Deps,
                   territory: Territory = None, product: Product = None) -> list[dict[str, Any]]:
    """Per territory × product, the next 26 weeks: outlook band, needs, firm commitments, all
    producers' plans, demand and gap, and the caller's own units (`mine`)."""
    require(who, *VIEW_ROLES)
    viewer = _viewer(who)
    return [view(c, viewer, _unit(deps, c.product_id))
            for c in _coverages(deps, territory, product)]


@router.get("/outlook")
async def outlook(who: Annotated[Principal, Depends(principal)], deps: Deps,
                  territory: Territory = None, product: Product = None) -> list[dict[str, Any]]:
    """Per territory × product, the next 26 weeks' expected units with their p10–p90 band."""
    require(who, *VIEW_ROLES)
    return [{"territory": c.territory, "product_id": c.product_id,
             "unit": _unit(deps, c.product_id), "history_weeks": c.history_weeks,
             "weeks": [{"week": w.week.isoformat(), "mean": w.outlook, "p10": w.outlook_p10,
                        "p90": w.outlook_p90} for w in c.weeks]}
            for c in _coverages(deps, territory, product)]


@router.get("/stream", response_class=StreamingResponse,
            responses=sse.documented("coverage", "a coverage as GET /v1/planning/coverage "
                                                 "gives it"))
async def stream(who: Annotated[Principal, Depends(principal)], deps: Deps,
                 territory: Territory = None, product: Product = None,
                 last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                             max_length=4096)] = None
                 ) -> StreamingResponse:
    """Server-Sent Events: `event: coverage` with the caller's view of a coverage (as in GET
    coverage), first what changed since `Last-Event-ID`, then each change."""
    require(who, *VIEW_ROLES)
    viewer = _viewer(who)

    def render(found: CoverageRecorded) -> dict[str, Any] | None:
        if territory not in (None, found.territory) or product not in (None, found.product_id):
            return None
        return view(found, viewer, _unit(deps, found.product_id))

    return sse.stream(deps.planning.coverage, last_event_id, "coverage", render)


@router.post("/plans", status_code=status.HTTP_201_CREATED, response_model=None)
async def declare_plan(body: PlanIn, who: Annotated[Principal, Depends(principal)],
                       deps: Deps) -> Any:
    """A producer declares (or revises) what it plans to harvest per week; 0 withdraws a
    week. Other producers see it only in the territory's totals."""
    require(who, Role.PRODUCER)
    problems = (rules.known(body.territory, body.product_id, deps.directory.territories,
                            deps.products)
                + rules.week_problems((w.week for w in body.weeks), _today(deps)))
    if problems:
        return _refused(problems)
    now, producer = deps.clock(), who.subject or ""
    plans = [CropPlanned(plan_key=CropPlanned.key(producer, body.territory, body.product_id,
                                                  w.week),
                         producer_id=producer, territory=body.territory,
                         product_id=body.product_id, week=w.week, units=w.units, planned_at=now)
             for w in body.weeks]
    return {"plans": await _published(deps, PLANNING_PLANS, plans, deps.planning.plans)}


@router.get("/plans", response_model=list[CropPlanned])
async def my_plans(who: Annotated[Principal, Depends(principal)], deps: Deps,
                   territory: Territory = None, product: Product = None) -> list[CropPlanned]:
    """The producer's own plans (withdrawn weeks left out)."""
    require(who, Role.PRODUCER)
    return sorted((p for p in deps.planning.plans.values()
                   if p.producer_id == who.subject and p.units > 0
                   and territory in (None, p.territory) and product in (None, p.product_id)),
                  key=lambda p: (p.territory, p.product_id, p.week))


def _need_problems(deps: GatewayDeps, who: Principal, shop_id: str, body: NeedIn
                   ) -> list[Refusal]:
    directory = deps.directory
    hub = directory.hubs.get(who.subject or "") if who.role is Role.HUB else None
    return (rules.shop_problems(directory.shops.get(shop_id), shop_id,
                                hub.territory if hub is not None else None,
                                is_hub=who.role is Role.HUB)
            + rules.known(None, body.product_id, directory.territories, deps.products)
            + rules.firm_problems(body.firm, body.price_cents)
            + rules.week_problems((w.week for w in body.weeks), _today(deps)))


@router.post("/needs", status_code=status.HTTP_201_CREATED, response_model=None)
async def state_needs(body: NeedIn, who: Annotated[Principal, Depends(principal)],
                      deps: Deps) -> Any:
    """A shop (or the hub for one of its territory's shops) states what it expects to buy per
    week of a coming season; `firm` with a price makes it a contrat de culture."""
    require(who, Role.SHOP, Role.HUB)
    shop_id = body.shop_id if who.role is Role.HUB else who.subject or ""
    if who.role is Role.SHOP and body.shop_id not in (None, who.subject):
        return _refused([Refusal(403, "other_shop", f"a shop token states needs for {shop_id}",
                                 "Vous ne pouvez déclarer que les besoins de votre épicerie.",
                                 ("shop_id",))])
    if shop_id is None:
        return _refused([Refusal(422, "missing", "name the shop: shop_id",
                                 "Indiquez l'épicerie.", ("shop_id",))])
    if problems := _need_problems(deps, who, shop_id, body):
        return _refused(problems)
    territory, now = deps.directory.shops.get(shop_id).territory, deps.clock()
    needs = [ForwardNeedStated(need_key=ForwardNeedStated.key(shop_id, body.product_id, w.week),
                               territory=territory, shop_id=shop_id, product_id=body.product_id,
                               week=w.week, units=w.units, firm=body.firm,
                               price_cents=body.price_cents if body.firm else None,
                               stated_by=who.subject or who.role.value, stated_at=now)
             for w in body.weeks]
    return {"needs": await _published(deps, PLANNING_NEEDS, needs, deps.planning.needs)}


@router.get("/needs", response_model=list[ForwardNeedStated])
async def needs(who: Annotated[Principal, Depends(principal)], deps: Deps,
                territory: Territory = None, product: Product = None
                ) -> list[ForwardNeedStated]:
    """Forward needs: a shop's own; the hub's territory's (every one for an operator)."""
    require(who, Role.SHOP, Role.HUB, Role.OPERATOR)
    hub = deps.directory.hubs.get(who.subject or "") if who.role is Role.HUB else None

    def visible(need: ForwardNeedStated) -> bool:
        if who.role is Role.SHOP:
            return need.shop_id == who.subject
        return hub is None or need.territory == hub.territory

    return sorted((n for n in deps.planning.needs.values() if n.units > 0 and visible(n)
                   and territory in (None, n.territory) and product in (None, n.product_id)),
                  key=lambda n: (n.territory, n.product_id, n.week, n.shop_id))


@router.post("/history", status_code=status.HTTP_201_CREATED, response_model=None)
async def import_history(body: HistoryIn, who: Annotated[Principal, Depends(principal)],
                         deps: Deps) -> Any:
    """Weekly sales from before Vivres (a former till software's), for the outlook to learn
    from; importing a week again corrects it."""
    require(who, Role.OPERATOR)
    problems = rules.known(body.territory, body.product_id, deps.directory.territories,
                           deps.products)
    problems += rules.week_problems((w.week for w in body.weeks), _today(deps), past=True)
    if problems:
        return _refused(problems)
    now = deps.clock()
    weeks = [HistoryWeekImported(
        history_key=HistoryWeekImported.key(body.territory, body.product_id, w.week),
        territory=body.territory, product_id=body.product_id, week=w.week, units=w.units,
        imported_at=now) for w in body.weeks]
    await deps.publisher.publish_many(PLANNING_IMPORTS, weeks)
    return {"imported": len(weeks)}
