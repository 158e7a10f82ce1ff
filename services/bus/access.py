"""Who may do what on Kafka: one principal per service, with least privilege, from the catalog.

Each service declares the topics it reads, the topics it writes, its consumer group and its
transactional ids; the ACLs follow from that and nothing else (`acls()`), so they are generated
for the local secured stack (`vivres security apply`) and for Kubernetes (Strimzi KafkaUser)
from this one table. A consumer that dead-letters also writes `<topic>.dlq` of what it consumes.

Not a principal here: the cluster's administrator (provisioning, `vivres demo`, the simulator,
dead-letter replays), which is a super user of the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.bus import catalog as c

ANY = "*"  # Kafka's wildcard resource name (a LITERAL "*" matches every name)
ANY_TOPIC = ANY


class Operation(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    CLUSTER = "CLUSTER"


class Pattern(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


@dataclass(frozen=True, order=True)
class Acl:
    """ALLOW `operation` on `resource` `name` (a literal name or a prefix), from any host."""

    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


@dataclass(frozen=True)
class Principal:
    """A service's Kafka user and what it needs."""

    user: str
    doc: str
    reads: tuple[str, ...] = ()  # topic names (ANY_TOPIC: every topic)
    writes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()  # read in a consumer group: their dead letters are written
    groups: tuple[str, ...] = ()  # consumer group ids
    transactional_id_prefixes: tuple[str, ...] = ()
    topic_prefixes: tuple[str, ...] = ()  # topics it creates and owns (faust's changelogs)
    describes_cluster: bool = False  # the health service: brokers, quorum, every group
    describes_groups: tuple[str, ...] = field(default=())  # groups it may describe (ANY: all)
    describes_topics: bool = False  # every topic's metadata and offsets, not its records

    def acls(self) -> list[Acl]:
        found: set[Acl] = set()

        def topic(name: str, *operations: Operation) -> None:
            for operation in operations:
                found.add(Acl(Resource.TOPIC, name, Pattern.LITERAL, operation))

        for name in (*self.reads, *self.consumes):
            topic(name, Operation.READ, Operation.DESCRIBE)
        for name in self.writes:
            topic(name, Operation.WRITE, Operation.DESCRIBE)
        for name in self.consumes:
            topic(c.by_name(name).dead_letter, Operation.WRITE, Operation.DESCRIBE)
        for prefix in self.topic_prefixes:
            for operation in (Operation.CREATE, Operation.READ, Operation.WRITE,
                              Operation.DESCRIBE):
                found.add(Acl(Resource.TOPIC, prefix, Pattern.PREFIXED, operation))
        for group in self.groups:
            found.add(Acl(Resource.GROUP, group, Pattern.LITERAL, Operation.READ))
        for group in self.describes_groups:
            found.add(Acl(Resource.GROUP, group, Pattern.LITERAL, Operation.DESCRIBE))
        for prefix in self.transactional_id_prefixes:
            for operation in (Operation.WRITE, Operation.DESCRIBE):
                found.add(Acl(Resource.TRANSACTIONAL_ID, prefix, Pattern.PREFIXED, operation))
        if self.writes or self.consumes or self.topic_prefixes:
            found.add(Acl(Resource.CLUSTER, "kafka-cluster", Pattern.LITERAL,
                          Operation.IDEMPOTENT_WRITE))  # every producer is idempotent
        if self.describes_topics:
            topic(ANY, Operation.DESCRIBE)
        if self.describes_cluster:
            found.add(Acl(Resource.CLUSTER, "kafka-cluster", Pattern.LITERAL,
                          Operation.DESCRIBE))
        return sorted(found)


def _names(*topics: c.Topic) -> tuple[str, ...]:
    return tuple(t.name for t in topics)


CAISSE_GROUP = "vivres-caisse"

_SERVICES: tuple[Principal, ...] = (
    Principal(
        user="vivres-gateway",
        doc="The public HTTP API: what tills, shops, producers, the hub and committees send, "
            "and the reference tables it answers from.",
        reads=_names(c.TOKENS, c.PRODUCTS, c.MAPPINGS, c.UNMAPPED, c.STOCK_LEVELS, c.OFFERS,
                     c.ORDERS, c.NEEDS, c.CAISSE_DECISIONS, c.DEMAND_SIGNALS, c.SUBSCRIPTIONS,
                     c.CAISSE_ANSWERS, c.CAISSE_LEDGER, c.CAISSE_CONTRIBUTIONS,
                     c.CAISSE_SETTLEMENTS, c.SALES, c.SHOPS, c.TERRITORIES, c.PRODUCERS,
                     c.HUBS, c.PLANNING_NEEDS, c.PLANNING_PLANS, c.PLANNING_COVERAGE,
                     c.DFC_LINKS),
        writes=_names(c.SALES_SUBMITTED, c.REFUNDS_SUBMITTED, c.PRODUCTS, c.MAPPINGS, c.OFFERS,
                      c.SHOPS, c.TERRITORIES, c.PRODUCERS, c.HUBS,
                      c.NEEDS, c.ORDER_COMMANDS, c.STOCK_COUNTS, c.STOCK_WASTE,
                      c.STOCK_DELIVERIES, c.REORDER_POINTS, c.CAISSE_REQUESTS, c.CAISSE_DECISIONS,
                      c.CAISSE_CONTRIBUTIONS, c.CAISSE_SETTLEMENTS, c.SUBSCRIPTIONS,
                      c.PLANNING_NEEDS, c.PLANNING_PLANS, c.PLANNING_IMPORTS, c.DFC_LINKS)),
    Principal(
        user="vivres-ingest",
        doc="Tickets and refunds once per id: from the submitted topics to the kept ones.",
        consumes=_names(c.SALES_SUBMITTED, c.REFUNDS_SUBMITTED),
        reads=_names(c.MAPPINGS, c.UNMAPPED, c.SALES, c.REFUNDS),
        writes=_names(c.SALES, c.REFUNDS, c.UNMAPPED),
        groups=("vivres-sales-ingest",)),
    Principal(
        user="vivres-stock",
        doc="Stock on hand per shop and product, its movements and alerts.",
        consumes=_names(c.SALES, c.REFUNDS, c.STOCK_COUNTS, c.STOCK_WASTE, c.STOCK_DELIVERIES,
                        c.REORDER_POINTS),
        reads=_names(c.MAPPINGS, c.PRODUCTS, c.STOCK_LEVELS),
        writes=_names(c.STOCK_LEVELS, c.STOCK_CHANGES, c.STOCK_ALERTS),
        groups=("vivres-stock",)),
    Principal(
        user="vivres-orders",
        doc="Pooled orders: needs and commands to orders, deliveries to the shops.",
        consumes=_names(c.NEEDS, c.ORDER_COMMANDS),
        reads=_names(c.OFFERS, c.ORDERS),
        writes=_names(c.ORDERS, c.STOCK_DELIVERIES),
        groups=("vivres-orders",)),
    Principal(
        user="vivres-caisse",
        doc="The caisse's single writer per card, in one transaction per input partition.",
        consumes=_names(c.CAISSE_REQUESTS),
        reads=_names(c.CAISSE_DECISIONS, c.CAISSE_LEDGER),
        writes=_names(c.CAISSE_LEDGER, c.CAISSE_ANSWERS),
        groups=(CAISSE_GROUP,),
        transactional_id_prefixes=(f"{CAISSE_GROUP}-{c.CAISSE_REQUESTS.name}-",)),
    Principal(
        user="vivres-demand",
        doc="The demand processor (faust): its group, table changelog and signals.",
        consumes=_names(c.SALES, c.REFUNDS, c.STOCK_ALERTS),
        reads=_names(c.MAPPINGS, c.SHOPS, c.OFFERS, c.ORDERS, c.STOCK_LEVELS),
        writes=_names(c.DEMAND_SIGNALS, c.SHOP_SIGNALS),
        groups=("vivres-demand-2",),
        topic_prefixes=("vivres-demand-2-",)),  # its changelog and faust's leader topic
    Principal(
        user="vivres-planning",
        doc="The season's planning: the weekly sales history and each pair's coverage.",
        reads=_names(c.DEMAND_SIGNALS, c.PLANNING_IMPORTS, c.PLANNING_NEEDS, c.PLANNING_PLANS,
                     c.PLANNING_HISTORY, c.PLANNING_COVERAGE, c.SHOPS),
        writes=_names(c.PLANNING_HISTORY, c.PLANNING_COVERAGE)),
    Principal(
        user="vivres-webhooks",
        doc="Delivers demand signals and season coverages to producers' webhooks.",
        consumes=_names(c.DEMAND_SIGNALS, c.PLANNING_COVERAGE),
        reads=_names(c.SUBSCRIPTIONS, c.PRODUCTS),
        groups=("vivres-webhooks",)),
)


def _health(services: tuple[Principal, ...]) -> Principal:
    """Reads only what it looks into: the oldest waiting record of what the services consume,
    the dead letters, the operators' tokens; every other topic only described."""
    consumed = sorted({name for p in services for name in p.consumes})
    return Principal(
        user="vivres-health",
        doc="Stream health: every topic's offsets and every group's, the brokers and the "
            "quorum; reads the records waiting for a group, dead letters and tokens; writes "
            "nothing.",
        reads=(*consumed, *(c.by_name(name).dead_letter for name in consumed), c.TOKENS.name),
        describes_topics=True, describes_groups=(ANY,), describes_cluster=True)


PRINCIPALS: tuple[Principal, ...] = (*_SERVICES, _health(_SERVICES))

def by_user(user: str) -> Principal:
    for principal in PRINCIPALS:
        if principal.user == user:
            return principal
    raise KeyError(f"no principal {user!r}")
