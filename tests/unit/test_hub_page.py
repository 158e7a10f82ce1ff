"""The hub page's own logic (services/gateway/static/pole.html, the block between « pur : début »
and « pur : fin »: no DOM, no network), run in node: the next delivery days, needs against
offers per product, the needs left without a producer, refusals and their re-allocation, what
the grid says of each candidate, and the day's refusals said in French."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "services" / "gateway" / "static" / "pole.html"
NODE = shutil.which("node")


def pure() -> str:
    html = PAGE.read_text(encoding="utf-8")
    start, end = html.index("// ---- pur : début"), html.index("// ---- pur : fin")
    return html[start:end]


def run(expression: str, **values: object) -> object:
    """`expression` evaluated with POLE and the given values (as JSON), its result as JSON."""
    if NODE is None:  # never skipped: `make browser`'s npm needs node too
        pytest.fail("node is not installed: install your system's nodejs package")
    given = "".join(f"const {k} = {json.dumps(v)};\n" for k, v in values.items())
    script = f"{pure()}\n{given}process.stdout.write(JSON.stringify({expression}));"
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def need(need_id, product, qty, orders=(), shop="ep-1", at="2026-12-07T09:00:00Z"):
    return {"need_id": need_id, "shop_id": shop, "territory": "t", "product_id": product,
            "quantity": qty, "unit": "GRAM", "delivery_slot": "2026-12-10", "stated_at": at,
            "order_ids": list(orders)}


def offer(offer_id, producer, product, qty, reserved=0):
    return {"offer_id": offer_id, "producer_id": producer, "product_id": product, "unit": "GRAM",
            "quantity_per_slot": qty, "reserved": reserved, "remaining": qty - reserved}


def candidate(rank, producer, offer_id, total, capacity=60_000):
    return {"rank": rank, "producer_id": producer, "offer_id": offer_id, "total": total,
            "quality": 80, "locality": 70, "accessibility": 60, "capacity": capacity,
            "explanation": "bio (+60) ; 17 km du pôle ; 3,20 €/kg, le moins cher"}


def order(order_id, producer, status, lines, *, replaces=None, refused_by=(),
          first="2026-12-08T10:00:00Z", history=()):
    steps = [{"status": "NEEDED", "at": first, "actor_role": "HUB", "actor_id": "t",
              "command_id": "c1"}, *history]
    return {"order_id": order_id, "producer_id": producer, "status": status, "lines": lines,
            "history": steps, "replaces": replaces, "refused_by": list(refused_by),
            "received_by": []}


def line(product, offer_id, needs, candidates):
    return {"product_id": product, "offer_id": offer_id, "unit": "GRAM", "pack_size": 5_000,
            "packs": 2, "requested": 9_000, "unit_price_cents": 320,
            "parts": [{"need_id": n, "shop_id": "ep-1", "quantity": 5_000} for n in needs],
            "candidates": candidates}


def test_the_next_delivery_days_follow_the_hubs_weekdays() -> None:
    # 2026-12-03 is a Thursday (ISO 4): it is counted, then the Mondays and Thursdays after
    assert run("POLE.deliveryDays('2026-12-03', [1, 4], 4)") == [
        "2026-12-03", "2026-12-07", "2026-12-10", "2026-12-14"]
    assert run("POLE.deliveryDays('2026-12-05', [7], 2)") == ["2026-12-06", "2026-12-13"]
    assert run("POLE.deliveryDays('2026-12-03', [], 4)") == []


def test_needs_and_offers_per_product_say_what_is_missing() -> None:
    rows = run("POLE.products(needs, offers, {leek: {name: 'Poireau'}, apple: {name: 'Pomme'}})",
               needs=[need("n1", "leek", 12_000, ["o1"]), need("n2", "leek", 7_000, shop="ep-2"),
                      need("n3", "apple", 4_000)],
               offers=[offer("f1", "near", "leek", 10_000, reserved=10_000),
                       offer("f2", "far", "leek", 6_000)])
    assert [r["name"] for r in rows] == ["Poireau", "Pomme"]
    leek, apple = rows
    assert (leek["needed"], leek["pooled"], leek["shops"]) == (19_000, 12_000, 2)
    assert (leek["offered"], leek["reserved"], leek["remaining"], leek["producers"]) == (
        16_000, 10_000, 6_000, 2)
    assert leek["gap"] == 3_000
    assert (apple["offered"], apple["gap"]) == (0, 4_000)


def test_needs_without_an_order_are_waiting_new_or_left_without_a_producer() -> None:
    leek = line("leek", "f1", ["n1"], [candidate(1, "near", "f1", 80)])
    refused = order("t/2026-12-10/near", "near", "REFUSED", [line("pear", "p1", ["n4"], [])])
    found = run("POLE.unplaced(needs, orders, offers)", needs=[
        need("n1", "leek", 9_000, ["t/2026-12-10/near"]),
        need("n2", "apple", 4_000),  # no offer of apples at all
        need("n3", "leek", 2_000, at="2026-12-09T08:00:00Z"),  # stated after the consolidation
        need("n4", "pear", 3_000),  # its order was refused, nobody took it again
        need("n5", "plum", 1_000)],  # the plums' offers are all taken
        orders=[order("t/2026-12-10/near", "near", "ALLOCATED", [leek]), refused],
        offers=[offer("f1", "near", "leek", 10_000), offer("p9", "x", "plum", 5_000, 5_000)])
    assert [(u["need"]["need_id"], u["state"], u.get("why")) for u in found] == [
        ("n2", "sans", "aucune-offre"), ("n3", "nouveau", None), ("n4", "sans", "refus"),
        ("n5", "sans", "epuise")]
    # before any consolidation every need is waiting; after one made here that made no order,
    # they are left without a producer
    assert {u["state"] for u in run("POLE.unplaced(needs, [], [])",
                                    needs=[need("n2", "apple", 4_000)])} == {"attente"}
    assert run("POLE.unplaced(needs, [], [], Date.parse('2026-12-09T00:00:00Z'))[0].why",
               needs=[need("n2", "apple", 4_000)]) == "aucune-offre"


def test_a_refusal_names_who_refused_and_the_order_that_took_over() -> None:
    refused_step = {"status": "REFUSED", "at": "2026-12-08T11:00:00Z", "actor_role": "PRODUCER",
                    "actor_id": "near", "command_id": "c2"}
    orders = [order("t/d/near", "near", "REFUSED", [], history=[refused_step]),
              order("t/d/near>far", "far", "ALLOCATED", [], replaces="t/d/near",
                    refused_by=["near"]),
              order("t/d/other", "other", "CONFIRMED", [])]
    assert run("POLE.replacements(orders)", orders=orders) == {"t/d/near": ["t/d/near>far"]}
    assert run("POLE.refusal(orders[0])", orders=orders) == {
        "by": "near", "at": "2026-12-08T11:00:00Z", "reason": None}
    assert run("POLE.refusal({...orders[0], history: [...orders[0].history.slice(0, 1), "
               "{...orders[0].history[1], reason: 'grêle'}]}).reason", orders=orders) == "grêle"
    assert run("POLE.refusal(orders[2])", orders=orders) is None


def test_the_grid_says_why_each_other_candidate_was_not_chosen() -> None:
    candidates = [candidate(1, "near", "f1", 85, capacity=0), candidate(2, "mid", "f2", 75),
                  candidate(3, "far", "f3", 60), candidate(4, "gone", "f4", 50)]
    mine = order("t/d/mid", "mid", "ALLOCATED", [line("leek", "f2", ["n1"], candidates)],
                 refused_by=["gone"])
    split = order("t/d/far", "far", "ALLOCATED", [line("leek", "f3", ["n1"], candidates)])
    found = run("POLE.grid(o.lines[0], o, orders)", o=mine, orders=[mine, split])
    assert found["chosen"]["producer_id"] == "mid" and found["count"] == 4
    assert [(x["candidate"]["producer_id"], x["why"]) for x in found["others"]] == [
        ("near", "capacite"), ("far", "partage"), ("gone", "refus")]
    alone = order("t/d/mid", "mid", "ALLOCATED", [line("leek", "f2", ["n1"], candidates)])
    assert [x["why"] for x in run("POLE.grid(o.lines[0], o, [o]).others", o=alone)] == [
        "capacite", "apres", "apres"]


def test_the_hub_acts_only_at_its_own_steps() -> None:
    actions = run("['ALLOCATED', 'CONFIRMED', 'SHIPPED', 'RECEIVED_AT_HUB', 'DISPATCHED', "
                  "'REFUSED'].map((status) => POLE.hubActions({status}).map((a) => a[0]))")
    assert actions == [[], [], ["receive-at-hub"], ["dispatch"], [], []]
    assert run("[...POLE.CANCELLABLE].sort()") == ["ALLOCATED", "CONFIRMED"]


def test_a_refused_day_is_said_in_french_next_to_the_day() -> None:
    said = run("POLE.dayProblems(detail)", detail=[
        {"loc": ["query", "slot"], "type": "greater_than_equal", "msg": "..."},
        {"loc": ["body", "delivery_slot"], "type": "date_from_datetime_parsing", "msg": "..."},
        {"loc": ["body", "territory"], "type": "missing", "msg": "..."}])
    assert said[0] == {"name": "jour", "fr": "Ce jour est hors des dates permises : choisissez "
                                              "un jour entre le 1er janvier 2000 et le 31 "
                                              "décembre 2100."}
    assert said[1]["name"] == "jour" and said[1]["fr"].startswith("Écrivez une date")
    assert said[2]["loc"] == ["body", "territory"]  # not the day's: left as the API said it
