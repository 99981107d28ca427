"""The orchestrator's Kafka clients under the shared security settings (KAFKA_SECURITY_*).

faust takes them as ``broker_credentials``; aiokafka's clients (the admin client that prepares
the cluster, the subject-key reader) take :meth:`KafkaSecurity.python_client_config`. A broker
that refuses the credentials or the certificate is told apart from one that is unreachable,
so the worker can stop with one line saying which.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from typing import Any

from aiokafka.errors import SaslAuthenticationFailed

from service_kit.kafka_security import KafkaSecurity


def faust_broker_credentials(security: KafkaSecurity) -> Any:
    """faust's ``broker_credentials`` for the settings (None for PLAINTEXT)."""
    import faust  # here: `orchestrator check` and `replay` start without faust

    context = security.ssl_context()
    if security.uses_sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value() if security.sasl_password else None,
            mechanism=str(security.sasl_mechanism),
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class _ConnectionFailures(logging.Handler):
    """The exceptions aiokafka logs when a connection fails (its own error says only
    'Unable to bootstrap')."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.extend(a for a in record.args or () if isinstance(a, BaseException))


@contextlib.contextmanager
def watching_refusals() -> Iterator[_ConnectionFailures]:
    """Collect aiokafka's connection failures (and keep them off the log) for the block."""
    failures = _ConnectionFailures()
    watched = logging.getLogger("aiokafka")
    watched.addHandler(failures)
    propagate, watched.propagate = watched.propagate, False
    try:
        yield failures
    finally:
        watched.removeHandler(failures)
        watched.propagate = propagate


def refusal(errors: list[BaseException]) -> str | None:
    """Why the broker refused us, if one of ``errors`` says it did."""
    for error in errors:
        if isinstance(error, SaslAuthenticationFailed):
            return f"authentication failed: {error}"
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"the broker's certificate is not trusted: {error.verify_message}"
    return None
