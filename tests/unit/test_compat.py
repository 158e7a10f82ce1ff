"""Avro schema resolution as a compatibility check (services.bus.compat): no broker, no registry."""

from __future__ import annotations

import copy
import io
from typing import Any

import fastavro
import pytest

from services.bus import schemas
from services.bus.compat import Incompatibility, can_read, check_backward_transitive

NS = "org.vivres.test"


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": list(fields), **extra}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def one(reader: Any, writer: Any) -> Incompatibility:
    [issue] = can_read(reader, writer)
    return issue


def sale() -> dict[str, Any]:
    return copy.deepcopy(schemas.load_history("org.vivres.sales.SaleRecorded")[0])


def line_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    lines = next(f for f in schema["fields"] if f["name"] == "lines")
    return lines["type"]["items"]["fields"]


# --- identical and trivially compatible -------------------------------------------------------

NODE = record("Node", field("value", "long"), field("next", ["null", "Node"], default=None))


@pytest.mark.parametrize("schema", [
    "string", "null", ["null", "string"], {"type": "array", "items": "int"},
    {"type": "map", "values": ["null", "double"]},
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "fixed", "name": "Hash", "size": 32},
    {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]},
    record("Empty"), NODE,
], ids=repr)
def test_identical_schemas_are_compatible(schema: Any) -> None:
    assert can_read(schema, copy.deepcopy(schema)) == []


def test_every_repository_schema_reads_itself_and_its_history() -> None:
    for name, current in schemas.load_current().items():
        assert can_read(current.schema, current.schema) == [], name
        assert check_backward_transitive(current.schema, schemas.load_history(name)) == [], name


def test_incompatibility_prints_path_then_message() -> None:
    issue = Incompatibility("org.x.Sale.price", "field 'price' broke")
    assert str(issue) == "org.x.Sale.price: field 'price' broke"


# --- record fields ----------------------------------------------------------------------------

def test_adding_a_field_with_a_default_is_compatible() -> None:
    new = sale()
    new["fields"].append(field("loyalty_points", "int", default=0))
    line_fields(new).append(field("organic", "boolean", default=False))
    assert can_read(new, sale()) == []


def test_adding_a_field_without_a_default_names_it() -> None:
    new = sale()
    payment = next(f for f in new["fields"] if f["name"] == "payments")["type"]["items"]
    payment["fields"].append(field("terminal_id", "string"))
    issue = one(new, sale())
    assert issue.path == "org.vivres.sales.SaleRecorded.payments[].terminal_id"
    assert issue.message == ("field 'terminal_id' was added without a default: data written "
                             "with the earlier schema has no value for it")


def test_removing_a_field_is_compatible() -> None:
    new = sale()
    new["fields"] = [f for f in new["fields"] if f["name"] != "timezone"]
    assert can_read(new, sale()) == []


def test_a_field_can_be_renamed_with_an_alias_only() -> None:
    old = record("Sale", field("amount", "long"))
    assert can_read(record("Sale", field("total", "long", aliases=["amount"])), old) == []
    issue = one(record("Sale", field("total", "long")), old)
    assert issue.path == f"{NS}.Sale.total"
    assert "field 'total' was added without a default" in issue.message


def test_several_problems_are_all_reported() -> None:
    old = record("Sale", field("a", "long"), field("b", "string"))
    new = record("Sale", field("a", "int"), field("b", "boolean"), field("c", "int"))
    assert [i.path.rpartition(".")[2] for i in can_read(new, old)] == ["a", "b", "c"]


# --- primitives and promotions ----------------------------------------------------------------

@pytest.mark.parametrize(("writer", "reader"), [
    ("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"),
    ("long", "double"), ("float", "double"), ("string", "bytes"), ("bytes", "string"),
])
def test_promotions_are_compatible(writer: str, reader: str) -> None:
    assert can_read(record("R", field("x", reader)), record("R", field("x", writer))) == []


@pytest.mark.parametrize(("writer", "reader"), [
    ("long", "int"), ("double", "float"), ("double", "long"), ("float", "int"),
    ("long", "string"), ("string", "long"), ("boolean", "int"), ("null", "string"),
])
def test_narrowing_or_changing_a_type_names_the_field(writer: str, reader: str) -> None:
    issue = one(record("R", field("quantity", reader)), record("R", field("quantity", writer)))
    assert issue.path == f"{NS}.R.quantity"
    assert issue.message.startswith(f"type changed from {writer} to {reader}")
    assert "field 'quantity'" in issue.message


def test_a_nested_field_in_an_array_of_records_shows_its_path() -> None:
    new = sale()
    next(f for f in line_fields(new) if f["name"] == "quantity")["type"] = "int"
    issue = one(new, sale())
    assert issue.path == "org.vivres.sales.SaleRecorded.lines[].quantity"
    assert str(issue) == ("org.vivres.sales.SaleRecorded.lines[].quantity: type changed from "
                          "long to int, which Avro cannot promote, so field 'quantity' cannot "
                          "be read")


def test_array_items_and_map_values_are_resolved() -> None:
    old = record("R", field("tags", {"type": "array", "items": "int"}),
                 field("prices", {"type": "map", "values": "long"}))
    widened = record("R", field("tags", {"type": "array", "items": "long"}),
                     field("prices", {"type": "map", "values": "double"}))
    assert can_read(widened, old) == []
    narrowed = record("R", field("tags", {"type": "array", "items": "string"}),
                      field("prices", {"type": "map", "values": "int"}))
    assert [i.path for i in can_read(narrowed, old)] == [f"{NS}.R.tags[]", f"{NS}.R.prices{{}}"]
    array_to_map = record("R", field("tags", {"type": "map", "values": "int"}),
                          field("prices", {"type": "map", "values": "long"}))
    assert "type changed from array to map" in one(array_to_map, old).message


def test_a_type_wrapped_in_a_type_key_is_unwrapped() -> None:
    old = record("R", field("x", {"type": ["null", "int"]}))
    assert can_read(record("R", field("x", {"type": {"type": ["null", "long"]}})), old) == []


# --- enums ------------------------------------------------------------------------------------

def enum(symbols: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Method", "symbols": symbols, **extra}


def test_adding_an_enum_symbol_is_compatible() -> None:
    old = record("P", field("method", enum(["CASH", "CARD"])))
    assert can_read(record("P", field("method", enum(["CASH", "CARD", "VOUCHER"]))), old) == []


def test_removing_an_enum_symbol_names_symbol_and_field() -> None:
    old = record("P", field("method", enum(["CASH", "CARD", "CAISSE"])))
    issue = one(record("P", field("method", enum(["CASH", "CARD"]))), old)
    assert issue.path == f"{NS}.P.method"
    assert "CAISSE" in issue.message and "field 'method'" in issue.message
    assert f"enum {NS}.Method" in issue.message and "no default" in issue.message


def test_removing_an_enum_symbol_is_compatible_when_the_reader_has_a_default() -> None:
    old = record("P", field("method", enum(["CASH", "CARD", "CAISSE"])))
    new = record("P", field("method", enum(["CASH", "CARD", "OTHER"], default="OTHER")))
    assert can_read(new, old) == []


def test_repository_enum_removal_is_caught_in_the_sale_lines() -> None:
    new = sale()
    unit = next(f for f in line_fields(new) if f["name"] == "unit")["type"]
    unit["symbols"].remove("MILLILITRE")
    issue = one(new, sale())
    assert issue.path == "org.vivres.sales.SaleRecorded.lines[].unit"
    assert "MILLILITRE" in issue.message and "field 'unit'" in issue.message


# --- unions -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("reader", "writer"), [
    (["null", "string"], "string"),
    (["null", "long"], "int"),
    (["null", "string", "long"], ["null", "string"]),
    (["string", "null"], ["null", "string"]),
    ("long", ["int", "long"]),
    (["null", "double"], ["null", "int", "float"]),
])
def test_union_widening_is_compatible(reader: Any, writer: Any) -> None:
    assert can_read(record("R", field("card_id", reader)), record("R", field("card_id", writer))) \
        == []


def test_union_narrowing_names_the_field_and_the_branch() -> None:
    issue = one(record("R", field("card_id", "string")),
                record("R", field("card_id", ["null", "string"])))
    assert issue.path == f"{NS}.R.card_id|null"
    assert "field 'card_id'" in issue.message and "null" in issue.message


def test_dropping_a_branch_from_a_union_is_reported_on_that_branch() -> None:
    issues = can_read(record("R", field("v", ["null", "string"])),
                      record("R", field("v", ["null", "string", "long"])))
    assert [i.path for i in issues] == [f"{NS}.R.v|long"]


def test_a_reader_union_needs_a_branch_for_the_written_type() -> None:
    issue = one(record("R", field("v", ["null", "string"])), record("R", field("v", "int")))
    assert issue.path == f"{NS}.R.v"
    assert "int to a union with no branch" in issue.message and "field 'v'" in issue.message


def test_records_inside_unions_are_resolved_field_by_field() -> None:
    def customer(*fields: dict[str, Any]) -> dict[str, Any]:
        return record("Sale", field("customer", ["null", record("Customer", *fields)]))

    old = customer(field("id", "string"))
    assert can_read(customer(field("id", "string"), field("tier", "int", default=0)), old) == []
    issue = one(customer(field("id", "string"), field("tier", "int")), old)
    assert issue.path == f"{NS}.Sale.customer|{NS}.Customer.tier"
    assert "field 'tier'" in issue.message


# --- named types: references, namespaces, recursion, renames ----------------------------------

def address(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "Address",
            "fields": [field("street", "string"), field("zip", "string"), *extra]}


def shop(addr: dict[str, Any], second: str = "Address") -> dict[str, Any]:
    return record("Shop", field("shipping", addr), field("billing", second),
                  field("previous", {"type": "array", "items": f"{NS}.Address"}))


def test_a_named_type_is_reused_by_name_and_full_name() -> None:
    assert can_read(shop(address()), shop(address())) == []
    # the reader refers to the type by full name where the writer used the short name
    assert can_read(shop(address(), second=f"{NS}.Address"), shop(address())) == []


def test_a_change_in_a_reused_named_type_is_reported_once_where_first_used() -> None:
    issue = one(shop(address(field("country", "string"))), shop(address()))
    assert issue.path == f"{NS}.Shop.shipping.country"
    assert "field 'country'" in issue.message


def test_nested_namespaces_are_inherited_and_respected() -> None:
    inner = {"type": "record", "name": "Line", "namespace": "org.other",
             "fields": [field("unit", {"type": "enum", "name": "Unit", "symbols": ["G", "ML"]}),
                        field("again", ["null", "Unit"], default=None)]}
    schema = record("Ticket", field("line", inner), field("unit", "org.other.Unit"))
    assert can_read(schema, copy.deepcopy(schema)) == []
    # "Unit" alone, from the Ticket's namespace, names org.vivres.test.Unit: not defined
    broken = record("Ticket", field("line", copy.deepcopy(inner)), field("unit", "Unit"))
    issue = one(broken, schema)
    assert issue.path == f"{NS}.Ticket.unit"
    assert "field 'unit' refers to type 'Unit'" in issue.message


def test_recursive_types_terminate() -> None:
    assert can_read(NODE, copy.deepcopy(NODE)) == []
    tree = record("Tree", field("label", "string"),
                  field("children", {"type": "array", "items": "Tree"}))
    assert can_read(tree, copy.deepcopy(tree)) == []
    new = copy.deepcopy(NODE)
    new["fields"][0]["type"] = "int"
    new["fields"].append(field("weight", "double"))
    assert [str(i).split(":")[0] for i in can_read(new, NODE)] == [
        f"{NS}.Node.value", f"{NS}.Node.weight"]


def test_mutually_recursive_types_terminate() -> None:
    def schema(extra: list[dict[str, Any]]) -> dict[str, Any]:
        b = {"type": "record", "name": "B", "fields": [field("a", ["null", "A"]), *extra]}
        return record("A", field("b", ["null", b]))

    assert can_read(schema([]), schema([])) == []
    issue = one(schema([field("n", "int")]), schema([]))
    assert issue.path == f"{NS}.A.b|{NS}.B.n"


@pytest.mark.parametrize("alias", ["SaleV1", f"{NS}.SaleV1"])
def test_a_renamed_record_needs_an_alias(alias: str) -> None:
    old = record("SaleV1", field("id", "string"))
    assert can_read(record("Sale", field("id", "string"), aliases=[alias]), old) == []
    issue = one(record("Sale", field("id", "string")), old)
    assert issue.path == f"{NS}.Sale"
    assert f"renamed from {NS}.SaleV1 to {NS}.Sale without an alias" in issue.message


def test_a_renamed_nested_record_names_the_field() -> None:
    old = record("Sale", field("shop", {"type": "record", "name": "Shop", "fields": []}))
    issue = one(record("Sale", field("shop", {"type": "record", "name": "Store", "fields": []})),
                old)
    assert issue.path == f"{NS}.Sale.shop"
    assert "type of field 'shop' renamed" in issue.message


def test_a_namespace_change_alone_resolves_as_the_specification_says() -> None:
    # Avro 1.11: records match by unqualified name (as the Java and fastavro readers do).
    moved = {**record("Sale", field("id", "string")), "namespace": "org.vivres.moved"}
    assert can_read(moved, record("Sale", field("id", "string"))) == []


def test_fixed_must_keep_its_name_and_size() -> None:
    def hashed(name: str, size: int) -> dict[str, Any]:
        return record("R", field("digest", {"type": "fixed", "name": name, "size": size}))

    assert can_read(hashed("Sha", 32), hashed("Sha", 32)) == []
    issue = one(hashed("Sha", 64), hashed("Sha", 32))
    assert "changed size from 32 to 64" in issue.message and "field 'digest'" in issue.message
    assert "renamed" in one(hashed("Md5", 32), hashed("Sha", 32)).message


# --- logical types ----------------------------------------------------------------------------

def test_logical_types_resolve_on_their_underlying_type() -> None:
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    date = {"type": "int", "logicalType": "date"}
    assert can_read(record("R", field("at", millis)), record("R", field("at", "long"))) == []
    assert can_read(record("R", field("at", "long")), record("R", field("at", date))) == []
    issue = one(record("R", field("at", date)), record("R", field("at", millis)))
    assert issue.message.startswith("type changed from long (timestamp-millis) to int (date)")


def decimal(precision: int, scale: int, base: str = "bytes") -> dict[str, Any]:
    if base == "fixed":
        return {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal",
                "precision": precision, "scale": scale}
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


@pytest.mark.parametrize("base", ["bytes", "fixed"])
def test_decimal_scale_or_precision_change_is_reported(base: str) -> None:
    old = record("R", field("price", decimal(10, 2, base)))
    assert can_read(record("R", field("price", decimal(10, 2, base))), old) == []
    issue = one(record("R", field("price", decimal(10, 3, base))), old)
    assert issue.path == f"{NS}.R.price"
    assert issue.message.startswith("decimal scale of field 'price' changed from 2 to 3")
    assert "precision" in one(record("R", field("price", decimal(12, 2, base))), old).message


def test_decimal_scale_defaults_to_zero() -> None:
    old = record("R", field("n", {"type": "bytes", "logicalType": "decimal", "precision": 5}))
    assert can_read(record("R", field("n", decimal(5, 0))), old) == []


# --- BACKWARD_TRANSITIVE ----------------------------------------------------------------------

def test_backward_transitive_names_the_version_that_fails() -> None:
    v1 = record("Sale", field("id", "string"), field("total", "long"))
    v2 = record("Sale", field("id", "string"), field("total", "long"),
                field("note", "string", default=""))
    v3 = record("Sale", field("id", "string"), field("note", "string", default=""))
    new = record("Sale", field("id", "string"), field("note", "string", default=""),
                 field("total", "int", default=0))
    assert check_backward_transitive(v3, [v1, v2]) == []
    issues = check_backward_transitive(new, [v1, v2, v3])
    assert [i.path for i in issues] == [f"{NS}.Sale.total", f"{NS}.Sale.total"]
    assert [i.message[:4] for i in issues] == ["[v1]", "[v2]"]
    assert "field 'total'" in issues[0].message
    assert check_backward_transitive(new, []) == []


# --- agreement with a real Avro reader --------------------------------------------------------

def decodes(reader: Any, writer: Any, datum: Any) -> bool:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(copy.deepcopy(writer)), datum)
    buffer.seek(0)
    try:
        fastavro.schemaless_reader(buffer, fastavro.parse_schema(copy.deepcopy(writer)),
                                   fastavro.parse_schema(copy.deepcopy(reader)))
    except Exception:  # noqa: BLE001 - any failure to decode is the answer
        return False
    return True


@pytest.mark.parametrize(("reader", "writer", "datum"), [
    (record("R", field("x", "long")), record("R", field("x", "int")), {"x": 1}),
    (record("R", field("x", "int")), record("R", field("x", "long")), {"x": 1}),
    (record("R", field("x", "string"), field("y", "int", default=3)),
     record("R", field("x", "string")), {"x": "a"}),
    (record("R", field("x", "string"), field("y", "int")), record("R", field("x", "string")),
     {"x": "a"}),
    (record("R", field("x", ["null", "string"])), record("R", field("x", "string")), {"x": "a"}),
    (record("R", field("x", "string")), record("R", field("x", ["null", "string"])), {"x": None}),
    (record("R", field("m", enum(["A"]))), record("R", field("m", enum(["A", "B"]))), {"m": "B"}),
    (record("R", field("m", enum(["A", "Z"], default="Z"))),
     record("R", field("m", enum(["A", "B"]))), {"m": "B"}),
    (NODE, NODE, {"value": 1, "next": {"value": 2, "next": None}}),
])
def test_the_verdict_agrees_with_fastavro(reader: Any, writer: Any, datum: Any) -> None:
    assert (can_read(reader, writer) == []) == decodes(reader, writer, datum)
