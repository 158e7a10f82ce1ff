"""Settings every service reads once, at start, from the environment."""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
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
    # How a service proves who it is to Kafka. A secured cluster (`make up SECURE=1`, Strimzi)
    # takes SASL_SSL with the service's own SCRAM user (services/bus/access.py says what each
    # may do) and the cluster's CA.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    # or the file holding it (kept off command lines, where `ps` shows it to every user)
    kafka_sasl_password_file: str | None = Field(None,
                                                 validation_alias="KAFKA_SASL_PASSWORD_FILE")
    kafka_ssl_cafile: str | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")

    def kafka_options(self) -> dict[str, Any]:
        """What every Kafka client of ours is built with (aiokafka's keyword arguments)."""
        options: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap_servers,
                                   "security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            options.update(sasl_mechanism=self.kafka_sasl_mechanism,
                           sasl_plain_username=self.kafka_sasl_username,
                           sasl_plain_password=self.sasl_password())
        if self.kafka_security_protocol.endswith("SSL"):
            options["ssl_context"] = tls_context(self.kafka_ssl_cafile)
        return options

    def librdkafka_config(self) -> dict[str, str]:
        """The same connection for librdkafka (confluent-kafka's admin client)."""
        config = {"bootstrap.servers": self.kafka_bootstrap_servers,
                  "security.protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            config.update({"sasl.mechanism": self.kafka_sasl_mechanism,
                           "sasl.username": self.kafka_sasl_username or "",
                           "sasl.password": self.sasl_password() or ""})
        if self.kafka_security_protocol.endswith("SSL") and self.kafka_ssl_cafile:
            config["ssl.ca.location"] = self.kafka_ssl_cafile
        return config


    def sasl_password(self) -> str | None:
        """KAFKA_SASL_PASSWORD, else the content of KAFKA_SASL_PASSWORD_FILE."""
        if self.kafka_sasl_password is not None:
            return self.kafka_sasl_password.get_secret_value()
        if not self.kafka_sasl_password_file:
            return None
        return Path(self.kafka_sasl_password_file).read_text().strip()


class ShellSettings(BaseSettings):
    """What a person's shell tells the CLI and the demo (not the services): the language people
    read, how talkative the terminal is, where the local stack keeps its state and the demo its
    tokens (a stack of a test's own keeps its own)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="VIVRES_")

    lang: str = "fr"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    state_dir: Path = Path(".vivres/stack")
    demo_tokens: Path = Path(".vivres/demo-tokens.json")


@cache
def tls_context(cafile: str | None) -> ssl.SSLContext:
    """Verifies the brokers' certificates against `cafile` (else the system's CAs)."""
    return ssl.create_default_context(cafile=cafile)
