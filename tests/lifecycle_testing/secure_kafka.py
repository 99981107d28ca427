"""A broker as a managed Kafka is: SASL_SSL and mutual-TLS listeners, SCRAM users, ACLs.

Started through deploy/local/kafka (``--overlay`` for the listeners, ``--add-scram`` for the
users, made when the storage is formatted) with certificates this module makes: a CA, the
broker's certificate for 127.0.0.1, a client certificate per service principal, and a second
CA nobody trusts. The StandardAuthorizer refuses what no ACL allows; the ACLs are the
registry's (:func:`lifecycle_schemas.access.kafka_acls`), created by the ``admin`` super user.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lifecycle_admin.kafka_admin import create_acls, create_topics
from lifecycle_schemas.access import DEFAULT_PRINCIPALS
from lifecycle_testing.paths import KAFKA_SCRIPT
from lifecycle_testing.processes import free_port
from service_kit.kafka_security import KafkaSecurity, SaslMechanism, SecurityProtocol

ADMIN = "admin"
MECHANISM = SaslMechanism.SCRAM_SHA_512


@dataclass(frozen=True)
class Certificates:
    directory: Path
    ca: Path
    untrusted_ca: Path

    def client(self, principal: str) -> tuple[Path, Path]:
        """The certificate and key of a principal's client certificate."""
        return self.directory / f"{principal}.crt", self.directory / f"{principal}.key"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def make_certificates(directory: Path, principals: list[str]) -> Certificates:
    """A CA, the broker's key and certificate (one PEM), client certificates, a rogue CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca = _certificate("lifecycle test CA", ca_key, None)
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    rogue_key = _key()
    rogue = _certificate("nobody's CA", rogue_key, None)
    (directory / "untrusted-ca.crt").write_bytes(rogue.public_bytes(pem))
    broker_key = _key()
    broker = _certificate("broker", broker_key, (ca, ca_key), server=True)
    _write_key(directory / "broker.pem", broker_key)
    with (directory / "broker.pem").open("ab") as keystore:
        keystore.write(broker.public_bytes(pem))
    for principal in principals:
        key = _key()
        _write_key(directory / f"{principal}.key", key)
        (directory / f"{principal}.crt").write_bytes(
            _certificate(principal, key, (ca, ca_key)).public_bytes(pem)
        )
    return Certificates(directory, directory / "ca.crt", directory / "untrusted-ca.crt")


class SecureBroker:
    """One broker with a SASL_SSL listener (``bootstrap_servers``) and an mTLS listener
    (``mtls_bootstrap_servers``); every principal's password is in ``passwords``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.principals = [ADMIN, *DEFAULT_PRINCIPALS.values()]
        self.passwords = {p: secrets.token_hex(12) for p in self.principals}
        self.certificates = make_certificates(directory / "tls", self.principals)
        self.port, self.mtls_port, self.controller_port = free_port(), free_port(), free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self.mtls_bootstrap_servers = f"127.0.0.1:{self.mtls_port}"

    def sasl(self, principal: str, password: str | None = None) -> KafkaSecurity:
        """SASL_SSL (SCRAM) settings of a principal, trusting the test CA."""
        return KafkaSecurity(
            protocol=SecurityProtocol.SASL_SSL,
            sasl_mechanism=MECHANISM,
            sasl_username=principal,
            sasl_password=password or self.passwords[principal],
            ssl_ca_file=self.certificates.ca,
        )

    def mtls(self, principal: str) -> KafkaSecurity:
        """SSL settings with the principal's client certificate (the mTLS listener)."""
        certificate, key = self.certificates.client(principal)
        return KafkaSecurity(
            protocol=SecurityProtocol.SSL,
            ssl_ca_file=self.certificates.ca,
            ssl_cert_file=certificate,
            ssl_key_file=key,
        )

    def environment(self, security: KafkaSecurity) -> dict[str, str]:
        """The KAFKA_* variables a process needs to use ``security``."""
        values = {
            "KAFKA_SECURITY_PROTOCOL": security.protocol.value,
            "KAFKA_SASL_MECHANISM": security.sasl_mechanism,
            "KAFKA_SASL_USERNAME": security.sasl_username,
            "KAFKA_SASL_PASSWORD": (
                security.sasl_password.get_secret_value() if security.sasl_password else None
            ),
            "KAFKA_SSL_CA_FILE": security.ssl_ca_file,
            "KAFKA_SSL_CERT_FILE": security.ssl_cert_file,
            "KAFKA_SSL_KEY_FILE": security.ssl_key_file,
        }
        return {name: str(value) for name, value in values.items() if value is not None}

    def _overlay(self) -> Path:
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required"
        tls = self.certificates.directory
        lines = [
            f"listeners=SASL_SSL://127.0.0.1:{self.port},SSL://127.0.0.1:{self.mtls_port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port},"
            f"SSL://127.0.0.1:{self.mtls_port}",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
            "inter.broker.listener.name=SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM.value}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM.value}",
            f"listener.name.sasl_ssl.{MECHANISM.value.lower()}.sasl.jaas.config={scram} "
            f'username="{ADMIN}" password="{self.passwords[ADMIN]}";',
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls / 'broker.pem'}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.certificates.ca}",
            "listener.name.ssl.ssl.client.auth=required",
            # A client certificate's CN is its principal, as a SCRAM user name is.
            "ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            # ANONYMOUS: the controller listener (loopback, no client listener is PLAINTEXT).
            f"super.users=User:{ADMIN};User:ANONYMOUS",
        ]
        path = self.directory / "secure.properties"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _script(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
            **self.environment(self.sasl(ADMIN)),
        }
        return subprocess.run(
            [str(KAFKA_SCRIPT), *arguments, "--dir", str(self.directory / "broker")],
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            timeout=180,
        )

    def start(self) -> None:
        """Format (with the SCRAM users), start, and wait for the SASL_SSL listener."""
        scram = [
            argument
            for principal, password in self.passwords.items()
            for argument in (
                "--add-scram",
                f"{MECHANISM.value}=[name={principal},password={password}]",
            )
        ]
        started = self._script(
            "start",
            "--port",
            str(self.port),
            "--controller-port",
            str(self.controller_port),
            "--overlay",
            str(self._overlay()),
            *scram,
        )
        if started.returncode != 0:
            raise RuntimeError(f"the secured broker did not start:\n{started.stderr}")

    def prepare(self, prefix: str) -> None:
        """Create the registry's topics and every service's ACLs under ``prefix``."""
        admin = self.sasl(ADMIN)
        create_topics(self.bootstrap_servers, prefix=prefix, security=admin)
        create_acls(self.bootstrap_servers, prefix=prefix, security=admin)

    def stop(self) -> None:
        """Stop the broker."""
        self._script("stop")


@contextmanager
def started_secure_broker(directory: Path) -> Iterator[SecureBroker]:
    """A secured broker for the block (one that does not start fails the test)."""
    broker = SecureBroker(directory)
    try:
        broker.start()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()
