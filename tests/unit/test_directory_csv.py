"""A territory's directory from one spreadsheet: what people type read into the API's fields,
bad rows reported by line number, entries in the order their dependencies need. No broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.directory.csv_import import (
    FieldProblem,
    decode,
    fields_of,
    microdegrees,
    parse,
    weekdays,
)
from services.directory.rules import HUB, PRODUCER, SHOP, TERRITORY

EXAMPLE = Path(__file__).parents[2] / "examples" / "annuaire-exemple.csv"


def test_the_example_file_reads_whole_and_in_dependency_order() -> None:
    parsed = parse(decode(EXAMPLE.read_bytes()))
    assert parsed.errors == []
    assert [e.kind for e in parsed.entries] == [TERRITORY, HUB, SHOP, SHOP, PRODUCER, PRODUCER]
    hub = parsed.entries[1].fields
    assert (hub["lat_e6"], hub["lon_e6"], hub["delivery_weekdays"]) == (47478419, -563166, [2, 5])
    baker = parsed.entries[-1].fields
    # territoires defaults to the row's territoire; labels are slugs
    assert baker["territories"] == ["val-ardoise"] and baker["labels"] == ["label-rouge"]
    assert baker["organic"] is False


def test_rows_are_sorted_territories_hubs_then_shops_and_producers_keeping_file_order() -> None:
    parsed = parse("\n".join([
        "type,id,nom,territoire,type_epicerie,commune,lat,lon",
        "producteur,p1,Ferme,t1,,Brissac,47.35,-0.44",
        "epicerie,s2,Deux,t1,sociale,,,",
        "Épicerie,s1,Une,t1,Solidaire,,,",
        "pôle,h1,Pôle,t1,,,47.47,-0.56",
        "TERRITOIRE,t1,Territoire,,,,,",
    ]))
    assert parsed.errors == []
    assert [(e.line, e.entry_id) for e in parsed.entries] == [
        (6, "t1"), (5, "h1"), (3, "s2"), (4, "s1"), (2, "p1")]
    assert parsed.entries[3].fields["kind"] == "solidaire"  # capitals and accents folded


def test_a_french_excel_export_semicolons_bom_and_decimal_commas() -> None:
    text = ("Type;ID;Nom;Territoire;Commune;Lat;Lon;Bio;Labels\r\n"
            "producteur;ferme-a;Ferme A;val;Angers;47,478419;-0,563166;Oui;aop, label-rouge\r\n")
    parsed = parse(decode(b"\xef\xbb\xbf" + text.encode()))
    [entry] = parsed.entries
    assert entry.fields == {"producer_id": "ferme-a", "farm_name": "Ferme A",
                            "commune": "Angers", "farm_lat_e6": 47478419,
                            "farm_lon_e6": -563166, "organic": True,
                            "labels": ["aop", "label-rouge"], "territories": ["val"]}
    # an older spreadsheet saves Windows-1252: read, accents kept
    assert decode("pôle;Trélazé".encode("cp1252")) == "pôle;Trélazé"


def test_bad_rows_are_reported_by_line_and_the_good_ones_kept() -> None:
    parsed = parse("\n".join([
        "type;id;nom;territoire;type_epicerie;jours;lat;lon",
        "territoire;t1;Territoire;;;;;",
        "",
        "# a comment line",
        "epicerie;s1;Une;t1;associative;1,2;;",       # line 5: not sociale/solidaire
        "epicerie;s2;Deux;t1;sociale;lun,8;;",        # line 6: no 8th day
        "pole;h1;Pôle;t1;;;quarante-sept;-0,5",       # line 7: latitude not a number
        "ferme;f1;Ferme;t1;;;;",                      # line 8: unknown type
        "epicerie;s3;;t1;sociale;;;",                 # line 9: no name
        "epicerie;s4;Quatre;t1;sociale;ven-dim;;",
        "epicerie;t1;Doublon;t1;sociale;;;",          # a shop may share a territory's id
        "epicerie;s4;Encore;t1;sociale;;;",           # line 12: s4 again
    ]))
    assert [e.entry_id for e in parsed.entries] == ["t1", "s4", "t1"]
    assert parsed.entries[1].fields["opening_days"] == [5, 6, 7]
    assert [(e.line, e.problem.key) for e in parsed.errors] == [
        (5, "directory.field.shop_kind"), (6, "directory.field.day"),
        (7, "directory.field.degrees"), (8, "directory.csv.unknown_type"),
        (9, "directory.field.missing"), (12, "directory.csv.repeated")]
    assert parsed.errors[1].problem.values["column"] == "jours"
    assert parsed.errors[-1].problem.values == {"id": "s4", "first": 10}
    assert parsed.rows == 9  # blank and comment lines are no rows


def test_a_header_without_type_or_with_a_misspelt_column_is_refused_whole() -> None:
    missing = parse("id;nom\nt1;T")
    assert [(e.line, e.problem.key) for e in missing.errors] == [
        (1, "directory.csv.missing_columns")]
    typo = parse("type;id;nom;comune\nterritoire;t1;T;Angers")
    assert typo.entries == []
    assert typo.errors[0].problem.values["columns"] == "comune"


@pytest.mark.parametrize(("text", "e6"), [("45.764043", 45764043), ("45,764043", 45764043),
                                          ("-0,5", -500000), ("4.8356591", 4835659),
                                          ("45764043", 45764043)])
def test_degrees_become_microdegrees_exactly(text: str, e6: int) -> None:
    assert microdegrees(text) == e6


def test_days_read_as_numbers_names_and_ranges() -> None:
    assert weekdays("1, 2,5") == [1, 2, 5]
    assert weekdays("Lundi mer|VEN") == [1, 3, 5]
    assert weekdays("6-7 1") == [1, 6, 7]
    with pytest.raises(FieldProblem):
        weekdays("5-1")


def test_a_correction_takes_only_what_is_given_and_may_empty_a_list() -> None:
    fields, problems = fields_of(SHOP, {"commune": "Angers", "jours": "", "nom": None},
                                 partial=True)
    assert problems == [] and fields == {"commune": "Angers", "opening_days": []}
    _, missing = fields_of(SHOP, {"id": "s1"})
    assert [p.values["column"] for p in missing] == ["nom", "territoire", "type_epicerie"]
    assert missing[2].values["option"] == "--type"  # the CLI's name for it
