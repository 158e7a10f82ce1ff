"""Settings every service reads once, at start, from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """Where Kafka and the registry are, and how a service logs and exposes metrics."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    schema_registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7", validation_alias="SCHEMA_REGISTRY_URL"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="VIVRES_LOG_LEVEL"
    )
    log_format: Literal["json", "console"] = Field("json", validation_alias="VIVRES_LOG_FORMAT")
    metrics_host: str = Field("127.0.0.1", validation_alias="VIVRES_METRICS_HOST")
    metrics_port: int = Field(0, ge=0, le=65535, validation_alias="VIVRES_METRICS_PORT")
    # How long the group waits for a silent member before moving its partitions: a SIGKILLed
    # consumer's partitions stay idle this long. Kafka's floor is 6 s.
    session_timeout_ms: int = Field(10_000, ge=6_000, validation_alias="VIVRES_SESSION_TIMEOUT_MS")
