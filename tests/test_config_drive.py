"""The config drive: OpenStack's files, an ISO9660 labelled config-2, and the guest reading it.

The last tests run the guest's own parser (the shell and awk in guest/init) under the same
static busybox the guest image is built from, on JSON this module writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from compute import config_drive
from compute.config_drive import NicNetwork

GUEST_INIT = Path(__file__).resolve().parents[1] / "guest" / "init"

NICS = [
    NicNetwork(
        "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901",
        "fa:16:3e:00:00:01",
        "net-a",
        "10.0.0.5",
        "10.0.0.0/24",
        "10.0.0.1",
        ["10.0.0.2"],
    ),
    NicNetwork("2b2c3d4e-0000", "fa:16:3e:00:00:02", "net-b", "192.168.7.9", "192.168.7.0/25"),
    NicNetwork("3b2c3d4e-0000", "fa:16:3e:00:00:03", "net-c"),  # no fixed IP: a link only
]


@pytest.mark.parametrize(
    ("name", "hostname"),
    [
        ("vm1", "vm1"),
        ("My_Server.one", "my-server-one"),
        ("web server #2", "web-server-2"),
        ("-édge-", "dge"),
        ("***", "Server-u-1"),
    ],
)
def test_hostname_is_the_name_made_safe_as_nova_does(name: str, hostname: str) -> None:
    assert config_drive.hostname_for(name, "u-1") == hostname


def test_meta_data_names_the_instance() -> None:
    meta = config_drive.meta_data(
        instance_uuid="u-1", name="My VM", project_id="p-1", availability_zone=None
    )
    assert {k: meta[k] for k in ("uuid", "name", "hostname", "launch_index")} == {
        "uuid": "u-1",
        "name": "My VM",
        "hostname": "my-vm",
        "launch_index": 0,
    }
    assert meta["availability_zone"] == "nova" and meta["project_id"] == "p-1"


def test_meta_data_with_a_key_pair_and_metadata_still_names_the_instance() -> None:
    # Regression: the key pair's name once replaced the server's name and hostname.
    meta = config_drive.meta_data(
        instance_uuid="u-1",
        name="My VM",
        project_id="p-1",
        availability_zone=None,
        key=("laptop", "ssh", "ssh-ed25519 AAAA me@laptop"),
        meta={"role": "web"},
    )
    assert (meta["name"], meta["hostname"]) == ("My VM", "my-vm")
    assert meta["public_keys"] == {"laptop": "ssh-ed25519 AAAA me@laptop"}
    assert meta["keys"] == [{"name": "laptop", "type": "ssh", "data": "ssh-ed25519 AAAA me@laptop"}]
    assert meta["meta"] == {"role": "web"}


def test_network_data_has_links_networks_and_services() -> None:
    data = config_drive.network_data(NICS)
    assert [link["ethernet_mac_address"] for link in data["links"]] == [
        "fa:16:3e:00:00:01",
        "fa:16:3e:00:00:02",
        "fa:16:3e:00:00:03",
    ]
    assert (
        data["links"][0]["id"] == "tap1b2c3d4e-5f" and data["links"][0]["vif_id"] == NICS[0].port_id
    )
    first, second = data["networks"]
    assert (first["link"], first["ip_address"], first["netmask"], first["type"]) == (
        "tap1b2c3d4e-5f",
        "10.0.0.5",
        "255.255.255.0",
        "ipv4",
    )
    assert first["routes"] == [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}]
    assert (second["netmask"], second["routes"]) == ("255.255.255.128", [])
    assert data["services"] == [{"type": "dns", "address": "10.0.0.2"}]


def test_the_drive_is_an_iso9660_labelled_config_2_with_openstack_latest(tmp_path: Path) -> None:
    meta = config_drive.meta_data(
        instance_uuid="u-1", name="vm1", project_id="p", availability_zone="az1"
    )
    contents = config_drive.files(meta, config_drive.network_data(NICS))
    iso = config_drive.write_iso(tmp_path / "disk.config", contents)

    info = subprocess.run(
        ["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True, check=True
    ).stdout
    assert "Volume id: config-2" in info

    def read(path: str) -> object:
        out = subprocess.run(
            ["isoinfo", "-R", "-i", str(iso), "-x", path], capture_output=True, check=True
        ).stdout
        return json.loads(out)

    assert read("/openstack/latest/meta_data.json") == meta
    assert read("/openstack/latest/network_data.json") == config_drive.network_data(NICS)
    assert read("/openstack/2012-08-10/meta_data.json") == meta


# -- the guest's side ---------------------------------------------------------------------------


def _guest_parser() -> tuple[str, str]:
    """guest/init's ``tokens`` function and its network_data.json awk program."""
    text = GUEST_INIT.read_text()
    start = text.index("tokens() {")
    function = text[start : text.index("\n}\n", start) + 3]
    program = text[text.index("awk '", start) + 5 : text.index("' >/tmp/links")]
    return function, program


@pytest.mark.parametrize("sort_keys", [False, True], ids=["nova-order", "sorted-keys"])
def test_the_guest_reads_its_addresses_whatever_the_key_order(
    tmp_path: Path, sort_keys: bool
) -> None:
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is missing (scripts/install-system-deps.sh installs it)"
    network = tmp_path / "network_data.json"
    network.write_text(json.dumps(config_drive.network_data(NICS), sort_keys=sort_keys, indent=1))
    meta = tmp_path / "meta_data.json"
    meta.write_text(
        json.dumps(
            config_drive.meta_data(
                instance_uuid="u-1", name="Web_1", project_id="p", availability_zone=None
            ),
            sort_keys=sort_keys,
        )
    )
    function, program = _guest_parser()
    (tmp_path / "links.awk").write_text(program)
    script = (
        f"{function}\n"
        f"tokens {meta} | sed -n 's/^hostname //p'\n"
        f"tokens {network} | awk -f {tmp_path / 'links.awk'} | sort\n"
    )
    out = subprocess.run(
        [busybox, "sh", "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "web-1",
        "fa:16:3e:00:00:01 10.0.0.5 255.255.255.0 10.0.0.1",
        "fa:16:3e:00:00:02 192.168.7.9 255.255.255.128 -",
        "fa:16:3e:00:00:03 - - -",
    ]


def test_the_guest_puts_the_key_pairs_public_keys_in_authorized_keys(tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is missing (scripts/install-system-deps.sh installs it)"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOb+/x= me@laptop"
    meta = tmp_path / "meta_data.json"
    for name, data in (("with-newline", key + "\n"), ("without", key)):
        meta.write_text(
            json.dumps(
                config_drive.meta_data(
                    instance_uuid="u-1",
                    name="My VM",
                    project_id="p",
                    availability_zone=None,
                    key=("laptop", "ssh", data),
                )
            )
        )
        text = GUEST_INIT.read_text()
        tokens, _program = _guest_parser()
        start = text.index("public_keys() {")
        public_keys = text[start : text.index("\n}\n", start) + 3]
        out = subprocess.run(
            [busybox, "sh", "-c", f"{tokens}\n{public_keys}\npublic_keys {meta}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.splitlines() == [key], name
    meta.write_text(json.dumps(config_drive.meta_data(
        instance_uuid="u-1", name="vm", project_id="p", availability_zone=None
    )))  # fmt: skip
    script = f"{tokens}\n{public_keys}\npublic_keys {meta}"
    assert subprocess.run([busybox, "sh", "-c", script], capture_output=True).stdout == b""
