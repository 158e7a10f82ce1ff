"""Burrow's rules on windows of samples, histogram quantiles, rates, and the alerts between two
reports: the pure part of the health service."""

from __future__ import annotations

import math

import pytest

from services.health.alerts import changes, conditions
from services.health.scrape import Scrape, parse, window_buckets
from services.health.status import (
    Sample,
    Status,
    evaluate,
    histogram_quantile,
    rate,
    worst,
)

WINDOW = 30.0


def samples(*points: tuple[float, int, int]) -> list[Sample]:
    return [Sample(at, committed, end) for at, committed, end in points]


def test_a_zero_lag_anywhere_in_the_window_is_ok_even_if_stopped_since() -> None:
    history = samples((0, 100, 100), (10, 100, 105), (20, 100, 110), (30, 100, 120))
    assert evaluate(history, now=30, window_s=WINDOW, members=0).status is Status.OK


def test_a_group_without_members_whose_offset_stays_still_while_records_wait_is_stopped() -> None:
    history = samples((0, 100, 101), (10, 100, 105), (20, 100, 110), (30, 100, 120))
    verdict = evaluate(history, now=30, window_s=WINDOW, members=0)
    assert verdict.status is Status.STOP
    assert "no consumer" in verdict.reason


def test_members_holding_a_still_offset_stall() -> None:
    history = samples((0, 100, 101), (10, 100, 101), (20, 100, 101), (30, 100, 101))
    assert evaluate(history, now=30, window_s=WINDOW, members=2).status is Status.STALL


def test_a_still_offset_is_judged_only_once_it_has_been_still_for_a_whole_window() -> None:
    moving_then_still = samples((0, 90, 120), (10, 100, 120), (20, 100, 125), (30, 100, 130))
    assert evaluate(moving_then_still, now=30, window_s=WINDOW, members=0).status is not Status.STOP
    assert evaluate(moving_then_still, now=41, window_s=WINDOW, members=0).status is Status.STOP


def test_an_offset_going_backwards_while_records_wait_is_a_rewind_even_after_zero_lag() -> None:
    history = samples((0, 100, 100), (10, 40, 105), (20, 45, 110))
    assert evaluate(history, now=20, window_s=WINDOW, members=1).status is Status.REWIND


def test_consuming_while_the_lag_keeps_growing_is_a_warning() -> None:
    history = samples((0, 100, 110), (10, 105, 120), (20, 110, 130), (30, 115, 140))
    assert evaluate(history, now=30, window_s=WINDOW, members=1).status is Status.WARN


def test_behind_but_catching_up_is_ok() -> None:
    history = samples((0, 100, 150), (10, 120, 155), (20, 140, 160), (30, 150, 162))
    assert evaluate(history, now=30, window_s=WINDOW, members=1).status is Status.OK


def test_samples_older_than_the_window_do_not_count() -> None:
    # caught up long ago (outside the window), stopped since: no longer OK
    history = samples((0, 100, 100), (40, 100, 110), (50, 100, 120), (75, 100, 130))
    assert evaluate(history, now=75, window_s=WINDOW, members=0).status is Status.STOP


def test_severity_follows_the_issue_order_and_down_is_worst() -> None:
    ordered = [Status.OK, Status.WARN, Status.STALL, Status.STOP, Status.REWIND, Status.DOWN]
    assert sorted(ordered, key=lambda s: s.severity) == ordered
    assert worst([Status.WARN, Status.STOP, Status.OK]) is Status.STOP
    assert worst([]) is Status.OK


def test_histogram_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.3)  # 0.1 + 0.4 * 20/40
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.95)
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    # all observations beyond the last finite bucket: its bound is all that is known
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 4.0)]) == pytest.approx(0.1)


def test_rate_is_the_growth_per_second_between_the_first_and_last_points() -> None:
    assert rate([(0, 100), (5, 110), (10, 150)]) == pytest.approx(5.0)
    assert rate([(0, 100)]) is None


EXPOSITION = """\
# TYPE vivres_bus_latency_seconds histogram
vivres_bus_latency_seconds_bucket{service="stock",topic="a",le="0.1"} 3.0
vivres_bus_latency_seconds_bucket{service="stock",topic="a",le="+Inf"} 4.0
vivres_bus_latency_seconds_bucket{service="stock",topic="b",le="0.1"} 1.0
vivres_bus_latency_seconds_bucket{service="stock",topic="b",le="+Inf"} 1.0
vivres_bus_latency_seconds_count{service="stock",topic="a"} 4.0
vivres_bus_latency_seconds_sum{service="stock",topic="a"} 1.0
# TYPE vivres_state_newest_event_timestamp_seconds gauge
vivres_state_newest_event_timestamp_seconds{service="stock",topic="a"} 1.7e9
"""


def test_a_scrape_sums_the_histograms_over_topics_and_reads_the_freshness() -> None:
    found = parse("stock", "http://x/metrics", 1.7e9 + 5, EXPOSITION)
    assert found.buckets["vivres_bus_latency_seconds"] == {0.1: 4.0, math.inf: 5.0}
    assert found.newest == {"a": 1.7e9}


def test_window_buckets_count_only_what_came_between_two_scrapes_and_survive_restarts() -> None:
    old = Scrape("s", "u", 0, True, buckets={"h": {0.1: 4.0, math.inf: 5.0}})
    new = Scrape("s", "u", 5, True, buckets={"h": {0.1: 6.0, math.inf: 9.0}})
    assert sorted(window_buckets(old, new, "h")) == [(0.1, 2.0), (math.inf, 4.0)]
    restarted = Scrape("s", "u", 10, True, buckets={"h": {0.1: 1.0, math.inf: 1.0}})
    assert sorted(window_buckets(new, restarted, "h")) == [(0.1, 1.0), (math.inf, 1.0)]


def report(group_status: str = "OK", depth: int = 0, kafka: str = "OK") -> dict:
    return {
        "kafka": {"status": kafka, "error": None if kafka == "OK" else "unreachable",
                  "under_replicated": [], "offline": []},
        "groups": [{"group": "vivres-stock", "status": group_status, "lag": 42,
                    "lag_seconds": 3.5, "members": 0, "reason": "no consumer"}],
        "services": [{"service": "stock", "status": "OK", "url": "u", "error": None}],
        "dead_letters": [{"topic": "stock.waste.dlq", "status": "WARN" if depth else "OK",
                          "depth": depth, "end": depth,
                          "latest": [{"error": "bad magic byte", "source": "stock.waste[0]@7"}]
                          if depth else []}],
    }


def test_alerts_tell_each_status_change_once_and_new_dead_letters() -> None:
    at = "2026-11-26T10:00:00Z"
    start = conditions(report())
    assert changes({}, start, at) == []  # all OK at start: nothing to tell

    stopped = conditions(report("STOP", depth=1))
    alerts = changes(start, stopped, at)
    by_kind = {a.kind: a for a in alerts}
    assert by_kind["group"].previous == "OK" and by_kind["group"].status == "STOP"
    assert "vivres-stock" in by_kind["group"].text and "STOP" in by_kind["group"].text
    assert by_kind["dead_letters"].detail["new"] == 1
    assert "bad magic byte" in by_kind["dead_letters"].text
    assert changes(stopped, conditions(report("STOP", depth=1)), at) == []  # no repeat

    back = changes(stopped, conditions(report("OK", depth=1)), at)
    assert [(a.kind, a.previous, a.status) for a in back] == [("group", "STOP", "OK")]


def test_a_problem_present_at_start_is_told_but_old_dead_letters_are_not() -> None:
    alerts = changes({}, conditions(report("STALL", depth=5, kafka="DOWN")), "t")
    assert {(a.kind, a.status) for a in alerts} == {("group", "STALL"), ("kafka", "DOWN")}


def test_how_long_an_offset_has_been_still_can_reach_back_beyond_the_samples() -> None:
    history = samples((3600, 100, 120), (3610, 100, 125))
    verdict = evaluate(history, now=3610, window_s=WINDOW, members=0, unmoved_since=0)
    assert verdict.status is Status.STOP and "3610s" in verdict.reason


def snapshot(at: float, committed: int, end: int):
    from aiokafka import TopicPartition

    from services.health.kafka import Cluster, GroupOffsets, KafkaSnapshot

    tp = TopicPartition("t", 0)
    return KafkaSnapshot(at=at, groups={"g": GroupOffsets("g", "Empty", 0, {tp: committed})},
                         ends={tp: end}, starts={tp: 0}, waiting_since={(tp, committed): at - 1},
                         cluster=Cluster([{"id": 1}], 1, [1], [], [], 1), topics=["t"])


def test_while_kafka_is_away_groups_keep_the_status_they_had_when_last_seen() -> None:
    from services.bus.settings import BusSettings
    from services.health.monitor import HealthConfig, Monitor

    clock = [0.0]
    monitor = Monitor(BusSettings(), HealthConfig(window_s=WINDOW), http=None, sender=None,
                      clock=lambda: clock[0])
    for at, end in ((0, 110), (10, 120)):
        clock[0] = at
        monitor._remember(snapshot(at, 100, end))
    clock[0] = 300.0  # Kafka unreachable since 10 s: no new snapshot
    monitor.kafka_error = "KafkaConnectionError: connection refused"
    report = monitor._build()
    [group] = report["groups"]
    assert group["status"] == "OK" and group["lag"] == 20  # not STOP for want of news
    assert report["kafka"]["status"] == "DOWN" and report["status"] == "DOWN"
    assert group["history"] == [[0, 10], [10, 20]]
    assert group["partitions"][0]["lag_seconds"] == 1.0
