"""The committee's decisions in force, allowance rules and months. Pure.

A decision applies from its `effective_on` day; of the decisions about one subject, the one in
force on a day is the latest effective on or before it (ties: the latest recorded). A shop can
take redemptions from a card only while its approval by the card's caisse is in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import structlog

from services.events.caisse import (
    AllowanceRules,
    CarryOver,
    DecisionKind,
    DecisionRecorded,
    Household,
)

log = structlog.get_logger("vivres.caisse.rules")
DEFAULT_TIMEZONE = "Europe/Paris"
_SHOP = (DecisionKind.APPROVE_SHOP, DecisionKind.SUSPEND_SHOP)
_PRODUCER = (DecisionKind.APPROVE_PRODUCER, DecisionKind.SUSPEND_PRODUCER)


def allowance_cents(rules: AllowanceRules, household: Household) -> int:
    """A household's monthly allowance: the base, plus each adult after the first, plus each
    child (Lyon: 150 € + 75 € per extra adult + 40 € per child)."""
    extra_adults = max(0, household.adults - 1)
    return (rules.base_cents + extra_adults * rules.per_extra_adult_cents
            + household.children * rules.per_child_cents)


def carried_over(rules: AllowanceRules, balance_cents: int) -> int:
    """What is left of an unspent balance when the next month is credited."""
    if rules.carry_over is CarryOver.NONE:
        return 0
    if rules.carry_over is CarryOver.CAPPED:
        return min(balance_cents, rules.carry_over_cap_cents or 0)
    return balance_cents


def month_of(moment: datetime, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The local month (YYYY-MM) a moment falls in."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def first_day(month: str) -> date:
    """The first day of a YYYY-MM month (ValueError for anything else)."""
    year, _, number = month.partition("-")
    if len(year) != 4 or len(number) != 2:
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    return date(int(year), int(number), 1)


def check_vote(votes_for: int, votes_against: int, votes_abstain: int) -> None:
    """A decision is recorded only when it was adopted: more votes for than against."""
    if min(votes_for, votes_against, votes_abstain) < 0:
        raise ValueError("votes cannot be negative")
    if votes_for <= votes_against:
        raise ValueError(f"not adopted: {votes_for} for, {votes_against} against")


class Committee:
    """The decisions of every caisse's committee, answering what is in force on a day."""

    def __init__(self, decisions: Iterable[DecisionRecorded]) -> None:
        self._by_subject: dict[tuple[str, str, str | None], list[DecisionRecorded]] = {}
        for decision in decisions:
            self.add(decision)

    def add(self, decision: DecisionRecorded) -> None:
        from services.caisse.checks import decision_problem  # checks builds on this module

        problem = decision_problem(decision)
        if problem is not None:
            log.warning("decision not followed", decision_id=decision.decision_id,
                        caisse_id=decision.caisse_id, problem=problem)
            return
        key = (decision.caisse_id, _group(decision.kind), decision.subject_id)
        history = self._by_subject.setdefault(key, [])
        if any(d.decision_id == decision.decision_id for d in history):
            return
        history.append(decision)
        history.sort(key=lambda d: (d.effective_on, d.decided_at, d.decision_id))

    def in_force(self, caisse_id: str, group: str, subject_id: str | None,
                 on: date) -> DecisionRecorded | None:
        current = None
        for decision in self._by_subject.get((caisse_id, group, subject_id), ()):
            if decision.effective_on > on:
                break
            current = decision
        return current

    def rules(self, caisse_id: str, on: date) -> AllowanceRules | None:
        decision = self.in_force(caisse_id, "rules", None, on)
        return decision.rules if decision is not None else None

    def rules_for_month(self, caisse_id: str, month: str) -> AllowanceRules | None:
        """The rules in force on the first day of the month."""
        return self.rules(caisse_id, first_day(month))

    def timezone(self, caisse_id: str) -> str:
        decision = self.in_force(caisse_id, "rules", None, date.max)
        return decision.rules.timezone if decision and decision.rules else DEFAULT_TIMEZONE

    def local_day(self, caisse_id: str, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone(caisse_id))).date()

    def shop_approved(self, caisse_id: str, shop_id: str, moment: datetime) -> bool:
        decision = self.in_force(caisse_id, "shop", shop_id, self.local_day(caisse_id, moment))
        return decision is not None and decision.kind is DecisionKind.APPROVE_SHOP

    def shop_type(self, caisse_id: str, shop_id: str) -> str | None:
        """The type the shop was last approved as (reports group by it)."""
        history = self._by_subject.get((caisse_id, "shop", shop_id), ())
        approved = [d for d in history if d.kind is DecisionKind.APPROVE_SHOP and d.shop_type]
        return approved[-1].shop_type if approved else None

    def decisions(self) -> list[DecisionRecorded]:
        everything = [d for history in self._by_subject.values() for d in history]
        return sorted(everything, key=lambda d: (d.decided_at, d.decision_id))


def _group(kind: DecisionKind) -> str:
    if kind in _SHOP:
        return "shop"
    if kind in _PRODUCER:
        return "producer"
    return "rules"


class FollowedCommittee:
    """The Committee of a followed table of decisions (anything with `.values()` and a
    `.version` that grows with each row), rebuilt only when a decision arrived."""

    def __init__(self, table) -> None:
        self.table = table
        self._built: tuple[int, Committee] | None = None

    def __call__(self) -> Committee:
        version = getattr(self.table, "version", 0)
        if self._built is None or self._built[0] != version:
            self._built = (version, Committee(self.table.values()))
        return self._built[1]
