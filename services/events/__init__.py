"""Every event on the bus as an immutable pydantic model, one per .avsc schema.

EVENT_TYPES maps each Avro full name to its model; tests check each model against its schema.
"""

from services.events.auth import TokenIssued
from services.events.base import Event
from services.events.caisse import (
    CaisseRequested,
    ContributionRecorded,
    DecisionRecorded,
    LedgerEntryRecorded,
    RequestAnswered,
    SettlementRecorded,
)
from services.events.catalog import (
    DfcProductLinked,
    ProductDefined,
    ShopRegistered,
    TillCodeMapped,
    TillCodeUnmapped,
)
from services.events.directory import HubRegistered, ProducerRegistered, TerritoryRegistered
from services.events.demand import DemandSignalRecorded, SubscriptionRecorded
from services.events.sales import SaleRecorded, SaleRefunded
from services.events.orders import NeedStated, OrderCommanded, OrderRecorded
from services.events.planning import (
    CoverageRecorded,
    CropPlanned,
    ForwardNeedStated,
    HistoryWeekImported,
    SalesHistoryRecorded,
)
from services.events.supply import OfferDeclared
from services.events.stock import (
    DeliveryReceived,
    ReorderPointSet,
    StockAlerted,
    StockChanged,
    StockCounted,
    StockLevelRecorded,
    WasteRecorded,
)

EVENT_TYPES: dict[str, type[Event]] = {
    model.schema_name: model
    for model in (SaleRecorded, SaleRefunded, ProductDefined, TillCodeMapped, TillCodeUnmapped,
                  TokenIssued, StockCounted, WasteRecorded, DeliveryReceived, ReorderPointSet,
                  StockLevelRecorded, StockChanged, StockAlerted, OfferDeclared, NeedStated,
                  OrderCommanded, OrderRecorded, CaisseRequested, LedgerEntryRecorded,
                  RequestAnswered, DecisionRecorded, ContributionRecorded, SettlementRecorded,
                  ShopRegistered, DemandSignalRecorded, SubscriptionRecorded, TerritoryRegistered,
                  ProducerRegistered, HubRegistered, ForwardNeedStated, CropPlanned,
                  HistoryWeekImported, SalesHistoryRecorded, CoverageRecorded, DfcProductLinked)
}

__all__ = ["EVENT_TYPES", "Event"]
