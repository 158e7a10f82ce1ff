"""The gateway's field types and the request models built on them: out of range is refused,
naming the field; in range goes through. No broker."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.gateway import fields
from services.gateway.availability import OfferIn
from services.gateway.caisse import ContributionIn, DecisionIn, MonthIn, RulesIn
from services.gateway.sse import parse_cursor
from services.gateway.orders import ConsolidateIn, NeedIn
from services.gateway.stock import CountIn

RULES = {"currency": "EUR", "base_cents": 15_000, "per_extra_adult_cents": 7_500,
         "per_child_cents": 4_000, "carry_over": "FULL"}
OFFER = {"territory": "lyon", "product_id": "carotte", "quantity_per_slot": 10_000,
         "pack_size": 1_000, "price_cents": 350, "window_start": "2026-11-01",
         "window_end": "2026-11-30", "farm": {"lat_e6": 45_760_000, "lon_e6": 4_840_000}}


def refused_at(model: type[BaseModel], data: dict) -> list[tuple]:
    """The locations pydantic names when it refuses `data`."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return [tuple(e["loc"]) for e in refused.value.errors()]


@pytest.mark.parametrize("month", ["2000-01", "2026-11", "2100-12"])
def test_a_month_within_the_years_is_accepted(month: str) -> None:
    assert MonthIn(month=month).month == month


@pytest.mark.parametrize("month", ["0000-01", "1999-12", "2101-01", "2026-00", "2026-13",
                                   "2026-1", "26-11", "2026-11-01", "", "２０２６-11",
                                   "2026-11\n"])
def test_a_month_out_of_range_or_malformed_is_refused_naming_it(month: str) -> None:
    assert refused_at(MonthIn, {"month": month}) == [("month",)]
    assert ("month",) in refused_at(ContributionIn, {
        "card_id": "c1", "month": month, "amount_cents": 0, "income_band": "T1"})


@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"])
def test_a_day_out_of_the_years_is_refused(day: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(fields.Day).validate_python(day)
    assert refused_at(NeedIn, {"shop_id": "s1", "territory": "lyon", "product_id": "carotte",
                               "quantity": 1, "delivery_slot": day}) == [("delivery_slot",)]
    assert ("window_start",) in refused_at(OfferIn, {**OFFER, "window_start": day})


def test_the_first_and_last_days_are_accepted() -> None:
    for day in (fields.FIRST_DAY, fields.LAST_DAY):
        assert TypeAdapter(fields.Day).validate_python(day.isoformat()) == day


def test_an_offer_window_may_not_end_before_it_starts() -> None:
    assert OfferIn.model_validate({**OFFER, "window_end": "2026-11-01"}).window_end == \
        date(2026, 11, 1)
    assert refused_at(OfferIn, {**OFFER, "window_end": "2026-10-31"}) == [()]


def test_integers_are_bounded_within_their_avro_type() -> None:
    low, high = fields.AVRO_INT
    for name in ("Count", "Latitude", "Longitude"):
        schema = TypeAdapter(getattr(fields, name)).json_schema()
        assert low <= schema["minimum"] and schema["maximum"] <= high, name
    for name in ("Cents", "CaisseCents", "CaisseAmount", "Quantity", "StockQuantity",
                 "TicketNumber"):
        schema = TypeAdapter(getattr(fields, name)).json_schema()
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        assert -(2**63) <= low and schema["maximum"] <= 2**63 - 1, name


def test_votes_and_rules_out_of_range_are_refused_naming_the_field() -> None:
    vote = {"kind": "SET_RULES", "effective_on": "2026-01-01", "votes_for": 3,
            "votes_against": 1, "rules": RULES}
    assert DecisionIn.model_validate(vote).rules.to_rules().base_cents == 15_000
    assert refused_at(DecisionIn, {**vote, "votes_for": 2**31}) == [("votes_for",)]
    assert refused_at(DecisionIn, {**vote, "effective_on": "0000-01-01"}) == [("effective_on",)]
    assert refused_at(DecisionIn, {**vote, "rules": {**RULES, "base_cents": 2**63}}) == \
        [("rules", "base_cents")]
    assert refused_at(DecisionIn, {**vote, "rules": {**RULES, "timezone": "Mars/Olympus"}}) == \
        [("rules", "timezone")]


def test_a_capped_carry_over_needs_its_cap() -> None:
    assert refused_at(RulesIn, {**RULES, "carry_over": "CAPPED"}) == [()]
    assert RulesIn.model_validate({**RULES, "carry_over": "CAPPED",
                                   "carry_over_cap_cents": 5_000}).carry_over_cap_cents == 5_000


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "é", "\ud800"])
def test_identifiers_are_non_empty_bounded_and_plain(value: str) -> None:
    assert refused_at(CountIn, {"shop_id": value, "product_id": "p1", "quantity": 1}) == \
        [("shop_id",)]


@pytest.mark.parametrize("name", ["Label", "Reason", "Note", "Name", "Code", "OrderId"])
def test_free_text_with_a_lone_surrogate_is_refused(name: str) -> None:
    """UTF-8 (so Avro) cannot encode a lone surrogate, which JSON's \\u escapes allow: a
    constrained string refuses one (pydantic-core), which the gateway relies on."""
    kind = TypeAdapter(getattr(fields, name))
    assert kind.validate_python("Pain de campagne — bio 🍞") == "Pain de campagne — bio 🍞"
    with pytest.raises(ValidationError, match="unicode"):
        kind.validate_python("pain \ud800")


def test_a_consolidation_names_the_bad_hub_coordinate() -> None:
    assert refused_at(ConsolidateIn, {"territory": "lyon", "delivery_slot": "2026-11-26",
                                      "hub": {"lat_e6": 2**31, "lon_e6": 0}}) == \
        [("hub", "lat_e6")]


@pytest.mark.parametrize(("text", "cursor"), [
    ("0:12,2:40", {0: 12, 2: 40}), (None, {}), ("", {}), ("0:²", {}), ("²:1", {}),
    ("0:١٢", {}), ("junk,1:5", {1: 5}), ("0:" + "9" * 40, {}),
])
def test_a_cursor_reads_ascii_digits_only(text: str | None, cursor: dict[int, int]) -> None:
    assert parse_cursor(text) == cursor
