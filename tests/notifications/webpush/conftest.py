"""Fixtures shared by the Web Push transport tests: a VAPID signer, a sender, scripted servers."""

import datetime
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from backend.notifications.webpush.transport import PushSender
from backend.notifications.webpush.vapid import VapidSigner, generate_vapid_keypair
from tests.support.scripted_server import Reply, ScriptedServer


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    """Start a scripted server: `serve(*replies, tls=..., tunnel=...)`; closed after the test."""
    servers: list[ScriptedServer] = []

    def start(*replies: Reply | bytes, **options: Any) -> ScriptedServer:
        script = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        servers.append(ScriptedServer(script, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def signer() -> VapidSigner:
    private_key, _ = generate_vapid_keypair()
    return VapidSigner(private_key, "mailto:ops@example.org")


@pytest.fixture
def sender(signer) -> Iterator[PushSender]:
    """A sender whose streams default to 4 connections per origin (`send` ignores pool_size)."""
    with PushSender(signer=signer, pool_size=4) as sender:
        yield sender


@pytest.fixture
def tls_server_context(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A TLS context for "localhost" whose certificate the sender trusts (in place of certifi)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setattr(certifi, "where", lambda: str(cert_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
