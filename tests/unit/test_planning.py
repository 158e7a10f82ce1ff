"""The season's coverage, pure: totals, revisions, withdrawals, the history the outlook learns
from, what each person sees (never another producer's plan), and what the API refuses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from services.events.planning import CropPlanned, ForwardNeedStated, WeekUnits
from services.planning import rules
from services.planning.coverage import Viewer, compute, history, merge_observed, same, view

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 12, 2)  # a Wednesday
WEEK = date(2026, 11, 30)  # its Monday
STEADY = {WEEK - timedelta(weeks=k): 700.0 for k in range(1, 11)}  # 100 a day, Mon to Sun


def need(shop: str, week: date, units: int, *, firm: bool = False,
         territory: str = "lyon") -> ForwardNeedStated:
    return ForwardNeedStated(need_key=ForwardNeedStated.key(shop, "carotte", week),
                             territory=territory, shop_id=shop, product_id="carotte", week=week,
                             units=units, firm=firm, price_cents=250 if firm else None,
                             stated_by=shop, stated_at=NOW)


def plan(producer: str, week: date, units: int, territory: str = "lyon") -> CropPlanned:
    return CropPlanned(plan_key=CropPlanned.key(producer, territory, "carotte", week),
                       producer_id=producer, territory=territory, product_id="carotte",
                       week=week, units=units, planned_at=NOW)


def newest(*lines):
    """What a compacted topic keeps: the newest line per key."""
    kept = {}
    for line in lines:
        kept[getattr(line, "need_key", None) or line.plan_key] = line
    return list(kept.values())


def test_a_week_adds_needs_firm_commitments_and_every_producers_plan() -> None:
    week = WEEK + timedelta(weeks=3)
    found = compute("lyon", "carotte", STEADY,
                    [need("epi-a", week, 300, firm=True), need("epi-b", week, 200),
                     need("epi-c", week, 50, territory="marseille")],
                    [plan("ferme-1", week, 250), plan("ferme-2", week, 100),
                     plan("ferme-3", week, 999, territory="marseille")], TODAY, NOW)
    row = found.weeks[3]
    assert (row.week, row.needs, row.firm, row.plans, row.producers) == (week, 500, 300, 350, 2)
    assert row.demand == max(row.outlook, 500.0)
    assert row.gap == round(row.demand - 350, 1)
    assert len(found.weeks) == 26 and found.weeks[0].week == WEEK
    assert found.weeks[0].plans == 0 and found.weeks[0].gap == found.weeks[0].demand


def test_stated_needs_above_the_outlook_set_the_demand() -> None:
    week = WEEK + timedelta(weeks=1)
    found = compute("lyon", "carotte", STEADY, [need("epi-a", week, 5000)], [], TODAY, NOW)
    assert found.weeks[1].outlook < 5000
    assert (found.weeks[1].demand, found.weeks[1].gap) == (5000.0, 5000.0)


def test_a_revision_replaces_a_plan_and_zero_withdraws_it() -> None:
    week = WEEK + timedelta(weeks=2)
    first = compute("lyon", "carotte", STEADY, [], [plan("ferme-1", week, 400)], TODAY, NOW)
    revised = compute("lyon", "carotte", STEADY, [],
                      newest(plan("ferme-1", week, 400), plan("ferme-1", week, 150)), TODAY, NOW)
    withdrawn = compute("lyon", "carotte", STEADY, [],
                        newest(plan("ferme-1", week, 400), plan("ferme-1", week, 0)), TODAY, NOW)
    assert [c.weeks[2].plans for c in (first, revised, withdrawn)] == [400, 150, 0]
    assert revised.weeks[2].gap - first.weeks[2].gap == 250
    assert withdrawn.weeks[2].producers == 0 and withdrawn.plans == ()
    assert not same(first, revised) and same(revised, revised.model_copy(
        update={"computed_at": NOW + timedelta(hours=1)}))


def test_lines_outside_the_26_weeks_are_left_out() -> None:
    found = compute("lyon", "carotte", STEADY,
                    [need("epi-a", WEEK - timedelta(weeks=1), 10),
                     need("epi-a", WEEK + timedelta(weeks=26), 10)], [], TODAY, NOW)
    assert found.needs == () and all(w.needs == 0 for w in found.weeks)


def test_a_producer_sees_the_totals_and_its_own_plan_never_another_producers() -> None:
    week = WEEK + timedelta(weeks=4)
    found = compute("lyon", "carotte", STEADY, [need("epi-a", week, 300)],
                    [plan("ferme-des-pres", week, 250), plan("gaec-du-soleil", week, 100)],
                    TODAY, NOW)
    mine = view(found, Viewer(producer_id="ferme-des-pres"), "GRAM")
    text = json.dumps(mine)
    assert "gaec-du-soleil" not in text and "epi-a" not in text
    assert (mine["weeks"][4]["plans"], mine["weeks"][4]["mine"], mine["weeks"][4]["producers"]) \
        == (350, 250, 2)
    shop = view(found, Viewer(shop_id="epi-a"), "GRAM")
    assert "ferme-des-pres" not in json.dumps(shop) and shop["weeks"][4]["mine"] == 300
    assert view(found, Viewer(), "GRAM")["weeks"][4]["mine"] is None


def test_the_history_is_vivres_own_from_its_first_sale_and_imported_before() -> None:
    weeks = [date(2026, 9, 7) + timedelta(weeks=k) for k in range(6)]
    observed = merge_observed((), [(weeks[0], 0), (weeks[1], 0), (weeks[2], 40), (weeks[3], 0)])
    imported = {weeks[0]: 30, weeks[1]: 35, weeks[2]: 99, weeks[3]: 99}
    assert history(observed, imported) == {weeks[0]: 30, weeks[1]: 35, weeks[2]: 40,
                                           weeks[3]: 0}
    assert history((), imported) == {w: float(u) for w, u in imported.items()}
    # a later signal's weeks replace the kept ones and add the new
    later = merge_observed(observed, [(weeks[3], 12), (weeks[4], 50)])
    assert [(w.week, w.units) for w in later][-3:] == [(weeks[2], 40), (weeks[3], 12),
                                                       (weeks[4], 50)]
    assert later[0] == WeekUnits(week=weeks[0], units=0)


def test_history_weeks_counts_from_the_first_week_with_sales() -> None:
    found = compute("lyon", "carotte", STEADY, [], [], TODAY, NOW)
    assert found.history_weeks == 10
    assert compute("lyon", "carotte", {}, [], [], TODAY, NOW).history_weeks == 0


def test_weeks_must_be_coming_mondays_within_a_year_and_named_once() -> None:
    problems = rules.week_problems([WEEK, WEEK + timedelta(days=1), WEEK - timedelta(weeks=1),
                                    WEEK + timedelta(weeks=53), WEEK], TODAY)
    assert [(p.type, p.loc) for p in problems] == [
        ("not_a_monday", ("weeks", "1", "week")), ("past_week", ("weeks", "2", "week")),
        ("too_far", ("weeks", "3", "week")), ("repeated_week", ("weeks", "4", "week"))]
    assert "01/12/2026" in problems[0].fr and "passée" in problems[1].fr
    assert [p.type for p in rules.week_problems([WEEK, WEEK - timedelta(weeks=1)], TODAY,
                                                past=True)] == ["not_past"]


def test_a_firm_need_names_its_price_and_a_hub_keeps_to_its_territory() -> None:
    assert [p.type for p in rules.firm_problems(True, None)] == ["missing"]
    assert rules.firm_problems(True, 250) == [] and rules.firm_problems(False, None) == []

    class Shop:
        territory, closed_at = "lyon", None
    assert rules.shop_problems(Shop(), "epi-a", "lyon", is_hub=True) == []
    refused = rules.shop_problems(Shop(), "epi-a", "marseille", is_hub=True)
    assert [(p.status, p.type) for p in refused] == [(403, "other_territory")]
    assert [p.type for p in rules.shop_problems(None, "x", None, is_hub=False)] == \
        ["unknown_shop"]


def test_a_weeks_shape_comes_from_the_territorys_shops_opening_days() -> None:
    from services.events.catalog import ShopRegistered
    from services.planning.coverage import weekday_share

    def shop(shop_id: str, days: tuple[int, ...], territory: str = "lyon", closed=None):
        return ShopRegistered(shop_id=shop_id, name=shop_id, territory=territory,
                              kind="solidaire", timezone="Europe/Paris", registered_at=NOW,
                              opening_days=days, closed_at=closed)
    shops = [shop("a", (2, 3, 4, 5, 6)), shop("b", ()), shop("c", (1,), territory="marseille"),
             shop("d", (7,), closed=NOW)]
    share = weekday_share(shops, "lyon")
    assert share is not None and [round(s * 11, 6) for s in share] == [1, 2, 2, 2, 2, 2, 0]
    assert weekday_share(shops, "toulouse") is None
