"""What the planning API refuses, each with the sentence its user reads. Pure.

A need or a plan is for weeks (their Mondays) from the current one to a year ahead, of a product
the catalog knows, in a territory the directory knows; a firm need (a contrat de culture) names
its price; a shop states its own needs, a hub those of its territory's shops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from services.planning.outlook import monday
from services.directory.rules import Refusal

AHEAD_WEEKS = 52


def _refusal(loc: tuple[str, ...], kind: str, msg: str, fr: str, status: int = 422) -> Refusal:
    return Refusal(status, kind, msg, fr, loc)


def week_problems(weeks: Iterable[date], today: date, *, past: bool = False) -> list[Refusal]:
    """Each week a Monday and named once; a plan's or a need's from the current week to
    AHEAD_WEEKS ahead, a history's (`past`) before the current week."""
    first, problems, seen = monday(today), [], set()
    for i, week in enumerate(weeks):
        loc = ("weeks", str(i), "week")
        if week.weekday() != 0:
            problems.append(_refusal(loc, "not_a_monday", f"{week} is not a Monday",
                                     f"La semaine se désigne par son lundi : le {week:%d/%m/%Y} "
                                     "n'en est pas un."))
        elif week in seen:
            problems.append(_refusal(loc, "repeated_week", f"the week of {week} is named twice",
                                     f"La semaine du {week:%d/%m/%Y} est indiquée deux fois."))
        elif past and week >= first:
            problems.append(_refusal(loc, "not_past", "history is of complete past weeks",
                                     "L'historique ne contient que des semaines terminées."))
        elif not past and week < first:
            problems.append(_refusal(loc, "past_week", f"the week of {week} is past",
                                     f"La semaine du {week:%d/%m/%Y} est passée : choisissez "
                                     "une semaine à venir."))
        elif not past and week > first + timedelta(weeks=AHEAD_WEEKS):
            problems.append(_refusal(loc, "too_far", f"the week of {week} is over a year ahead",
                                     "On planifie au plus un an à l'avance."))
        seen.add(week)
    return problems


def known(territory: str | None, product_id: str, territories: Mapping[str, Any],
          products: Mapping[str, Any]) -> list[Refusal]:
    problems = []
    if territory is not None and territories.get(territory) is None:
        problems.append(_refusal(("territory",), "unknown_territory",
                                 f"no territory {territory} in the directory",
                                 f"Le territoire « {territory} » n'est pas dans l'annuaire."))
    if products.get(product_id) is None:
        problems.append(_refusal(("product_id",), "unknown_product",
                                 f"unknown product {product_id!r}",
                                 f"Le produit « {product_id} » n'est pas au catalogue."))
    return problems


def firm_problems(firm: bool, price_cents: int | None) -> list[Refusal]:
    if firm and price_cents is None:
        return [_refusal(("price_cents",), "missing", "a firm need names its price",
                         "Un engagement (contrat de culture) indique son prix.")]
    return []


def shop_problems(shop: Any, shop_id: str, hub_territory: str | None, *, is_hub: bool
                  ) -> list[Refusal]:
    """The shop must be open in the directory; a hub states needs for its territory's shops."""
    if shop is None or shop.closed_at is not None:
        return [_refusal(("shop_id",), "unknown_shop", f"no open shop {shop_id} in the directory",
                         f"L'épicerie « {shop_id} » n'est pas (ou plus) dans l'annuaire.")]
    if is_hub and hub_territory is not None and shop.territory != hub_territory:
        return [_refusal(("shop_id",), "other_territory",
                         f"shop {shop_id} is not in the hub's territory",
                         f"L'épicerie « {shop_id} » n'est pas de votre territoire.", 403)]
    return []

