"""The libvirt domain XML for an instance (seed step 28's ``libvirt.xml``).

Pure: from a ``DomainSpec`` to XML text, so it is tested without a hypervisor. The
``<metadata>`` block names the instance, its host, project, flavor and image; a compute
worker only ever touches domains whose metadata names its own host.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

METADATA_NS = "urn:bootflow:libvirt:instance:1"
METADATA_PREFIX = "bootflow"


@dataclass
class DiskSpec:
    path: str
    target: str  # vda, vdb, ...
    format: str  # qcow2 or raw
    serial: str | None = None


@dataclass
class NicSpec:
    mac_address: str
    port_id: str


@dataclass
class DomainSpec:
    instance_uuid: str
    name: str  # the server's name, shown as the domain's title
    host: str
    project_id: str
    flavor_name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_id: str
    domain_type: str  # test, qemu or kvm
    arch: str
    disks: list[DiskSpec]
    nics: list[NicSpec]
    console_log: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def domain_name(self) -> str:
        return domain_name(self.instance_uuid)


def domain_name(instance_uuid: str) -> str:
    """Named by uuid, so several hosts (or stacks) sharing one libvirtd never collide."""
    return f"instance-{instance_uuid}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def build(spec: DomainSpec) -> str:
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    domain = ET.Element("domain", {"type": spec.domain_type})
    _sub(domain, "name", spec.domain_name)
    _sub(domain, "uuid", spec.instance_uuid)
    _sub(domain, "title", spec.name)

    metadata = _sub(domain, "metadata")
    ns = f"{{{METADATA_NS}}}"
    owner = _sub(metadata, f"{ns}instance")
    _sub(owner, f"{ns}name", spec.name)
    _sub(owner, f"{ns}host", spec.host)
    _sub(owner, f"{ns}project", uuid=spec.project_id)
    _sub(
        owner,
        f"{ns}flavor",
        name=spec.flavor_name,
        vcpus=str(spec.vcpus),
        memory_mb=str(spec.memory_mb),
        root_gb=str(spec.root_gb),
    )
    _sub(owner, f"{ns}image", uuid=spec.image_id)

    _sub(domain, "memory", str(spec.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))
    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch=spec.arch)
    _sub(os_el, "boot", dev="hd")
    # Without ACPI, libvirt passes -no-acpi and a guest's poweroff only halts it.
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")

    devices = _sub(domain, "devices")
    for disk in spec.disks:
        el = _sub(devices, "disk", type="file", device="disk")
        _sub(el, "driver", name="qemu", type=disk.format)
        _sub(el, "source", file=disk.path)
        _sub(el, "target", dev=disk.target, bus="virtio")
        if disk.serial:
            _sub(el, "serial", disk.serial)
    for nic in spec.nics:
        el = _sub(devices, "interface", type="ethernet")
        _sub(el, "mac", address=nic.mac_address)
        _sub(el, "model", type="virtio")
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=spec.console_log)
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="file")
    _sub(console, "source", path=spec.console_log)
    _sub(console, "target", type="serial", port="0")

    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


def owner_host(metadata_xml: str) -> str | None:
    """The host named in a domain's bootflow metadata element, if it has one."""
    try:
        root = ET.fromstring(metadata_xml)  # noqa: S314 (libvirt's own output, not user input)
    except ET.ParseError:
        return None
    host = root.find(f"{{{METADATA_NS}}}host")
    if host is None:
        host = root.find("host")  # libvirt may return the element without its namespace
    return host.text if host is not None else None
