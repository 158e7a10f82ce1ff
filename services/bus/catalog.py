"""Every topic of the bus in one place: name, partitions, key, schema, retention, dead letters.

Services declare which of these they read and write; provisioning creates them; the registry
subject of a topic's values is `<topic>-value` (TopicNameStrategy). Keys are UTF-8 strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.events import EVENT_TYPES, Event

DAY_MS = 24 * 3600 * 1000
FOREVER = -1


@dataclass(frozen=True)
class Topic:
    """One topic: its shape on the broker and the contract of its records."""

    name: str
    event: type[Event]
    key: str  # the event attribute that is the UTF-8 key: records with one key keep their order
    partitions: int = 6
    cleanup: Literal["delete", "compact"] = "delete"
    retention_ms: int = FOREVER
    doc: str = ""
    dead_letter_partitions: int = 1
    dead_letter_retention_ms: int = 30 * DAY_MS
    extra_config: dict[str, str] = field(default_factory=dict)
    # On a cluster: every record on 3 brokers, acknowledged (acks=all) once 2 have it, so one
    # broker can be lost without losing or refusing a write. A smaller cluster (the one-broker
    # dev stack) gets as many replicas as it has brokers (`replication()`).
    replication_factor: int = 3
    min_insync_replicas: int = 2

    def key_of(self, event: Event) -> str:
        return str(getattr(event, self.key))

    @property
    def subject(self) -> str:
        return f"{self.name}-value"

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlq"

    @property
    def schema_name(self) -> str:
        return self.event.schema_name

    def replication(self, brokers: int) -> tuple[int, int]:
        """(replication factor, min.insync.replicas) on a cluster of `brokers` brokers."""
        factor = max(1, min(self.replication_factor, brokers))
        return factor, max(1, min(self.min_insync_replicas, factor))

    def config(self, brokers: int = 1) -> dict[str, str]:
        """The topic-level configuration provisioning sets and checks for drift."""
        return {
            "cleanup.policy": self.cleanup,
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(self.replication(brokers)[1]),
            **self.extra_config,
        }

    def dead_letter_config(self, brokers: int = 1) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.dead_letter_retention_ms),
                "min.insync.replicas": str(self.replication(brokers)[1])}


def _compacted(name: str, event: type[Event], key: str, doc: str) -> Topic:
    return Topic(name=name, event=event, key=key, partitions=3, cleanup="compact", doc=doc,
                 extra_config={"min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)})


SUBMITTED_RETENTION_MS = 14 * DAY_MS

SALES_SUBMITTED = Topic(
    name="sales.tickets.submitted",
    event=EVENT_TYPES["org.vivres.sales.SaleRecorded"],
    key="shop_id",
    retention_ms=SUBMITTED_RETENTION_MS,
    doc="Tickets as received (HTTP, CSV, tills producing directly), repeats included.",
)
REFUNDS_SUBMITTED = Topic(
    name="sales.refunds.submitted",
    event=EVENT_TYPES["org.vivres.sales.SaleRefunded"],
    key="shop_id",
    retention_ms=SUBMITTED_RETENTION_MS,
    doc="Refund tickets as received, repeats included.",
)
SALES = Topic(
    name="sales.tickets",
    event=EVENT_TYPES["org.vivres.sales.SaleRecorded"],
    key="shop_id",
    doc="Every till ticket once (de-duplicated by ticket_id). Kept forever: replaying it "
        "rebuilds every derived state.",
)
REFUNDS = Topic(
    name="sales.refunds",
    event=EVENT_TYPES["org.vivres.sales.SaleRefunded"],
    key="shop_id",
    doc="Every refund ticket once, each pointing at the ticket it corrects. Kept forever.",
)
PRODUCTS = _compacted("catalog.products", EVENT_TYPES["org.vivres.catalog.ProductDefined"],
                      "product_id", "The shared catalog of canonical products.")
MAPPINGS = _compacted("catalog.mappings", EVENT_TYPES["org.vivres.catalog.TillCodeMapped"],
                      "code_key", "Each shop's till codes mapped to canonical products.")
DFC_LINKS = _compacted("catalog.dfc-links", EVENT_TYPES["org.vivres.catalog.DfcProductLinked"],
                       "link_key", "Each producer's DFC product references (its own IRIs and "
                       "skus) linked to canonical products, for its catalog imports.")
UNMAPPED = _compacted("catalog.unmapped", EVENT_TYPES["org.vivres.catalog.TillCodeUnmapped"],
                      "code_key", "Till codes seen on tickets without a mapping.")
SHOPS = _compacted("catalog.shops", EVENT_TYPES["org.vivres.catalog.ShopRegistered"], "shop_id",
                   "The épiceries on the bus, with their territory and timezone.")
TERRITORIES = _compacted("directory.territories",
                         EVENT_TYPES["org.vivres.directory.TerritoryRegistered"], "territory_id",
                         "The directory's territories, with their timezone and caisse.")
PRODUCERS = _compacted("directory.producers",
                       EVENT_TYPES["org.vivres.directory.ProducerRegistered"], "producer_id",
                       "The directory's producers: farm name, commune, location, labels.")
HUBS = _compacted("directory.hubs", EVENT_TYPES["org.vivres.directory.HubRegistered"], "hub_id",
                  "The directory's logistics hubs: location and delivery weekdays.")
TOKENS = _compacted("auth.tokens", EVENT_TYPES["org.vivres.auth.TokenIssued"], "token_sha256",
                    "API tokens, as SHA-256 digests, with their role and subject.")

STOCK_COUNTS = Topic(name="stock.counts", event=EVENT_TYPES["org.vivres.stock.StockCounted"],
                     key="shop_id", doc="Shelf counts by épicerie staff.")
STOCK_WASTE = Topic(name="stock.waste", event=EVENT_TYPES["org.vivres.stock.WasteRecorded"],
                    key="shop_id", doc="Stock thrown or given away.")
STOCK_DELIVERIES = Topic(name="stock.deliveries",
                         event=EVENT_TYPES["org.vivres.stock.DeliveryReceived"], key="shop_id",
                         doc="Deliveries received at the shops.")
REORDER_POINTS = Topic(name="stock.reorder-points",
                       event=EVENT_TYPES["org.vivres.stock.ReorderPointSet"], key="shop_id",
                       doc="Each shop's reorder points.")
# The stock service writes these from partition p of its inputs to partition p (keyed by shop):
# the levels of a partition's shops are that partition's state.
STOCK_LEVELS = Topic(name="stock.levels", event=EVENT_TYPES["org.vivres.stock.StockLevelRecorded"],
                     key="level_key", cleanup="compact",
                     extra_config={"min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)},
                     doc="Stock on hand per shop and product (compacted), with the input "
                         "positions applied.")
STOCK_CHANGES = Topic(name="stock.changes", event=EVENT_TYPES["org.vivres.stock.StockChanged"],
                      key="shop_id", doc="Every movement of stock, applied.")
STOCK_ALERTS = Topic(name="stock.alerts", event=EVENT_TYPES["org.vivres.stock.StockAlerted"],
                     key="shop_id", doc="Low stock, stock-outs, negative stock, recoveries.")

OFFERS = _compacted("supply.offers", EVENT_TYPES["org.vivres.supply.OfferDeclared"],
                    "offer_id", "Producers' offers (compacted: the newest per offer is the offer).")

NEEDS = Topic(name="orders.needs", event=EVENT_TYPES["org.vivres.orders.NeedStated"],
              key="territory", doc="Shops' needs per product and delivery slot.")
ORDER_COMMANDS = Topic(name="orders.commands",
                       event=EVENT_TYPES["org.vivres.orders.OrderCommanded"], key="territory",
                       doc="Requests to the orders service: consolidate, confirm, refuse, ...")
# Written from partition p of the territory-keyed inputs to partition p.
ORDERS = Topic(name="orders.orders", event=EVENT_TYPES["org.vivres.orders.OrderRecorded"],
               key="order_id", cleanup="compact",
               extra_config={"min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)},
               doc="Pooled orders as they stand (compacted), with the grid's explanation.")

# The caisse ledger's single writer per card: partition p of the requests is handled in
# transactions of p's own producer, which write partition p of the ledger and of the answers.
CAISSE_PARTITIONS = 6
CAISSE_REQUESTS = Topic(name="caisse.requests",
                        event=EVENT_TYPES["org.vivres.caisse.CaisseRequested"],
                        key="routing_key", partitions=CAISSE_PARTITIONS,
                        doc="Requests to the caisse, by card: redemptions, refunds, household "
                            "changes; a month's credit goes to every partition.")
CAISSE_LEDGER = Topic(name="caisse.ledger",
                      event=EVENT_TYPES["org.vivres.caisse.LedgerEntryRecorded"], key="card_id",
                      partitions=CAISSE_PARTITIONS,
                      doc="Every entry of every card's account, in order; balances are its fold. "
                          "Kept forever: it is the caisse's books.")
CAISSE_ANSWERS = Topic(name="caisse.answers",
                       event=EVENT_TYPES["org.vivres.caisse.RequestAnswered"],
                       key="routing_key", partitions=CAISSE_PARTITIONS, retention_ms=7 * DAY_MS,
                       doc="The answer to each request (the ledger remembers them; these are "
                           "for whoever is waiting).")
CAISSE_DECISIONS = Topic(name="caisse.decisions",
                         event=EVENT_TYPES["org.vivres.caisse.DecisionRecorded"],
                         key="decision_id", partitions=1,
                         doc="The committees' decisions, in the order they were recorded.")
CAISSE_CONTRIBUTIONS = Topic(name="caisse.contributions",
                             event=EVENT_TYPES["org.vivres.caisse.ContributionRecorded"],
                             key="card_id", partitions=3,
                             doc="Households' monthly contributions (sliding scale).")
CAISSE_SETTLEMENTS = _compacted("caisse.settlements",
                                EVENT_TYPES["org.vivres.caisse.SettlementRecorded"],
                                "settlement_key",
                                "Monthly settlement per caisse and shop (the newest counts).")

# Written by the demand processor (faust); producers read the territory's, never a shop's.
DEMAND_SIGNALS = _compacted("demand.signals",
                            EVENT_TYPES["org.vivres.demand.DemandSignalRecorded"], "signal_key",
                            "Live demand per territory and product: what producers see.")
SHOP_SIGNALS = _compacted("demand.shop-signals",
                          EVENT_TYPES["org.vivres.demand.DemandSignalRecorded"], "signal_key",
                          "Live demand per shop and product, for the shop and the hub.")
SUBSCRIPTIONS = _compacted("demand.subscriptions",
                           EVENT_TYPES["org.vivres.demand.SubscriptionRecorded"],
                           "subscription_id", "Producers' webhook subscriptions to signals.")

# Planning a season (services.planning): written by the gateway (needs, plans, imports) and by
# the planning service (history, coverage); the coverage names shops and producers, and the
# gateway shows each viewer only the totals and their own.
PLANNING_NEEDS = _compacted("planning.needs", EVENT_TYPES["org.vivres.planning.ForwardNeedStated"],
                            "need_key", "Shops' forward needs per week of a coming season.")
PLANNING_PLANS = _compacted("planning.plans", EVENT_TYPES["org.vivres.planning.CropPlanned"],
                            "plan_key", "Producers' crop plans per territory, product and week.")
PLANNING_IMPORTS = _compacted("planning.history-imports",
                              EVENT_TYPES["org.vivres.planning.HistoryWeekImported"],
                              "history_key", "Weekly sales from before Vivres, imported.")
PLANNING_HISTORY = _compacted("planning.history",
                              EVENT_TYPES["org.vivres.planning.SalesHistoryRecorded"], "pair_key",
                              "Every complete week's sales per territory and product.")
PLANNING_COVERAGE = _compacted("planning.coverage",
                               EVENT_TYPES["org.vivres.planning.CoverageRecorded"], "pair_key",
                               "Per territory and product, 26 weeks of outlook, needs, plans, gap.")

TOPICS: tuple[Topic, ...] = (
    SALES_SUBMITTED, REFUNDS_SUBMITTED, SALES, REFUNDS, PRODUCTS, MAPPINGS, UNMAPPED, SHOPS, TOKENS,
    TERRITORIES, PRODUCERS, HUBS, DFC_LINKS,
    STOCK_COUNTS, STOCK_WASTE, STOCK_DELIVERIES, REORDER_POINTS, STOCK_LEVELS, STOCK_CHANGES,
    STOCK_ALERTS, OFFERS, NEEDS, ORDER_COMMANDS, ORDERS, CAISSE_REQUESTS, CAISSE_LEDGER,
    CAISSE_ANSWERS, CAISSE_DECISIONS, CAISSE_CONTRIBUTIONS, CAISSE_SETTLEMENTS, DEMAND_SIGNALS,
    SHOP_SIGNALS, SUBSCRIPTIONS, PLANNING_NEEDS, PLANNING_PLANS, PLANNING_IMPORTS,
    PLANNING_HISTORY, PLANNING_COVERAGE,
)


def by_name(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"no topic named {name!r} in the catalog")
