"""How every Kafka client of the project authenticates and encrypts: one model, read once.

The same seven variables configure every client (docs/configuration.md, "Kafka security"):

* ``KAFKA_SECURITY_PROTOCOL``: ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL``;
* ``KAFKA_SASL_MECHANISM`` (``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``),
  ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``: required with a ``SASL_*`` protocol;
* ``KAFKA_SSL_CA_FILE``: the CA bundle that signed the brokers' certificates (default: the
  system's trust store, as managed services with public certificates need);
* ``KAFKA_SSL_CERT_FILE`` and ``KAFKA_SSL_KEY_FILE``: a client certificate and its key (PEM),
  for brokers that ask for one (mutual TLS).

The model is translated once per client family here: librdkafka (confluent-kafka), and
kafka-python with aiokafka (the same keyword names); faust's own setting is built from the same
SSL context in the orchestrator. Nothing here imports a Kafka client.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, model_validator


class SecurityProtocol(StrEnum):
    """Kafka's ``security.protocol``."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    """The SASL mechanisms every client family here supports."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


_TLS = frozenset({SecurityProtocol.SSL, SecurityProtocol.SASL_SSL})
_SASL = frozenset({SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL})


class KafkaSecurity(BaseModel):
    """The security settings of every Kafka client (frozen). Built by field name in code, or
    from the environment by :func:`kafka_security_from_environment` (problems name the
    variable)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    protocol: SecurityProtocol = Field(
        default=SecurityProtocol.PLAINTEXT,
        validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        validation_alias="KAFKA_SASL_MECHANISM",
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with a SASL_* protocol",
    )
    sasl_username: str | None = Field(
        default=None,
        validation_alias="KAFKA_SASL_USERNAME",
        description="the service's Kafka user; required with SASL_*",
    )
    sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias="KAFKA_SASL_PASSWORD",
        description="its password (never logged); required with SASL_*",
    )
    ssl_ca_file: FilePath | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CA_FILE",
        description="PEM bundle of the CA that signed the brokers' certificates "
        "(default: the system's trust store)",
    )
    ssl_cert_file: FilePath | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CERT_FILE",
        description="PEM client certificate, for brokers that require one (mutual TLS)",
    )
    ssl_key_file: FilePath | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_KEY_FILE",
        description="PEM private key of that certificate (unencrypted)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl = (self.sasl_mechanism, self.sasl_username, self.sasl_password)
        if self.protocol in _SASL and None in sasl:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.protocol.value} needs KAFKA_SASL_MECHANISM, "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        if self.protocol not in _SASL and any(value is not None for value in sasl):
            raise ValueError(
                f"KAFKA_SASL_* are set but KAFKA_SECURITY_PROTOCOL={self.protocol.value} "
                "uses no SASL (SASL_PLAINTEXT or SASL_SSL)"
            )
        files = (self.ssl_ca_file, self.ssl_cert_file, self.ssl_key_file)
        if self.protocol not in _TLS and any(path is not None for path in files):
            raise ValueError(
                f"KAFKA_SSL_* are set but KAFKA_SECURITY_PROTOCOL={self.protocol.value} "
                "uses no TLS (SSL or SASL_SSL)"
            )
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together")
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether the connection is encrypted (and the brokers' certificates checked)."""
        return self.protocol in _TLS

    @property
    def uses_sasl(self) -> bool:
        """Whether the client authenticates with SASL."""
        return self.protocol in _SASL

    def describe(self) -> dict[str, str]:
        """What a log line may say about the settings (never the password)."""
        described = {"protocol": self.protocol.value}
        if self.uses_sasl:
            described["sasl_mechanism"] = str(self.sasl_mechanism)
            described["sasl_username"] = str(self.sasl_username)
        if self.ssl_cert_file is not None:
            described["client_certificate"] = str(self.ssl_cert_file)
        return described

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the Python clients (kafka-python, aiokafka, faust); None without
        TLS. It verifies the brokers' certificates and host names."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_ca_file) if self.ssl_ca_file else None
        )
        if self.ssl_cert_file is not None and self.ssl_key_file is not None:
            context.load_cert_chain(str(self.ssl_cert_file), str(self.ssl_key_file))
        return context

    def _password(self) -> str | None:
        return self.sasl_password.get_secret_value() if self.sasl_password else None

    def librdkafka_config(self) -> dict[str, Any]:
        """confluent-kafka (librdkafka) properties."""
        config: dict[str, Any] = {"security.protocol": self.protocol.value}
        if self.uses_sasl:
            config["sasl.mechanism"] = str(self.sasl_mechanism)
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self._password()
        if self.ssl_ca_file is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_file)
        if self.ssl_cert_file is not None and self.ssl_key_file is not None:
            config["ssl.certificate.location"] = str(self.ssl_cert_file)
            config["ssl.key.location"] = str(self.ssl_key_file)
        return config

    def python_client_config(self) -> dict[str, Any]:
        """Keyword arguments of kafka-python's and aiokafka's clients (they share the names)."""
        config: dict[str, Any] = {"security_protocol": self.protocol.value}
        if self.uses_sasl:
            config["sasl_mechanism"] = str(self.sasl_mechanism)
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self._password()
        context = self.ssl_context()
        if context is not None:
            config["ssl_context"] = context
        return config


VARIABLES = tuple(str(field.validation_alias) for field in KafkaSecurity.model_fields.values())


def kafka_security_from_environment(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The settings of this process (raises pydantic's ValidationError naming the variable).

    Only the seven ``KAFKA_*`` variables are read: not, say, ``SSL_CERT_FILE``, which
    OpenSSL's tools use for something else.
    """
    source = os.environ if environ is None else environ
    return KafkaSecurity.model_validate(
        {name: source[name] for name in VARIABLES if source.get(name)}
    )
