"""The supply side of the simulated territories: local producers, their seasonal offers, the
shops' weekly needs, and the hub that pools them. Pure and deterministic by seed; `runner.
run_supply_week` plays a week of it against the gateway."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from services.simulator.territories import PRODUCTS, SHOPS, Product

# Hubs (pôles logistiques) near the épiceries of each territory, in microdegrees.
HUBS: dict[str, tuple[int, int]] = {
    "lyon": (45_734_000, 4_869_000),
    "marseille": (43_338_000, 5_372_000),
    "montpellier": (43_620_000, 3_851_000),
    "toulouse": (43_574_000, 1_424_000),
}


@dataclass(frozen=True, slots=True)
class Producer:
    id: str
    name: str
    territory: str
    lat_e6: int
    lon_e6: int
    organic: bool
    labels: tuple[str, ...]
    categories: frozenset[str]
    price_pct: int  # their price as a share of the market price
    refusal_pct: int  # chance, in percent, of refusing an order (hail, a bad week)
    commune: str = ""


PRODUCERS: tuple[Producer, ...] = (
    Producer("ferme-des-quatre-vents", "Ferme des Quatre Vents", "lyon", 45_860_000, 4_950_000,
             True, ("hve",), frozenset({"legumes"}), 85, 10, "Montluel"),
    Producer("gaec-du-vallon", "GAEC du Vallon", "lyon", 45_600_000, 4_450_000, False,
             ("label-rouge",), frozenset({"legumes", "fruits", "oeufs"}), 70, 5,
             "Saint-Symphorien-sur-Coise"),
    Producer("maraichers-de-la-durance", "Maraîchers de la Durance", "marseille", 43_720_000,
             5_100_000, True, (), frozenset({"legumes", "fruits"}), 80, 10, "Mallemort"),
    Producer("mas-des-garrigues", "Mas des Garrigues", "montpellier", 43_760_000, 3_700_000,
             True, ("nature-et-progres",), frozenset({"legumes", "fruits"}), 90, 5,
             "Saint-Martin-de-Londres"),
    Producer("jardins-de-cocagne-toulouse", "Jardins de Cocagne", "toulouse", 43_520_000,
             1_330_000, True, (), frozenset({"legumes"}), 75, 10, "Seysses"),
    Producer("verger-du-lauragais", "Verger du Lauragais", "toulouse", 43_400_000, 1_800_000,
             False, ("hve",), frozenset({"fruits", "legumes"}), 65, 5,
             "Villefranche-de-Lauragais"),
)


def next_slot(today: date) -> date:
    """The week's delivery day at the hub: the next Thursday after today."""
    return today + timedelta(days=(3 - today.weekday()) % 7 or 7)


def _grown(product: Product, producer: Producer, slot: date) -> bool:
    return (product.category in producer.categories and product.local and product.in_season(slot)
            and product.sold_in(producer.territory))


def offers(producer: Producer, slot: date, seed: int) -> list[dict]:
    """What the producer declares for the slot's week: its seasonal products, with packs."""
    rng = random.Random(f"{seed}:{producer.id}:{slot.isoformat()}")
    declared = []
    for product in PRODUCTS:
        if not _grown(product, producer, slot):
            continue
        pack = 5_000 if product.unit.value == "GRAM" else 12
        declared.append({
            "offer_id": f"{producer.id}-{product.id}", "territory": producer.territory,
            "product_id": product.id, "pack_size": pack,
            "quantity_per_slot": pack * rng.randint(6, 20),
            "price_cents": max(1, product.price_cents * producer.price_pct // 100),
            "window_start": (slot - timedelta(days=14)).isoformat(),
            "window_end": (slot + timedelta(days=28)).isoformat(),
            "organic": producer.organic, "labels": list(producer.labels)})  # farm: the directory's
    return declared


def needs(territory: str, slot: date, seed: int) -> list[dict]:
    """What each épicerie of the territory asks for the slot: a week of its usual sales of the
    products its producers grow."""
    grown = {p.id: p for p in PRODUCTS
             if any(_grown(p, producer, slot) for producer in PRODUCERS
                    if producer.territory == territory)}
    stated = []
    for shop in (s for s in SHOPS if s.territory == territory):
        rng = random.Random(f"{seed}:{shop.id}:{slot.isoformat()}:needs")
        for product in sorted(grown.values(), key=lambda p: p.id):
            if rng.random() > 0.6:
                continue
            weekly = shop.tickets_per_day * 5 * product.popularity / 8
            per_sale = (product.quantity[0] + product.quantity[1]) // 2
            stated.append({"need_id": f"{shop.id}-{product.id}-{slot.isoformat()}",
                           "shop_id": shop.id, "territory": territory,
                           "product_id": product.id,
                           "quantity": max(1, int(weekly * per_sale * rng.uniform(0.6, 1.4))),
                           "delivery_slot": slot.isoformat()})
    return stated


def refuses(producer_id: str, order_id: str, seed: int) -> bool:
    """Whether the producer refuses this order (deterministic by seed)."""
    producer = next(p for p in PRODUCERS if p.id == producer_id)
    return random.Random(f"{seed}:{order_id}:refuse").randrange(100) < producer.refusal_pct
