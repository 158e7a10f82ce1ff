"""A territory's directory as one CSV file, and the fields people type, read into the API's
fields. Pure: the CLI (`vivres annuaire ...`, `vivres import annuaire`) sends what comes out to
the gateway, so a row and a command line go through the same conversions and the same rules.

One row per entry; the `type` column says which kind (territoire, pole, epicerie, producteur;
accents and capitals do not matter). The other columns, each used by the kinds that have it:

| column          | territoire | pole | epicerie | producteur | API field                  |
|-----------------|------------|------|----------|------------|----------------------------|
| id              | yes        | yes  | yes      | yes        | territory_id, hub_id, ...  |
| nom             | yes        | yes  | yes      | yes        | name (farm_name)           |
| territoire      |            | yes  | yes      | (*)        | territory                  |
| territoires     |            |      |          | yes        | territories                |
| fuseau          | optional   |      | optional |            | timezone                   |
| caisse          | optional   |      |          |            | caisse                     |
| type_epicerie   |            |      | yes      |            | kind: sociale or solidaire |
| commune         |            |      | optional | yes        | commune                    |
| jours           |            |      | optional |            | opening_days               |
| jours_livraison |            | opt. |          |            | delivery_weekdays          |
| lat, lon        |            | yes  |          | yes        | (farm_)lat_e6, lon_e6      |
| bio             |            |      |          | optional   | organic                    |
| labels          |            |      |          | optional   | labels                     |

(*) a producer's `territoires` default to its `territoire`. Coordinates are degrees (45.764043
or 45,764043; an integer beyond ±180 is taken as microdegrees). Days are ISO weekdays (1
Monday ... 7 Sunday), French day names (lun, mardi) or ranges (1-5), separated by commas,
spaces or `|`; lists of slugs likewise. `bio` is oui/non. The file is UTF-8 (with or without a
BOM; Windows-1252 too, as older spreadsheets save), separated by `;` or `,` (sniffed from the
header), a row whose first cell starts with `#` is a comment. Problems carry a message key
of services.cli.messages and their values, so the CLI says them in French first.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from services.directory.rules import HUB, PRODUCER, SHOP, TERRITORY, Kind


class FieldProblem(ValueError):
    """A value that cannot be read: a message key and its values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def _plain(text: str) -> str:
    """Lower case, no accents, words joined by `_`: `Type épicerie` → `type_epicerie`."""
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[\s-]+", "_", folded)


_SPLIT = re.compile(r"[,\s|]+")


def items(text: str) -> list[str]:
    """`a, b|c d` → [a, b, c, d]."""
    return [part for part in _SPLIT.split(text.strip()) if part]


def slugs(text: str) -> list[str]:
    return [part.lower() for part in items(text)]


_DAYS = {"lun": 1, "mar": 2, "mer": 3, "jeu": 4, "ven": 5, "sam": 6, "dim": 7}


def _day(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 7:
        return int(text)
    day = _DAYS.get(_plain(text)[:3])
    if day is None:
        raise FieldProblem("directory.field.day", value=text)
    return day


def weekdays(text: str) -> list[int]:
    """`1,2,5`, `lun mar ven`, `1-5` → ISO weekdays, in order, each once."""
    days: set[int] = set()
    for part in items(text):
        first, dash, last = part.partition("-")
        if dash:
            start, end = _day(first), _day(last)
            if start > end:
                raise FieldProblem("directory.field.day", value=part)
            days.update(range(start, end + 1))
        else:
            days.add(_day(part))
    return sorted(days)


def microdegrees(text: str) -> int:
    """Degrees (`45.764043`, `45,764043`) → microdegrees; an integer beyond ±180 already is."""
    try:
        value = Decimal(text.strip().replace(",", ".").replace("\u2212", "-"))
    except InvalidOperation:
        raise FieldProblem("directory.field.degrees", value=text) from None
    if not value.is_finite():
        raise FieldProblem("directory.field.degrees", value=text)
    if abs(value) > 180 and value == value.to_integral_value():
        return int(value)
    return int((value * 1_000_000).to_integral_value(ROUND_HALF_EVEN))


_YES = {"oui", "o", "yes", "y", "vrai", "true", "1", "x", "bio"}
_NO = {"non", "n", "no", "faux", "false", "0", ""}


def yes_no(text: str) -> bool:
    word = _plain(text)
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise FieldProblem("directory.field.yes_no", value=text)


def shop_kind(text: str) -> str:
    word = _plain(text)
    if word not in ("sociale", "solidaire"):
        raise FieldProblem("directory.field.shop_kind", value=text)
    return word


def _text(text: str) -> str:
    return text.strip()


def _slug(text: str) -> str:
    return text.strip().lower()


@dataclass(frozen=True)
class Column:
    """One value people give: its CSV column (the CLI option is `--` and the name with `-`,
    unless `option` says another), the API field it fills and how it is read."""

    name: str
    field: str
    read: Callable[[str], Any] = _text
    required: bool = False
    option: str | None = None
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + (self.option or self.name.replace("_", "-"))


_ID = Column("id", "", _text, True, help="Identifiant (lettres minuscules, chiffres, tirets).")
_NAME = Column("nom", "name", required=True, help="Nom.")
_TERRITORY = Column("territoire", "territory", _slug, True, help="Territoire (son id).")
_TIMEZONE = Column("fuseau", "timezone", help="Fuseau horaire IANA (Europe/Paris).")
_LAT = Column("lat", "lat_e6", microdegrees, True, help="Latitude en degrés (45.764043).")
_LON = Column("lon", "lon_e6", microdegrees, True, help="Longitude en degrés (4.835659).")

COLUMNS: dict[str, tuple[Column, ...]] = {
    TERRITORY.name: (_ID, _NAME, _TIMEZONE,
                     Column("caisse", "caisse", _slug, help="Caisse alimentaire commune.")),
    SHOP.name: (_ID, _NAME, _TERRITORY,
                Column("type_epicerie", "kind", shop_kind, True, option="type",
                       help="sociale ou solidaire."),
                Column("commune", "commune", help="Commune."), _TIMEZONE,
                Column("jours", "opening_days", weekdays,
                       help="Jours d'ouverture : 1,2,5 ou lun,mar,ven ou 1-5.")),
    PRODUCER.name: (_ID, Column("nom", "farm_name", required=True, help="Nom de la ferme."),
                    Column("commune", "commune", required=True, help="Commune de la ferme."),
                    Column("lat", "farm_lat_e6", microdegrees, True, help=_LAT.help),
                    Column("lon", "farm_lon_e6", microdegrees, True, help=_LON.help),
                    Column("bio", "organic", yes_no, help="En agriculture biologique."),
                    Column("labels", "labels", slugs, help="Labels : label-rouge,aop."),
                    Column("territoires", "territories", slugs, True,
                           help="Territoires servis : lyon,villeurbanne.")),
    HUB.name: (_ID, _TERRITORY, _NAME, _LAT, _LON,
               Column("jours_livraison", "delivery_weekdays", weekdays,
                      help="Jours de livraison : 2,4 ou mar,jeu.")),
}
KIND_WORDS = {"territoire": TERRITORY, "pole": HUB, "pole_logistique": HUB, "epicerie": SHOP,
              "producteur": PRODUCER, "territory": TERRITORY, "hub": HUB, "shop": SHOP,
              "producer": PRODUCER}
ORDER = (TERRITORY, HUB, SHOP, PRODUCER)  # what an entry needs comes before it
ALL_COLUMNS = {"type", *(c.name for cs in COLUMNS.values() for c in cs)}


def fields_of(kind: Kind, given: dict[str, str | None], *, partial: bool = False
              ) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The API fields of `kind` from the values people gave (column name → text; None or
    missing: not given). `partial` (a correction): only what is given, nothing required."""
    fields: dict[str, Any] = {}
    found: list[FieldProblem] = []
    for column in COLUMNS[kind.name]:
        raw = given.get(column.name)
        api_field = column.field or kind.id_field
        if raw is None or not raw.strip():
            if partial and raw is not None and column.read in (weekdays, slugs):
                fields[api_field] = []  # a correction that empties a list
            elif column.required and not partial:
                found.append(FieldProblem("directory.field.missing", column=column.name,
                                          option=column.flag))
            continue  # otherwise an empty value is one not given: the API's default
        try:
            fields[api_field] = column.read(raw)
        except FieldProblem as problem:
            problem.values.update(column=column.name, option=column.flag)
            found.append(problem)
    return fields, found


@dataclass(frozen=True)
class Entry:
    line: int
    kind: Kind
    fields: dict[str, Any]

    @property
    def entry_id(self) -> str:
        return str(self.fields[self.kind.id_field])


@dataclass(frozen=True)
class RowError:
    line: int
    problem: FieldProblem


@dataclass
class ParsedDirectory:
    entries: list[Entry] = field(default_factory=list)  # in ORDER, then in file order
    errors: list[RowError] = field(default_factory=list)  # by line
    rows: int = 0


def decode(data: bytes) -> str:
    """A spreadsheet's export as text: UTF-8 with or without a BOM, else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse(text: str) -> ParsedDirectory:
    """The entries of a directory file and the problems of the rows left out."""
    result = ParsedDirectory()
    lines = text.lstrip("\ufeff").splitlines()
    header = next((line for line in lines if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=header.count)
    reader = csv.reader(lines, delimiter=delimiter)
    names = next(reader, None)
    while names is not None and not any(n.strip() for n in names):
        names = next(reader, None)
    names = [_plain(n) for n in names or []]
    missing = [n for n in ("type", "id") if n not in names]
    unknown = [n for n in names if n and n not in ALL_COLUMNS]
    if missing or unknown:
        if missing:
            result.errors.append(RowError(reader.line_num or 1, FieldProblem(
                "directory.csv.missing_columns", columns=", ".join(missing))))
        if unknown:
            result.errors.append(RowError(reader.line_num or 1, FieldProblem(
                "directory.csv.unknown_columns", columns=", ".join(unknown),
                known=", ".join(sorted(ALL_COLUMNS)))))
        return result
    entries: list[Entry] = []
    seen: dict[tuple[bool, str], int] = {}  # (a territory?, id) -> its line: one id space
    for row in reader:
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        result.rows += 1
        line = reader.line_num
        values = {name: cell for name, cell in zip(names, row, strict=False) if name}
        kind = KIND_WORDS.get(_plain(values.get("type", "")))
        if kind is None:
            result.errors.append(RowError(line, FieldProblem(
                "directory.csv.unknown_type", value=values.get("type", ""))))
            continue
        if kind is PRODUCER and not (values.get("territoires") or "").strip():
            values["territoires"] = values.get("territoire")
        fields, problems = fields_of(kind, values)
        key = (kind is TERRITORY, _slug(values.get("id") or ""))
        if not problems and key in seen:
            problems = [FieldProblem("directory.csv.repeated", id=key[1], first=seen[key])]
        if problems:
            result.errors.extend(RowError(line, p) for p in problems)
        else:
            seen[key] = line
            entries.append(Entry(line, kind, fields))
    result.entries = sorted(entries, key=lambda e: ORDER.index(e.kind))  # stable: file order
    return result
