"""What the planning commands read from people: quantities as they say them, weeks from two
days, the history spreadsheet; and how they say quantities back."""

from __future__ import annotations

from datetime import date

import click
import pytest

from services.cli.planning import base_units, mondays, read_history, said


@pytest.mark.parametrize(("text", "unit", "units"), [
    ("12kg", "GRAM", 12_000), ("12,5 kg", "GRAM", 12_500), ("800 g", "GRAM", 800),
    ("12", "GRAM", 12_000), ("3 L", "MILLILITRE", 3_000), ("250ml", "MILLILITRE", 250),
    ("24", "PIECE", 24), ("24 pièces", "PIECE", 24), ("0", "GRAM", 0)])
def test_quantities_are_read_as_people_type_them(text: str, unit: str, units: int) -> None:
    assert base_units(text, unit) == units


@pytest.mark.parametrize(("text", "unit"), [("douze", "GRAM"), ("3 kg", "PIECE"), ("", "GRAM")])
def test_an_unreadable_quantity_is_refused_in_french(text: str, unit: str) -> None:
    with pytest.raises(click.BadParameter) as refused:
        base_units(text, unit)
    assert "Quantité illisible" in str(refused.value) or "pièces" in str(refused.value)


def test_quantities_are_said_in_kilograms_litres_or_pieces() -> None:
    assert [said(12_500, "GRAM"), said(3_000, "MILLILITRE"), said(24, "PIECE"),
            said(None, "GRAM")] == ["12,5 kg", "3 L", "24 pièces", "—"]


def test_the_weeks_run_from_the_first_days_monday_to_the_last_day() -> None:
    assert mondays(date(2027, 3, 3), date(2027, 3, 15)) == [
        date(2027, 3, 1), date(2027, 3, 8), date(2027, 3, 15)]
    assert mondays(date(2027, 3, 3), date(2027, 3, 1)) == []


def test_the_history_spreadsheet_is_read_by_territory_and_product(tmp_path) -> None:
    path = tmp_path / "historique.csv"
    path.write_text("territoire;produit;semaine;unites\nlyon;carotte;2025-03-05;12000\n"
                    "lyon;carotte;2025-03-10;11500,0\nlyon;poireau;2025-03-10;800\n",
                    encoding="utf-8-sig")
    assert read_history(path) == {
        ("lyon", "carotte"): [{"week": "2025-03-03", "units": 12_000},
                              {"week": "2025-03-10", "units": 11_500}],
        ("lyon", "poireau"): [{"week": "2025-03-10", "units": 800}]}
    path.write_text("territoire;produit;semaine;unites\nlyon;carotte;mars;12\n",
                    encoding="utf-8")
    with pytest.raises(click.ClickException, match="ligne 2"):
        read_history(path)
