"""The records a service cannot get past, as health names them (services/health/stuck.py) and
`vivres health` prints them, with the command that sets them aside."""

from __future__ import annotations

from services.cli.health import render
from services.health.scrape import parse
from services.health.stuck import stuck_records

METRICS = """\
# TYPE vivres_consumer_blocked_since_timestamp_seconds gauge
vivres_consumer_blocked_since_timestamp_seconds{error="KafkaTimeoutError: send timed out",\
group="vivres-stock",offset="2018",partition="5",service="stock",topic="stock.changes"} 1.7e9
"""


def _group(name: str, *parts: dict) -> dict:
    return {"group": name, "partitions": list(parts)}


def _part(topic: str, partition: int, committed: int, lag: int, status: str) -> dict:
    return {"topic": topic, "partition": partition, "committed": committed, "lag": lag,
            "status": status, "reason": f"{status.lower()} for 30 s"}


def test_a_group_stopped_with_records_waiting_names_the_record_at_its_committed_offset() -> None:
    groups = [_group("vivres-caisse", _part("caisse.requests", 5, 2018, 40, "STOP"),
                     _part("caisse.requests", 4, 900, 0, "STOP")),  # nothing waits there
              _group("vivres-orders", _part("orders.commands", 0, 7, 3, "WARN"))]  # it moves
    [entry] = stuck_records(groups, {})
    assert (entry["group"], entry["topic"], entry["partition"], entry["offset"]) == (
        "vivres-caisse", "caisse.requests", 5, 2018)
    assert entry["status"] == "STOP" and entry["error"] is None
    assert entry["set_aside"] == (
        'vivres dlq set-aside vivres-caisse caisse.requests 5 2018 --reason "…"')


def test_a_service_retrying_a_record_names_it_with_its_error_and_its_group_status() -> None:
    scrape = parse("stock", "http://stock/metrics", 1.7e9, METRICS)
    groups = [_group("vivres-stock", _part("stock.changes", 5, 2018, 12, "STALL"))]
    [entry] = stuck_records(groups, {"stock": scrape})
    assert (entry["service"], entry["offset"], entry["status"]) == ("stock", 2018, "STALL")
    assert entry["error"] == "KafkaTimeoutError: send timed out"
    [alone] = stuck_records([], {"stock": scrape})  # before the group is judged: STALL
    assert alone["status"] == "STALL"


def test_vivres_health_prints_the_blocked_record_and_how_to_set_it_aside() -> None:
    [entry] = stuck_records([_group("vivres-caisse",
                                    _part("caisse.requests", 5, 2018, 1, "STOP"))], {})
    report = {"status": "STOP", "generated_at": "2026-12-02T09:00:00Z", "window_s": 30.0,
              "kafka": {"status": "OK", "error": None, "brokers": [1], "controller": 1,
                        "under_replicated": [], "offline": []},
              "groups": [], "stuck": [entry], "services": [], "dead_letters": []}
    text = render(report)
    assert "caisse.requests[5]@2018" in text
    assert "le groupe vivres-caisse n'avance plus sur cet enregistrement" in text
    assert "vivres dlq set-aside vivres-caisse caisse.requests 5 2018" in text
