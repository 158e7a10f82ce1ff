"""The caisse alimentaire commune over HTTP.

Shops (at the till): redemptions and refunds, answered synchronously through Kafka.
The committee of a caisse (its token names the caisse): decisions, households, cards, credits.
The treasurer of a caisse: contributions, settlements (JSON or the CSV for the books), reports.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.auth.tokens import Principal
from services.bus.catalog import CAISSE_CONTRIBUTIONS, CAISSE_DECISIONS
from services.bus.openapi import errors
from services.caisse import reports
from services.caisse.books import product_lookup
from services.caisse.ledger import redemption_request_id, refund_request_id
from services.caisse.replies import NoAnswer
from services.caisse.rules import check_vote
from services.events.auth import Role
from services.events.caisse import (
    AllowanceRules,
    CaisseRequested,
    CarryOver,
    ContributionRecorded,
    DeclineReason,
    DecisionKind,
    DecisionRecorded,
    Household,
    RequestAnswered,
    RequestKind,
    SettlementRecorded,
)
from services.gateway.auth import principal, require
from services.gateway.deps import Deps, GatewayDeps
from services.gateway.fields import (
    Band,
    CaisseAmount,
    CaisseCents,
    Count,
    Day,
    Identifier,
    Label,
    Month,
    Note,
    TicketRef,
    Timezone,
    refused,
)

router = APIRouter(prefix="/v1/caisse", tags=["caisse"])
ANSWER_TIMEOUT_S = 5.0
MAX_REPORT_MONTHS = 36


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redemption_id: Identifier = Field(description="The till's id for this payment: asking "
                                                  "again with it gets the same answer.")
    card_id: Identifier
    amount_cents: CaisseCents
    ticket_id: TicketRef | None = None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refund_id: Identifier
    redemption_id: Identifier = Field(description="The redemption given back (in part).")
    card_id: Identifier
    amount_cents: CaisseCents
    ticket_id: TicketRef | None = None


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_id: Identifier
    adults: Annotated[int, Field(ge=1, le=20)]
    children: Annotated[int, Field(ge=0, le=20)]
    income_band: Band


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    income_band: Band
    suggested_cents: CaisseAmount


class RulesIn(BaseModel):
    """AllowanceRules as the committee sends them, each figure within its range."""

    model_config = ConfigDict(extra="forbid")
    currency: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$",
                                   examples=["EUR", "MONA"])]
    base_cents: CaisseAmount
    per_extra_adult_cents: CaisseAmount
    per_child_cents: CaisseAmount
    carry_over: CarryOver
    carry_over_cap_cents: CaisseAmount | None = None
    contribution_scale: Annotated[list[StepIn], Field(max_length=20)] = []
    timezone: Timezone = "Europe/Paris"

    @model_validator(mode="after")
    def _cap_for_capped(self) -> Self:
        if self.carry_over is CarryOver.CAPPED and self.carry_over_cap_cents is None:
            raise ValueError("carry_over_cap_cents is required when carry_over is CAPPED")
        return self

    def to_rules(self) -> AllowanceRules:
        return AllowanceRules(**self.model_dump())


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: DecisionKind
    subject_id: Identifier | None = Field(None, description="The shop or producer.")
    shop_type: Annotated[Label, Field(max_length=64)] | None = None
    effective_on: Day
    criteria: Annotated[list[Label], Field(max_length=20)] = []
    votes_for: Count
    votes_against: Count
    votes_abstain: Count = 0
    rules: RulesIn | None = None
    note: Note | None = None


class MonthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: Month


class ContributionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contribution_id: Identifier | None = None
    card_id: Identifier
    month: Month
    amount_cents: CaisseAmount
    income_band: Band


class HouseholdOut(BaseModel):
    card_id: str
    adults: int
    children: int
    income_band: str
    status: Literal["ACTIVE", "BLOCKED", "LEFT"]
    balance_cents: int
    last_month_credited: str | None = Field(description="The last month credited (YYYY-MM).")
    enrolled_at: datetime


class HouseholdsOut(BaseModel):
    caisse_id: str
    role: Literal["COMMITTEE", "TREASURER"] = Field(description="Who is asking: what the "
                                                                 "page lets it do.")
    households: list[HouseholdOut]


class CreditOut(BaseModel):
    caisse_id: str
    month: str
    households: int
    credited_cents: int


def _caisse_of(who: Principal, *roles: Role) -> str:
    require(who, *roles)
    return who.subject or ""


async def _ask(deps: GatewayDeps, asked: CaisseRequested) -> RequestAnswered:
    try:
        return await deps.caisse.ask(asked, timeout_s=ANSWER_TIMEOUT_S)
    except NoAnswer as err:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT,
                            "the caisse did not answer in time: ask again with the same id "
                            "(it is never applied twice)") from err


def _same(answer: RequestAnswered, card_id: str, amount_cents: int) -> RequestAnswered:
    if (answer.card_id, answer.amount_cents) != (card_id, amount_cents):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "this id was already used for another card or amount")
    return answer


@router.post("/redemptions", response_model=RequestAnswered, responses=errors(409, 504))
async def redeem(body: RedemptionIn, who: Annotated[Principal, Depends(principal)],
                 deps: Deps) -> RequestAnswered:
    """A shop asks to take an amount from a member's card at checkout. The answer says
    AUTHORIZED with the new balance, or DECLINED with the reason."""
    require(who, Role.SHOP)
    shop = who.subject or ""
    asked = CaisseRequested(
        request_id=redemption_request_id(shop, body.redemption_id), kind=RequestKind.REDEEM,
        card_id=body.card_id, shop_id=shop, amount_cents=body.amount_cents,
        ticket_id=body.ticket_id, redemption_id=body.redemption_id,
        requested_at=deps.clock(), requested_by=f"shop:{shop}")
    return _same(await _ask(deps, asked), body.card_id, body.amount_cents)


@router.post("/refunds", response_model=RequestAnswered, responses=errors(409, 504))
async def refund(body: RefundIn, who: Annotated[Principal, Depends(principal)],
                 deps: Deps) -> RequestAnswered:
    """A shop gives back (part of) a redemption it took: the card is credited back."""
    require(who, Role.SHOP)
    shop = who.subject or ""
    asked = CaisseRequested(
        request_id=refund_request_id(shop, body.refund_id), kind=RequestKind.REFUND,
        card_id=body.card_id, shop_id=shop, amount_cents=body.amount_cents,
        ticket_id=body.ticket_id, redemption_id=body.redemption_id, refund_id=body.refund_id,
        requested_at=deps.clock(), requested_by=f"shop:{shop}")
    return _same(await _ask(deps, asked), body.card_id, body.amount_cents)


@router.post("/households", response_model=RequestAnswered, responses=errors(504))
async def enrol(body: HouseholdIn, who: Annotated[Principal, Depends(principal)],
                deps: Deps) -> RequestAnswered:
    """The committee enrols a household under its card id, or updates its composition."""
    caisse = _caisse_of(who, Role.COMMITTEE)
    asked = CaisseRequested(
        request_id=f"enrol/{uuid.uuid4().hex}", kind=RequestKind.ENROL, caisse_id=caisse,
        card_id=body.card_id, household=Household(adults=body.adults, children=body.children,
                                                  income_band=body.income_band),
        requested_at=deps.clock(), requested_by=f"committee:{caisse}")
    return await _ask(deps, asked)


@router.get("/households", response_model=HouseholdsOut)
async def households(who: Annotated[Principal, Depends(principal)],
                     deps: Deps) -> HouseholdsOut:
    """The caisse's enrolled households from its ledger, by card: composition, income band,
    state (ACTIVE, BLOCKED, LEFT), balance and the last month credited."""
    caisse = _caisse_of(who, Role.COMMITTEE, Role.TREASURER)
    rows = reports.households(await deps.books.entries(caisse), caisse)
    return HouseholdsOut(caisse_id=caisse, role=who.role.value,
                         households=[HouseholdOut(**asdict(row)) for row in rows])


@router.post("/cards/{card_id}/{action}", response_model=RequestAnswered,
             responses=errors(504))
async def card_status(card_id: Identifier, action: Literal["block", "unblock", "leave"],
                      who: Annotated[Principal, Depends(principal)],
                      deps: Deps) -> RequestAnswered:
    """Block a card (lost, misuse), unblock it, or record that the household left."""
    caisse = _caisse_of(who, Role.COMMITTEE)
    kind = {"block": RequestKind.BLOCK, "unblock": RequestKind.UNBLOCK,
            "leave": RequestKind.LEAVE}[action]
    asked = CaisseRequested(request_id=f"{action}/{uuid.uuid4().hex}", kind=kind,
                            caisse_id=caisse, card_id=card_id, requested_at=deps.clock(),
                            requested_by=f"committee:{caisse}")
    return await _ask(deps, asked)


@router.post("/decisions", status_code=status.HTTP_201_CREATED, response_model=DecisionRecorded)
async def decide(body: DecisionIn, who: Annotated[Principal, Depends(principal)],
                 deps: Deps) -> DecisionRecorded:
    """Record a decision the committee adopted: approving (conventionnement) or suspending a
    shop or producer, or new allowance rules."""
    caisse = _caisse_of(who, Role.COMMITTEE)
    try:
        check_vote(body.votes_for, body.votes_against, body.votes_abstain)
    except ValueError as err:
        raise refused("votes_for", "not_adopted", str(err),
                       f"Décision non adoptée : {body.votes_for} voix pour, "
                       f"{body.votes_against} contre. Il faut plus de voix pour que contre."
                       ) from err
    if (body.kind is DecisionKind.SET_RULES) != (body.rules is not None):
        raise refused("rules", "rules_with_set_rules", "rules go with SET_RULES, and only "
                       "with it", "Des règles d'allocation vont avec une décision « nouvelles "
                       "règles », et seulement avec elle.")
    if (body.kind is DecisionKind.SET_RULES) == (body.subject_id is not None):
        if body.subject_id is None:
            raise refused("subject_id", "missing", "a subject_id for every decision but "
                           "SET_RULES", "Indiquez le commerce ou le producteur concerné.")
        raise refused("subject_id", "extra_subject", "a subject_id for every decision but "
                       "SET_RULES", "Des règles d'allocation ne concernent pas un commerce : "
                       "laissez ce champ vide.")
    decision = DecisionRecorded(decision_id=f"{caisse}-{uuid.uuid4().hex[:12]}",
                                caisse_id=caisse, decided_at=deps.clock(),
                                **body.model_dump(exclude={"criteria", "rules"}),
                                criteria=tuple(body.criteria),
                                rules=body.rules.to_rules() if body.rules else None)
    await deps.publisher.publish(CAISSE_DECISIONS, decision)
    deps.decisions.put(decision)
    return decision


@router.get("/decisions", response_model=list[DecisionRecorded])
async def decisions(who: Annotated[Principal, Depends(principal)],
                    deps: Deps) -> list[DecisionRecorded]:
    """The caisse's decisions, oldest first."""
    caisse = _caisse_of(who, Role.COMMITTEE, Role.TREASURER)
    mine = [d for d in deps.decisions.values() if d.caisse_id == caisse]
    return sorted(mine, key=lambda d: (d.decided_at, d.decision_id))


@router.post("/credits", response_model=CreditOut, responses=errors(409, 504))
async def credit(body: MonthIn, who: Annotated[Principal, Depends(principal)],
                 deps: Deps) -> CreditOut:
    """Credit a month's allowance to every household (once per household, however often it
    is asked)."""
    caisse = _caisse_of(who, Role.COMMITTEE, Role.TREASURER)
    try:
        answers = await deps.caisse.credit_month(
            caisse, body.month, f"{who.role.value.lower()}:{caisse}")
    except NoAnswer as err:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT,
                            "the caisse did not answer in time: ask again") from err
    declined = {a.reason for a in answers if a.reason is not None}
    if DeclineReason.NO_RULES in declined:
        raise refused("month", "no_rules", f"no allowance rules in force for {body.month}",
                       f"Aucune règle d'allocation n'est en vigueur pour {body.month} : le "
                       "comité doit d'abord voter des règles.", status.HTTP_409_CONFLICT)
    if declined:  # e.g. INVALID_REQUEST, for a request the gateway should not have let by
        raise HTTPException(status.HTTP_409_CONFLICT, f"the caisse declined the credit of "
                            f"{body.month}: {', '.join(sorted(declined))}")
    return CreditOut(caisse_id=caisse, month=body.month,
                     households=sum(a.entries for a in answers),
                     credited_cents=sum(a.amount_cents for a in answers))


@router.post("/contributions", status_code=status.HTTP_201_CREATED,
             response_model=ContributionRecorded)
async def contribute(body: ContributionIn, who: Annotated[Principal, Depends(principal)],
                     deps: Deps) -> ContributionRecorded:
    """Record a household's contribution for a month (the same id again: once)."""
    caisse = _caisse_of(who, Role.TREASURER)
    contribution = ContributionRecorded(
        contribution_id=body.contribution_id or f"{body.card_id}-{body.month}",
        caisse_id=caisse, card_id=body.card_id, month=body.month,
        amount_cents=body.amount_cents, income_band=body.income_band,
        recorded_at=deps.clock())
    await deps.publisher.publish(CAISSE_CONTRIBUTIONS, contribution)
    return contribution


@router.post("/settlements", response_model=list[SettlementRecorded])
async def settle(body: MonthIn, who: Annotated[Principal, Depends(principal)],
                 deps: Deps) -> list[SettlementRecorded]:
    """Compute and record the month's settlement of every shop from the ledger."""
    caisse = _caisse_of(who, Role.TREASURER)
    return await deps.books.settle(deps.publisher, caisse, body.month, deps.committee())


@router.get("/settlements", response_model=list[SettlementRecorded],
            responses={200: {"content": {"text/csv": {}}}})
async def settlements(who: Annotated[Principal, Depends(principal)], deps: Deps,
                      month: Month | None = None,
                      format: Literal["json", "csv"] = "json"):  # noqa: A002 - the API's word
    """The recorded settlements (the newest per shop and month); `format=csv` for the books."""
    caisse = _caisse_of(who, Role.TREASURER, Role.COMMITTEE)
    rows = await deps.books.settlements(caisse, month)
    if format == "csv":
        name = f"reglements-{caisse}-{month or 'tous'}.csv"
        return Response(reports.settlements_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return rows


@router.get("/reports")
async def report(who: Annotated[Principal, Depends(principal)],
                 month: Annotated[list[Month], Query(min_length=1, max_length=MAX_REPORT_MONTHS)],
                 deps: Deps) -> dict:
    """Spend per shop, shop type, month and income band, with the local and organic shares,
    and contributions against allowances per income band."""
    caisse = _caisse_of(who, Role.COMMITTEE, Role.TREASURER)
    result = await deps.books.report(caisse, month, product_lookup(deps.mappings, deps.products),
                                     deps.committee())
    return result.as_dict()
