"""The directory's rules: what an entry must be, who may write it, and what a write changes.
Pure: the directory as it stands is given (any mapping per kind), nothing is read or written
here. The gateway's routes, the CSV import and the demo seed all go through these
(services.directory.writer), so a real set-up and the demo follow one path.

Who may do what:

| entry     | create, close                             | correct (PATCH)                       |
|-----------|-------------------------------------------|---------------------------------------|
| territory | operator                                  | operator                              |
| hub       | operator                                  | operator, the hub itself              |
| épicerie  | operator, the hub of its territory        | the same, and the épicerie itself     |
| producer  | operator, the hub of a territory it serves| the same, and the producer itself     |

Everyone authenticated reads the public fields (all of them: no person's name or contact is
kept). Épiceries, producers and hubs share one id space: an id is the subject of its tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.auth.tokens import Principal
from services.events.auth import Role
from services.events.base import Event
from services.events.catalog import ShopRegistered
from services.events.directory import HubRegistered, ProducerRegistered, TerritoryRegistered

# Where an entry's location may be, in degrees: metropolitan France and Corsica, then the
# overseas départements (Guadeloupe, Martinique, Guyane, La Réunion, Mayotte). Boxes, so a
# point a few kilometres out at sea passes; one in Spain or Belgium's interior may too (a
# border is not a box), but a swapped latitude and longitude or degrees given where
# microdegrees are expected do not.
FRANCE_BOXES: tuple[tuple[float, float, float, float], ...] = (
    (41.3, 51.1, -5.2, 9.6),     # metropolitan France and Corsica (lat min, max, lon min, max)
    (15.8, 16.55, -61.85, -60.95),  # Guadeloupe
    (14.35, 14.9, -61.25, -60.8),   # Martinique
    (2.1, 5.8, -54.6, -51.6),       # Guyane
    (-21.4, -20.85, 55.2, 55.85),   # La Réunion
    (-13.05, -12.6, 44.95, 45.35),  # Mayotte
)


def in_france(lat_e6: int, lon_e6: int) -> bool:
    lat, lon = lat_e6 / 1e6, lon_e6 / 1e6
    return any(a <= lat <= b and c <= lon <= d for a, b, c, d in FRANCE_BOXES)


@dataclass(frozen=True)
class Kind:
    """One kind of entry: its name in the API and the CLI, its event and its id field."""

    name: str  # territory, shop, producer, hub
    event: type[Event]
    id_field: str
    french: str  # what people call it


TERRITORY = Kind("territory", TerritoryRegistered, "territory_id", "territoire")
SHOP = Kind("shop", ShopRegistered, "shop_id", "épicerie")
PRODUCER = Kind("producer", ProducerRegistered, "producer_id", "producteur")
HUB = Kind("hub", HubRegistered, "hub_id", "pôle logistique")
KINDS = {kind.name: kind for kind in (TERRITORY, SHOP, PRODUCER, HUB)}
SUBJECTS = (SHOP, PRODUCER, HUB)  # one id space: the subjects of tokens
TIME_FIELDS = {"registered_at", "recorded_at"}  # what a repeat may differ in


@dataclass
class Refusal(Exception):
    """Why a write is refused: the HTTP status, a stable `type`, the field it concerns, and the
    sentence in English (`msg`) and in French (`fr`)."""

    status: int
    type: str
    msg: str
    fr: str
    loc: tuple[str, ...] = ()

    def detail(self) -> dict[str, Any]:
        return {"loc": ["body", *self.loc] if self.loc else ["path"], "type": self.type,
                "msg": self.msg, "fr": self.fr}


@dataclass
class Directory:
    """The directory as it stands: per kind, a mapping of id → its newest entry."""

    territories: Mapping[str, TerritoryRegistered] = field(default_factory=dict)
    shops: Mapping[str, ShopRegistered] = field(default_factory=dict)
    producers: Mapping[str, ProducerRegistered] = field(default_factory=dict)
    hubs: Mapping[str, HubRegistered] = field(default_factory=dict)

    def table(self, kind: Kind) -> Mapping[str, Any]:
        return {"territory": self.territories, "shop": self.shops,
                "producer": self.producers, "hub": self.hubs}[kind.name]

    def get(self, kind: Kind, entry_id: str) -> Any:
        return self.table(kind).get(entry_id)

    def subject(self, subject: str) -> tuple[Kind, Any] | None:
        """The épicerie, producer or hub whose id `subject` is."""
        for kind in SUBJECTS:
            entry = self.get(kind, subject)
            if entry is not None:
                return kind, entry
        return None

    def hub_territory(self, who: Principal) -> str | None:
        """The territory of a hub coordinator's hub (None for another role, or a hub token
        with no hub or an unknown one)."""
        hub = self.hubs.get(who.subject or "") if who.role is Role.HUB else None
        return hub.territory if hub is not None else None


def _id(entry: Any, kind: Kind) -> str:
    return str(getattr(entry, kind.id_field))


def territories_of(kind: Kind, entry: Any) -> tuple[str, ...]:
    """The territories an entry belongs to (none for a territory itself)."""
    if kind is PRODUCER:
        return tuple(entry.territories)
    return () if kind is TERRITORY else (entry.territory,)


def forbidden(action: str, kind: Kind, entry_id: str) -> Refusal:
    return Refusal(403, "forbidden", f"this token cannot {action} {kind.name} {entry_id}",
                   f"Ce jeton ne permet pas de {_FR_ACTIONS[action]} l'entrée {entry_id} "
                   f"({kind.french}).")


_FR_ACTIONS = {"create": "créer", "update": "modifier", "close": "fermer"}


def authorise(who: Principal, action: str, kind: Kind, entry: Any, directory: Directory,
              before: Any = None) -> None:
    """Raise a 403 Refusal unless `who` may `action` (create, update, close) `entry` (for an
    update, `before` is the entry as it stands: a hub must hold both territories)."""
    if who.role is Role.OPERATOR:
        return
    entry_id = _id(entry, kind)
    allowed = False
    if kind is HUB:
        allowed = action == "update" and who.role is Role.HUB and who.subject == entry_id \
            and entry.territory == before.territory
    elif kind in (SHOP, PRODUCER):
        own_role = Role.SHOP if kind is SHOP else Role.PRODUCER
        mine = directory.hub_territory(who)
        held = [territories_of(kind, e) for e in (entry, before) if e is not None]
        if mine is not None:
            # the hub of its territory (a producer: of one it serves, before and after)
            allowed = all(mine in ts for ts in held)
        elif who.role is own_role and who.subject == entry_id and action == "update":
            allowed = held[0] == held[-1]  # the entry itself, its territories unchanged
    if not allowed:
        raise forbidden(action, kind, entry_id)


def problems(kind: Kind, entry: Any, directory: Directory) -> list[Refusal]:
    """What makes `entry` invalid in the directory as it stands (422 each)."""
    found: list[Refusal] = []
    entry_id = _id(entry, kind)
    for territory in territories_of(kind, entry):
        known = directory.territories.get(territory)
        loc = ("territories",) if kind is PRODUCER else ("territory",)
        if known is None:
            found.append(Refusal(422, "unknown_territory", f"unknown territory {territory!r}",
                                 f"Le territoire « {territory} » n'existe pas dans l'annuaire.",
                                 loc))
        elif known.closed_at is not None:
            found.append(Refusal(422, "closed_territory", f"territory {territory!r} is closed",
                                 f"Le territoire « {territory} » est fermé.", loc))
    if kind in SUBJECTS:
        other = directory.subject(entry_id)
        if other is not None and other[0] is not kind:
            found.append(Refusal(
                422, "duplicate_id", f"{entry_id!r} is already the id of a {other[0].name}",
                f"L'identifiant « {entry_id} » est déjà celui d'un(e) {other[0].french}.",
                (kind.id_field,)))
    for lat_field, lon_field in _LOCATIONS.get(kind.name, ()):
        if not in_france(getattr(entry, lat_field), getattr(entry, lon_field)):
            found.append(Refusal(
                422, "outside_france",
                f"{lat_field}/{lon_field} ({getattr(entry, lat_field) / 1e6:.6f}, "
                f"{getattr(entry, lon_field) / 1e6:.6f}) is not in France (microdegrees)",
                "Cet emplacement n'est pas en France : latitude et longitude en millionièmes "
                "de degré (45,764043 s'écrit 45764043).", (lat_field,)))
    return found


_LOCATIONS = {"producer": (("farm_lat_e6", "farm_lon_e6"),), "hub": (("lat_e6", "lon_e6"),)}


def same(a: Event, b: Event) -> bool:
    """Whether two versions of an entry say the same (their times aside)."""
    return a.model_dump(exclude=TIME_FIELDS) == b.model_dump(exclude=TIME_FIELDS)


def conflict(kind: Kind, entry: Event, existing: Event) -> Refusal:
    entry_id = _id(entry, kind)
    return Refusal(409, "conflicting_id",
                   f"{kind.name} {entry_id} exists with other values: correct it with PATCH",
                   f"« {entry_id} » existe déjà ({kind.french}) avec d'autres valeurs : "
                   "modifiez-le plutôt.", (kind.id_field,))


def unknown(kind: Kind, entry_id: str) -> Refusal:
    return Refusal(404, "unknown", f"no {kind.name} {entry_id}",
                   f"Aucune entrée « {entry_id} » ({kind.french}) dans l'annuaire.")


def closed(kind: Kind, entry_id: str) -> Refusal:
    return Refusal(409, "closed", f"{kind.name} {entry_id} is closed",
                   f"« {entry_id} » ({kind.french}) est fermé(e) : on ne le modifie plus.")


ROLE_KINDS = {Role.SHOP: SHOP, Role.PRODUCER: PRODUCER, Role.HUB: HUB}


def token_problems(who: Principal, role: Role, subject: str | None, directory: Directory,
                   *, listing: bool = False) -> list[Refusal]:
    """Why `who` may not issue a `role` token for `subject` (or, `listing`, see a subject's
    tokens): the subject must be an open entry of the directory of the role's kind (a caisse
    of a territory for the committee and the treasurer; none for an operator). An operator
    issues any; a hub, tokens of its territory's épiceries and producers."""
    found: list[Refusal] = []
    entry = None
    if listing:
        seen = directory.subject(subject or "")
        kind, entry = seen if seen is not None else (None, None)
    elif role is Role.OPERATOR:
        if subject:
            found.append(Refusal(422, "subject_not_allowed", "an OPERATOR token takes no subject",
                                 "Un jeton d'opérateur ne désigne personne.", ("subject",)))
    elif role in ROLE_KINDS:
        kind = ROLE_KINDS[role]
        entry = directory.get(kind, subject) if subject else None
        if entry is None:
            found.append(Refusal(422, "unknown_subject",
                                 f"no {kind.name} {subject!r} in the directory",
                                 f"Aucun(e) {kind.french} « {subject} » dans l'annuaire : "
                                 "ajoutez-le d'abord.", ("subject",)))
        elif entry.closed_at is not None:
            found.append(Refusal(422, "closed_subject", f"{kind.name} {subject!r} is closed",
                                 f"« {subject} » ({kind.french}) est fermé(e).", ("subject",)))
    else:  # the committee and the treasurer of a caisse
        caisses = {t.caisse for t in directory.territories.values()
                   if t.caisse and t.closed_at is None}
        if subject not in caisses:
            found.append(Refusal(422, "unknown_subject",
                                 f"no territory has the caisse {subject!r}",
                                 f"Aucun territoire n'a la caisse « {subject} ».", ("subject",)))
    if who.role is not Role.OPERATOR:
        mine = directory.hub_territory(who)
        kind_of = ROLE_KINDS.get(role) if not listing else (
            directory.subject(subject or "") or (None,))[0]
        ours = (mine is not None and kind_of in (SHOP, PRODUCER) and entry is not None
                and mine in territories_of(kind_of, entry) and (listing or role in (
                    Role.SHOP, Role.PRODUCER)))
        if not ours:
            found.insert(0, Refusal(403, "forbidden", "this token cannot issue or list that",
                                    "Ce jeton ne permet pas de délivrer ni de voir ces jetons.",
                                    ("subject",)))
    return found[:1] if found and found[0].status == 403 else found


def selling_problems(directory: Directory, sold: Iterable[tuple[str, datetime]]
                     ) -> list[Refusal]:
    """Why tickets, as (shop, when sold), are refused: a shop the directory does not know, or
    one closed before the sale (its history is kept, and a till's late upload of the days
    before it closed still comes in; no till sells under its name afterwards)."""
    found, said = [], set()
    for shop_id, at in sold:
        shop = directory.shops.get(shop_id)
        if shop is None and shop_id not in said:
            found.append(Refusal(422, "unknown_shop", f"shop {shop_id} is not in the directory",
                                 f"L'épicerie « {shop_id} » n'est pas dans l'annuaire.",
                                 ("shop_id",)))
        elif shop is not None and shop.closed_at is not None and at >= shop.closed_at \
                and shop_id not in said:
            found.append(Refusal(422, "closed_shop",
                                 f"shop {shop_id} closed on {shop.closed_at.date()}",
                                 f"L'épicerie « {shop_id} » est fermée depuis le "
                                 f"{shop.closed_at:%d/%m/%Y}.", ("shop_id",)))
        else:
            continue
        said.add(shop_id)
    return found
