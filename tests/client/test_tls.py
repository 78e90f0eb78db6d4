"""TLS on both transports against local fake servers with a throwaway CA (made with the openssl CLI):
the CA bundle and the client certificate reach httpx and grpc, and failures are not retried."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from client_fakes import FakeBackend, FakeInference, classification, make_http_server, proto_reply
from convlens_client import Client, ConvLensError, TLSConfig
from convlens_client._proto import inference_pb2_grpc
from convlens_client.transport.retry import RetryPolicy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(d: Path) -> None:
    """ca.pem; server.pem/key (localhost, 127.0.0.1) and client.pem/key signed by it. EC keys: fast."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca",
             cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "localhost"), ("client", "convlens-test-client")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


class TLSServers:
    def __init__(self, pki: Path, backend: FakeBackend) -> None:
        self.pki = pki
        self.backend = backend
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
        context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: a client certificate is required
        self.http = make_http_server(backend)
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        inference_pb2_grpc.add_InferenceAPIsServiceServicer_to_server(FakeInference(backend), self.grpc)
        credentials = grpc.ssl_server_credentials(
            [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
            root_certificates=(pki / "ca.pem").read_bytes(),
            require_client_auth=True,
        )
        self.grpc_port = self.grpc.add_secure_port("127.0.0.1:0", credentials)
        self.grpc.start()

    def client(self, transport: str, **kwargs) -> Client:
        return Client("localhost", token="t", transport=transport, http_port=self.http.server_address[1],
                      grpc_port=self.grpc_port, timeout=5, **kwargs)

    def stop(self) -> None:
        self.grpc.stop(None)
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Iterator[TLSServers]:
    pki = tmp_path_factory.mktemp("pki")
    make_pki(pki)
    backend = FakeBackend(reply=proto_reply(classification((285, "Egyptian cat", 0.75, 9.5))))
    servers = TLSServers(pki, backend)
    try:
        yield servers
    finally:
        servers.stop()


def test_mutual_tls_on_both_transports(tls: TLSServers, transport: str) -> None:
    p = tls.pki
    with tls.client(transport, ca_cert=p / "ca.pem", client_cert=p / "client.pem", client_key=p / "client.key",
                    retries=0) as c:
        assert c.settings.scheme == "https"  # implied by the TLS options
        assert c.classify(PNG)[0].index == 285
        assert c.health() == "Healthy"


def test_an_untrusted_server_is_a_tls_error_and_not_retried(tls: TLSServers, transport: str) -> None:
    sleeps: list = []
    policy = RetryPolicy(retries=3, sleep=sleeps.append)
    with tls.client(transport, scheme="https", retry_policy=policy) as c, pytest.raises(ConvLensError) as info:
        c.health()  # the system trust store does not know the test CA
    assert info.value.type == "TLSError" and sleeps == []


def test_without_the_client_certificate_the_server_refuses(tls: TLSServers, transport: str) -> None:
    with tls.client(transport, ca_cert=tls.pki / "ca.pem", retries=0) as c, pytest.raises(ConvLensError):
        c.health()


def test_gRPC_server_name_override(tls: TLSServers) -> None:
    """Connecting by IP with a certificate for 'localhost': tls_server_name says which name to check."""
    p = tls.pki
    client = Client("127.0.0.1", token="t", transport="grpc", grpc_port=tls.grpc_port, timeout=5, retries=0,
                    ca_cert=p / "ca.pem", client_cert=p / "client.pem", client_key=p / "client.key",
                    tls_server_name="localhost")
    with client:
        assert client.health() == "Healthy"


def test_tls_option_checks(tmp_path) -> None:
    with pytest.raises(ValueError, match="client_key needs client_cert"):
        TLSConfig(client_key="k.pem")
    with pytest.raises(ValueError, match="cannot read"):
        TLSConfig(ca_cert=tmp_path / "missing.pem").grpc_credentials()
    with pytest.raises(ValueError, match="need scheme='https'"):
        Client(scheme="http", ca_cert=tmp_path / "ca.pem")
    assert TLSConfig(server_name="api.example").grpc_options() == (("grpc.ssl_target_name_override", "api.example"),)
