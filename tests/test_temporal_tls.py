"""Reaching a Temporal cluster over TLS and mTLS, configured as the Temporal CLI is.

The mapping from the TEMPORAL_TLS_* variables to the SDK's TLSConfig is checked directly;
then, since the dev server speaks only plaintext, a proxy that terminates TLS and requires a
client certificate stands in front of one, and ``connect`` must get through it with the
right certificates and be refused with wrong ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import TLSConfig

from core import search_attributes
from core.codec import new_key
from core.config import Settings, load_settings
from core.temporal import connect, ensure_search_attributes, tls_config
from tests.support.devserver import dev_server
from tests.support.tls import SERVER_NAME, MtlsProxy, Pki, client_env, make_pki, mtls_proxy

TLS_VARIABLES = (
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
    "TEMPORAL_TLS_CERT_DATA",
    "TEMPORAL_TLS_KEY_DATA",
    "TEMPORAL_TLS_CA_DATA",
    "TEMPORAL_API_KEY",
    "TEMPORAL_ADDRESS",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in TLS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def settings_from(env: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str]) -> Settings:
    for name, value in values.items():
        env.setenv(name, value)
    return load_settings(tmp_path)


# -- the variables -----------------------------------------------------------------------------


def test_no_variables_no_tls(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert tls_config(load_settings(tmp_path)) is False


def test_cli_variables_make_an_mtls_config(
    env: pytest.MonkeyPatch, tmp_path: Path, pki: Pki
) -> None:
    settings = settings_from(
        env,
        tmp_path,
        {
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key),
            "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
        },
    )
    assert tls_config(settings) == TLSConfig(
        server_root_ca_cert=pki.ca.read_bytes(),
        domain=SERVER_NAME,
        client_cert=pki.client_cert.read_bytes(),
        client_private_key=pki.client_key.read_bytes(),
    )


def test_older_cli_names_and_inline_pem_work_too(
    env: pytest.MonkeyPatch, tmp_path: Path, pki: Pki
) -> None:
    by_path = settings_from(
        env,
        tmp_path,
        {
            "TEMPORAL_TLS_CA": str(pki.ca),
            "TEMPORAL_TLS_CERT": str(pki.client_cert),
            "TEMPORAL_TLS_KEY": str(pki.client_key),
        },
    )
    for name in ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"):
        env.delenv(name)
    inline = settings_from(
        env,
        tmp_path,
        {
            "TEMPORAL_TLS_SERVER_CA_CERT_DATA": pki.ca.read_text(),
            "TEMPORAL_TLS_CLIENT_CERT_DATA": pki.client_cert.read_text(),
            "TEMPORAL_TLS_CLIENT_KEY_DATA": pki.client_key.read_text(),
        },
    )
    expected = TLSConfig(
        server_root_ca_cert=pki.ca.read_bytes(),
        client_cert=pki.client_cert.read_bytes(),
        client_private_key=pki.client_key.read_bytes(),
    )
    assert tls_config(by_path) == expected
    assert tls_config(inline) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"TEMPORAL_TLS": "true"}, True),
        ({"TEMPORAL_API_KEY": "key"}, True),
        ({"TEMPORAL_TLS": "false", "TEMPORAL_TLS_SERVER_NAME": "x"}, False),
    ],
    ids=["tls-with-system-roots", "api-key-implies-tls", "explicitly-off"],
)
def test_tls_switch(
    env: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str], expected: bool
) -> None:
    assert tls_config(settings_from(env, tmp_path, values)) is expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "{cert}"}, "needs both the client certificate"),
        (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "{cert}", "TEMPORAL_TLS_CLIENT_CERT_DATA": "x"},
            "not both",
        ),
        ({"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"),
        ({"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "true"}, "TEMPORAL_TLS_SERVER_NAME"),
    ],
    ids=["cert-without-key", "path-and-data", "missing-file", "no-host-verification"],
)
def test_wrong_tls_settings_are_refused_with_the_reason(
    env: pytest.MonkeyPatch, tmp_path: Path, pki: Pki, values: dict[str, str], message: str
) -> None:
    values = {k: v.format(cert=pki.client_cert) for k, v in values.items()}
    with pytest.raises(RuntimeError, match=message):
        tls_config(settings_from(env, tmp_path, values))


# -- a real handshake ------------------------------------------------------------------------


@dataclass
class Cluster:
    proxy: MtlsProxy
    pki: Pki


@pytest.fixture(scope="module")
def cluster(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    log = tmp_path_factory.mktemp("devserver") / "temporal.log"
    with dev_server(log) as port, mtls_proxy(pki, port) as proxy:
        yield Cluster(proxy, pki)


def through(cluster: Cluster, tmp_path: Path, **overrides: str) -> Settings:
    values: dict[str, str] = {
        k.lower(): v for k, v in client_env(cluster.pki, cluster.proxy.address).items()
    }
    values |= overrides
    return Settings(data_dir=tmp_path, codec_key=new_key(), **values)


async def test_connect_over_mtls_and_register_search_attributes(
    env: pytest.MonkeyPatch, cluster: Cluster, tmp_path: Path
) -> None:
    before = cluster.proxy.accepted
    settings = through(cluster, tmp_path)
    client = await connect(settings)
    assert (await client.workflow_service.get_system_info(GetSystemInfoRequest())).server_version
    added = await ensure_search_attributes(settings)
    assert set(added) == {key.name for key in search_attributes.ALL}
    assert cluster.proxy.accepted > before  # it came through the proxy's TLS


@pytest.mark.parametrize(
    "overrides",
    [
        {"temporal_tls_client_cert_path": "", "temporal_tls_client_key_path": ""},
        {
            "temporal_tls_client_cert_path": "{rogue_cert}",
            "temporal_tls_client_key_path": "{rogue_key}",
        },
        {"temporal_tls_server_name": ""},
    ],
    ids=["no-client-certificate", "certificate-from-another-ca", "server-name-not-checked-against"],
)
async def test_connect_is_refused_without_the_right_certificates(
    env: pytest.MonkeyPatch, cluster: Cluster, tmp_path: Path, overrides: dict[str, str]
) -> None:
    values = {
        k: v.format(rogue_cert=cluster.pki.rogue_cert, rogue_key=cluster.pki.rogue_key)
        for k, v in overrides.items()
    }
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(connect(through(cluster, tmp_path, **values)), 20)
