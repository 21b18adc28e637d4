"""mTLS in front of a Temporal dev server, which speaks only plaintext: a throwaway CA, a
server and client certificate, and a proxy that terminates TLS (requiring a client
certificate from that CA) and passes the bytes on to the server's port."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.net import free_port

SERVER_NAME = "temporal.bootflow.test"


@dataclass(frozen=True)
class Pki:
    """PEM files: ``ca`` signs ``server`` (for SERVER_NAME) and ``client``; ``rogue_*`` is a
    client certificate from another CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
    dns: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=usage is None, path_length=None), critical=True)
    )
    if usage is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns:
        names = [x509.DNSName(dns)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)

    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
        (directory / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path = directory / f"{name}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key, rogue_ca_key = _key(), _key()
    ca = _certificate("bootflow test CA", ca_key)
    rogue_ca = _certificate("another CA", rogue_ca_key)
    server_key, client_key, rogue_key = _key(), _key(), _key()
    server = _certificate(
        "temporal", server_key, (ca, ca_key), ExtendedKeyUsageOID.SERVER_AUTH, SERVER_NAME
    )
    client = _certificate(
        "bootflow worker", client_key, (ca, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    rogue = _certificate(
        "intruder", rogue_key, (rogue_ca, rogue_ca_key), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    write("ca", ca, ca_key)
    write("server", server, server_key)
    write("client", client, client_key)
    write("rogue", rogue, rogue_key)
    d = directory
    return Pki(
        d / "ca.pem",
        d / "server.pem",
        d / "server.key",
        d / "client.pem",
        d / "client.key",
        d / "rogue.pem",
        d / "rogue.key",
    )


class MtlsProxy:
    """Listens on 127.0.0.1:``port`` with TLS, requires a client certificate signed by the
    PKI's CA, and forwards each connection to 127.0.0.1:``upstream``."""

    def __init__(self, pki: Pki, upstream: int) -> None:
        self.pki = pki
        self.upstream = upstream
        self.port = free_port()
        self.accepted = 0  # connections whose client certificate the proxy accepted
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mtls-proxy", daemon=True)

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.load_verify_locations(self.pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])  # gRPC
        return context

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, ssl=self._context()
            )
            self._server = server
            self._ready.set()

        self._loop.run_until_complete(serve())
        # A handshake that fails (no or a foreign client certificate) is logged by asyncio
        # as an unhandled error; it is the expected outcome here.
        self._loop.set_exception_handler(lambda _loop, _ctx: None)
        self._loop.run_forever()

    def start(self) -> MtlsProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the mTLS proxy did not start")
        return self

    def stop(self) -> None:
        def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def mtls_proxy(pki: Pki, upstream: int) -> Iterator[MtlsProxy]:
    proxy = MtlsProxy(pki, upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def client_env(pki: Pki, address: str) -> dict[str, str]:
    """What a process needs to reach the cluster through the proxy, as the Temporal CLI's
    variables: the address, the CA, the name in the server's certificate, the client pair."""
    return {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key),
    }
