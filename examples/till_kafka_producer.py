"""A till that produces its tickets to Kafka directly, in Avro, with plain confluent-kafka.

For till software that speaks Kafka: no Vivres code is needed, only the contract.

    python examples/till_kafka_producer.py --shop lyon-8e-epicerie-graine --till t1 --number 42

What the contract asks of a direct producer (README, "Tills that produce to Kafka"):
  * topic `sales.tickets.submitted` (refunds: `sales.refunds.submitted`), value schema
    `schemas/sales/SaleRecorded.avsc`, subject `sales.tickets.submitted-value`, Confluent wire
    format through the schema registry;
  * key = the shop id (UTF-8), partitioned with murmur2 like the Java client (librdkafka's
    default is different: set `partitioner=murmur2_random`), so one shop keeps one partition;
  * CloudEvents headers: ce_specversion=1.0, ce_id=<shop>/<till>/<ticket number> (the stable id
    that makes a resend harmless), ce_source=/shops/<shop>/tills/<till>, ce_type=the Avro full
    name, ce_time=RFC 3339 UTC; and, as the binding says, content-type=application/avro and
    ce_dataschema=<registry>/schemas/ids/<the schema id of the value> (docs/asyncapi.yaml);
  * idempotence on, acks=all; money in cents, quantities in grams / millilitres / pieces.
The ingest stage then de-duplicates by ce_id and writes `sales.tickets`.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "sales" / "SaleRecorded.avsc"
TOPIC = "sales.tickets.submitted"


def send_ticket(bootstrap: str, registry_url: str, shop: str, till: str, number: int) -> str:
    """Produce one ticket and wait for Kafka's acknowledgement; returns its ticket id."""
    ticket_id = f"{shop}/{till}/{number}"
    occurred_at = datetime.now(UTC).replace(microsecond=0)
    value = {
        "ticket_id": ticket_id, "shop_id": shop, "till_id": till, "ticket_number": number,
        "occurred_at": occurred_at, "timezone": "Europe/Paris",
        "lines": [{"line_number": 1, "product_code": "2001", "code_kind": "PLU",
                   "label": "Poireaux", "quantity": 500, "unit": "GRAM",
                   "unit_price_cents": 300, "paid_cents": 45}],
        "payments": [{"method": "CASH", "amount_cents": 45, "card_id": None}],
    }
    serializer = AvroSerializer(SchemaRegistryClient({"url": registry_url}), SCHEMA.read_text(),
                                conf={"auto.register.schemas": False, "use.latest.version": True})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "partitioner": "murmur2_random"})
    encoded = serializer(value, SerializationContext(TOPIC, MessageField.VALUE))
    (schema_id,) = struct.unpack_from(">I", encoded, 1)  # after the magic byte: the schema id
    headers = [("ce_specversion", b"1.0"), ("ce_id", ticket_id.encode()),
               ("ce_source", f"/shops/{shop}/tills/{till}".encode()),
               ("ce_type", b"org.vivres.sales.SaleRecorded"),
               ("ce_time", occurred_at.isoformat().replace("+00:00", "Z").encode()),
               ("content-type", b"application/avro"),
               ("ce_dataschema", f"{registry_url.rstrip('/')}/schemas/ids/{schema_id}".encode())]
    errors: list[str] = []
    producer.produce(TOPIC, key=shop.encode(), headers=headers, value=encoded,
                     on_delivery=lambda err, _msg: errors.append(str(err)) if err else None)
    producer.flush(30)
    if errors:
        raise RuntimeError(f"Kafka refused the ticket: {errors[0]}")
    return ticket_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", required=True)
    parser.add_argument("--till", default="t1")
    parser.add_argument("--number", type=int, required=True)
    args = parser.parse_args()
    ticket_id = send_ticket(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                            os.environ.get("SCHEMA_REGISTRY_URL",
                                           "http://127.0.0.1:8081/apis/ccompat/v7"),
                            args.shop, args.till, args.number)
    print(json.dumps({"sent": ticket_id}))  # noqa: T201 - an example's whole output


if __name__ == "__main__":
    main()
