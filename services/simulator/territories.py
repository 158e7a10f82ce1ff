"""The simulated world: four territories, their épiceries (fictional, in real neighbourhoods), a
catalog of ~40 products with seasons and market prices, and each shop's own till codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from services.bus.settings import ShellSettings
from services.demand.calendar import is_public_holiday
from services.events.sales import CodeKind, QuantityUnit

# The demo's tokens: written by `vivres demo seed`, read by the simulator, `vivres import sales`
# and `vivres health`.
DEMO_TOKENS = ShellSettings().demo_tokens

ShopKind = Literal["sociale", "solidaire"]
G, PC, ML = QuantityUnit.GRAM, QuantityUnit.PIECE, QuantityUnit.MILLILITRE
PLU, EAN, INT = CodeKind.PLU, CodeKind.EAN, CodeKind.INTERNAL


@dataclass(frozen=True)
class Territory:
    id: str
    name: str
    caisse: str  # the territory's caisse alimentaire commune
    caisse_members: int  # card holders: pseudonymous card ids are drawn among them
    caisse_share: float  # share of tickets paid with the caisse in an approved shop


@dataclass(frozen=True)
class Session:
    """One opening session, in the shop's local time."""

    start: time
    end: time


@dataclass(frozen=True)
class Shop:
    id: str
    name: str
    territory: str
    kind: ShopKind
    tills: tuple[str, ...]
    hours: tuple[tuple[Session, ...], ...]  # Monday first, seven entries
    caisse_approved: bool
    tickets_per_day: int  # on an ordinary weekday
    rate_pct: int  # share of the market price paid in a "sociale" shop
    offline_rate: float  # chance that a given till drops offline on a given day
    scans_barcodes: bool = True  # False: packaged goods get internal codes too
    timezone: str = "Europe/Paris"

    def sessions_on(self, day: date) -> tuple[Session, ...]:
        """The sessions the shop opens on `day`: none on a public holiday."""
        return () if is_public_holiday(day) else self.hours[day.weekday()]

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` (timezone-aware) falls within one of the shop's sessions."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        return any(s.start <= local.time() < s.end for s in self.sessions_on(local.date()))


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    unit: QuantityUnit
    code_kind: CodeKind  # how a shop that scans barcodes codes it
    price_cents: int  # market price per piece, kilogram or litre
    months: frozenset[int]  # in season; every month when empty
    popularity: float  # relative weight of the product in a basket
    availability: float  # share of open days it is on the shelves (donations are irregular)
    quantity: tuple[int, int]  # usual quantity bought: pieces, grams or millilitres
    organic: bool = False
    local: bool = False
    labels: tuple[str, ...] = ()
    territories: frozenset[str] = frozenset()  # sold everywhere when empty

    def in_season(self, day: date) -> bool:
        return not self.months or day.month in self.months

    def sold_in(self, territory: str) -> bool:
        return not self.territories or territory in self.territories


def _months(spec: str) -> frozenset[int]:
    first, last = (int(m) for m in spec.split("-"))
    return frozenset(((first - 1 + i) % 12) + 1 for i in range((last - first) % 12 + 1))


def _p(id_: str, name: str, category: str, unit: QuantityUnit, kind: CodeKind, price: int,
       qty: tuple[int, int], *, months: str = "", pop: float = 1.0, avail: float = 1.0,
       where: tuple[str, ...] = (), **flags: object) -> Product:
    return Product(id_, name, category, unit, kind, price, _months(months) if months else
                   frozenset(), pop, avail, qty, territories=frozenset(where), **flags)


PRODUCTS: tuple[Product, ...] = (  # append only: a product's position seeds its till codes
    _p("poireau", "Poireau", "legumes", G, PLU, 320, (400, 1200), months="10-3", local=True),
    _p("courge-butternut", "Courge butternut", "legumes", G, PLU, 280, (700, 1800),
       months="9-2", local=True, organic=True, labels=("AB",)),
    _p("carotte", "Carotte", "legumes", G, PLU, 220, (400, 1500), pop=1.6, local=True),
    _p("pomme-de-terre", "Pomme de terre", "legumes", G, PLU, 180, (800, 2500), pop=1.8),
    _p("oignon", "Oignon jaune", "legumes", G, PLU, 250, (300, 1000), pop=1.3),
    _p("chou-vert", "Chou vert", "legumes", PC, PLU, 250, (1, 1), months="10-3", local=True),
    _p("navet", "Navet", "legumes", G, PLU, 300, (300, 900), months="10-3", avail=0.5),
    _p("epinard", "Épinards", "legumes", G, PLU, 650, (250, 600), months="10-4", avail=0.4),
    _p("salade", "Laitue", "legumes", PC, PLU, 120, (1, 2), months="3-11", local=True),
    _p("tomate", "Tomate", "legumes", G, PLU, 390, (400, 1500), months="6-10", pop=1.8,
       local=True),
    _p("courgette", "Courgette", "legumes", G, PLU, 280, (400, 1200), months="5-10", pop=1.3,
       local=True),
    _p("aubergine", "Aubergine", "legumes", G, PLU, 390, (300, 900), months="6-10"),
    _p("poivron", "Poivron", "legumes", G, PLU, 450, (200, 700), months="6-10"),
    _p("haricot-vert", "Haricots verts", "legumes", G, PLU, 650, (300, 700), months="6-9",
       avail=0.5),
    _p("gombo", "Gombo", "legumes", G, PLU, 1200, (200, 600), months="7-10", pop=1.4,
       avail=0.5, local=True, where=("marseille",)),
    _p("piment", "Piment", "legumes", G, PLU, 1500, (50, 250), months="7-11", pop=1.2,
       avail=0.5, local=True, where=("marseille",)),
    _p("patate-douce", "Patate douce", "legumes", G, PLU, 450, (500, 1500), months="9-1",
       pop=1.4, local=True, where=("marseille", "montpellier")),
    _p("pomme", "Pomme", "fruits", G, PLU, 290, (600, 2000), months="9-5", pop=1.6, local=True),
    _p("poire", "Poire", "fruits", G, PLU, 350, (400, 1200), months="8-2"),
    _p("clementine", "Clémentine de Corse", "fruits", G, PLU, 380, (500, 1500), months="11-2",
       pop=1.3),
    _p("kiwi", "Kiwi", "fruits", G, PLU, 450, (300, 900), months="11-4", avail=0.6),
    _p("fraise", "Fraise (barquette)", "fruits", PC, PLU, 350, (1, 2), months="4-6",
       avail=0.5, local=True),
    _p("peche", "Pêche", "fruits", G, PLU, 420, (500, 1500), months="6-8", pop=1.2, local=True),
    _p("melon", "Melon", "fruits", PC, PLU, 250, (1, 2), months="6-9", local=True),
    _p("banane", "Banane", "fruits", G, PLU, 220, (500, 1500), pop=1.5,
       labels=("commerce équitable",)),
    _p("pain-campagne", "Pain de campagne", "boulangerie", PC, INT, 280, (1, 2), pop=2.0,
       local=True),
    _p("baguette", "Baguette", "boulangerie", PC, INT, 110, (1, 3), pop=2.2, local=True),
    _p("oeufs-6", "Œufs plein air x6", "oeufs", PC, EAN, 240, (1, 2), pop=1.5,
       labels=("plein air",)),
    _p("oeufs-bio-6", "Œufs bio x6", "oeufs", PC, EAN, 330, (1, 1), organic=True,
       labels=("AB",), local=True),
    _p("lait-1l", "Lait demi-écrémé 1 L", "cremerie", PC, EAN, 105, (1, 4), pop=1.8),
    _p("yaourt-4", "Yaourts nature x4", "cremerie", PC, EAN, 190, (1, 3), pop=1.4),
    _p("beurre-250", "Beurre doux 250 g", "cremerie", PC, EAN, 260, (1, 1)),
    _p("tomme", "Tomme à la coupe", "cremerie", G, INT, 1800, (150, 400), avail=0.5,
       local=True),
    _p("pates-500", "Pâtes 500 g", "epicerie", PC, EAN, 110, (1, 4), pop=1.8),
    _p("riz-1kg", "Riz long 1 kg", "epicerie", PC, EAN, 210, (1, 2), pop=1.3),
    _p("lentilles-vrac", "Lentilles vertes vrac", "epicerie", G, INT, 400, (300, 1000),
       organic=True, labels=("AB",)),
    _p("farine-1kg", "Farine T65 1 kg", "epicerie", PC, EAN, 120, (1, 1), avail=0.7),
    _p("huile-tournesol", "Huile de tournesol 1 L", "epicerie", PC, EAN, 250, (1, 1)),
    _p("huile-olive-vrac", "Huile d'olive vrac", "epicerie", ML, INT, 1200, (250, 1000),
       avail=0.5, local=True),
    _p("tomates-pelees", "Tomates pelées 400 g", "epicerie", PC, EAN, 130, (1, 4), pop=1.2),
    _p("cafe-250", "Café moulu 250 g", "epicerie", PC, EAN, 350, (1, 1), avail=0.4),
    _p("savon", "Savon de Marseille", "hygiene", PC, EAN, 150, (1, 2), avail=0.6),
    _p("lessive", "Lessive liquide 1,5 L", "hygiene", PC, EAN, 650, (1, 1), avail=0.6),
    _p("papier-toilette", "Papier toilette x6", "hygiene", PC, EAN, 290, (1, 1), avail=0.7),
    _p("protections", "Protections périodiques", "hygiene", PC, EAN, 350, (1, 1), pop=0.6,
       avail=0.5),
)
PRODUCT_BY_ID: dict[str, Product] = {p.id: p for p in PRODUCTS}
_POSITION: dict[str, int] = {p.id: i for i, p in enumerate(PRODUCTS)}

TERRITORIES: dict[str, Territory] = {t.id: t for t in (
    Territory("lyon", "Lyon", "CALIM8 (Lyon 8e)", 300, 0.40),
    Territory("marseille", "Marseille", "caisse alimentaire commune de Marseille", 250, 0.35),
    Territory("montpellier", "Montpellier", "caisse alimentaire commune de Montpellier", 400,
              0.60),
    Territory("toulouse", "Toulouse", "Caissalim", 650, 0.50),
)}


def _t(hhmm: str) -> time:
    return time.fromisoformat(hhmm)


def _week(am: str, pm: str, *, monday_pm: bool = False, closed_wed_am: bool = False,
          saturday_am_only: bool = False) -> tuple[tuple[Session, ...], ...]:
    """Tuesday to Saturday, morning and afternoon, with the usual local variations."""
    morning, afternoon = (Session(*map(_t, span.split("-"))) for span in (am, pm))
    both = (morning, afternoon)
    return ((afternoon,) if monday_pm else (), both, (afternoon,) if closed_wed_am else both,
            both, both, (morning,) if saturday_am_only else both, ())


def _shop(territory: str, id_: str, name: str, kind: ShopKind,
          hours: tuple[tuple[Session, ...], ...], *, tills: int = 1, caisse: bool,
          per_day: int = 27, rate: int = 20, offline: float = 0.06,
          barcodes: bool = True) -> Shop:
    return Shop(id_, name, territory, kind, tuple(f"caisse-{n}" for n in range(1, tills + 1)),
                hours, caisse, per_day, rate, offline, barcodes)


SHOPS: tuple[Shop, ...] = (
    _shop("lyon", "lyon-8e-epicerie-graine", "L'Épicerie Graine", "solidaire",
          _week("09:30-12:30", "14:00-18:30", monday_pm=True), tills=2, caisse=True, per_day=30),
    _shop("lyon", "lyon-8e-epicerie-etats-unis", "Épicerie sociale des États-Unis", "sociale",
          _week("09:00-12:00", "14:00-17:30"), caisse=True, per_day=26, rate=15),
    _shop("lyon", "lyon-7e-epicerie-guillotiere", "Le Panier de la Guillotière", "solidaire",
          _week("10:00-13:00", "15:00-19:00", closed_wed_am=True), caisse=False, per_day=28,
          offline=0.15),
    _shop("lyon", "villeurbanne-epicerie-tonkin", "Épicerie sociale du Tonkin", "sociale",
          _week("09:30-12:00", "13:30-17:00", saturday_am_only=True), caisse=False, per_day=25,
          rate=25, barcodes=False),
    _shop("marseille", "marseille-3e-epicerie-belle-de-mai", "L'Épicerie de la Belle de Mai",
          "solidaire", _week("09:00-12:30", "14:30-18:30", monday_pm=True), tills=2,
          caisse=True, per_day=30),
    _shop("marseille", "marseille-1er-epicerie-noailles", "Le Cabas de Noailles", "solidaire",
          _week("09:30-13:00", "15:00-19:00"), caisse=True, per_day=28, offline=0.12),
    _shop("marseille", "marseille-13e-epicerie-malpasse", "Épicerie sociale de Malpassé",
          "sociale", _week("09:00-12:00", "13:30-17:00", closed_wed_am=True), caisse=True,
          per_day=26, rate=10),
    _shop("marseille", "marseille-15e-epicerie-estaque", "L'Escale de l'Estaque", "sociale",
          _week("09:00-12:00", "14:00-17:30", saturday_am_only=True), caisse=False, per_day=25,
          barcodes=False),
    _shop("montpellier", "montpellier-epicerie-petit-bard", "Épicerie sociale du Petit Bard",
          "sociale", _week("09:00-12:30", "14:00-18:00"), caisse=True, per_day=27),
    _shop("montpellier", "montpellier-epicerie-figuerolles", "La Cagette de Figuerolles",
          "solidaire", _week("09:30-13:00", "15:00-19:00", monday_pm=True), tills=2,
          caisse=True, per_day=30),
    _shop("montpellier", "montpellier-epicerie-mosson", "Épicerie solidaire de la Mosson",
          "solidaire", _week("09:00-12:00", "14:00-18:00", closed_wed_am=True), caisse=True,
          per_day=27, offline=0.12),
    _shop("montpellier", "montpellier-epicerie-pres-d-arenes", "L'Épicerie des Près d'Arènes",
          "sociale", _week("09:00-12:00", "13:30-17:30", saturday_am_only=True), caisse=True,
          per_day=26, rate=25),
    _shop("toulouse", "toulouse-epicerie-arnaud-bernard", "L'Épicerie d'Arnaud-Bernard",
          "solidaire", _week("10:00-13:00", "14:30-19:00", monday_pm=True), tills=2,
          caisse=True, per_day=29),
    _shop("toulouse", "toulouse-epicerie-empalot", "Épicerie sociale d'Empalot", "sociale",
          _week("09:00-12:00", "14:00-17:30"), caisse=True, per_day=26, rate=15),
    _shop("toulouse", "toulouse-epicerie-izards", "Le Marché solidaire des Izards", "solidaire",
          _week("09:30-12:30", "14:00-18:00", saturday_am_only=True), caisse=False, per_day=27,
          offline=0.10),
    _shop("toulouse", "toulouse-epicerie-bagatelle", "Épicerie sociale de Bagatelle", "sociale",
          _week("09:00-12:00", "13:30-17:00", closed_wed_am=True), caisse=True, per_day=25,
          rate=30),
)
SHOP_BY_ID: dict[str, Shop] = {s.id: s for s in SHOPS}


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big")


def _ean13(body12: str) -> str:
    odd_even = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - odd_even % 10) % 10)


@cache
def till_code(shop_id: str, product_id: str) -> tuple[str, CodeKind]:
    """The code `shop_id`'s till uses for `product_id`: a scale PLU, an EAN-13 (each shop buys or
    receives another brand) or an internal code. Unique within a shop, different across shops."""
    product = PRODUCT_BY_ID[product_id]
    index = _POSITION[product_id]
    kind = product.code_kind
    if kind is EAN and not SHOP_BY_ID[shop_id].scans_barcodes:
        kind = INT
    if kind is EAN:
        return _ean13("3" + f"{_digest(shop_id, product_id) % 10**11:011d}"), kind
    # an affine permutation of the product's position: no two products of a shop share a code
    modulus = 8999 if kind is PLU else 99991  # primes: 4-digit PLUs, 5-digit internal
    salt = _digest(shop_id, kind.value)
    slot = (index * (1 + salt % (modulus - 1)) + (salt >> 20)) % modulus
    if kind is PLU:
        return f"{1000 + slot}", kind
    prefix = "".join(w[0] for w in shop_id.split("-")[1:] if w != "epicerie").upper()
    return f"{prefix}{slot:05d}", kind


@cache
def till_label(shop_id: str, product_id: str) -> str:
    """The product's name as the shop's till prints it."""
    name = PRODUCT_BY_ID[product_id].name
    return name.upper() if _digest(shop_id, "labels") % 2 else name


def card_id(territory: str, member: int) -> str:
    """The pseudonymous caisse card id of a member (0-based): distinct for distinct members."""
    salt = _digest(territory, "cards") % 2**24
    return f"card-{(member * 0x9E3779 + salt) % 2**24:06x}"  # odd multiplier: a bijection
