"""An image's virtual size (the disk a guest sees), read from the data's first bytes.

Glance's format inspector fills ``virtual_size`` on upload; Nova compares it with a
flavor's root disk. Only what is cheap and certain is reported: raw images are their own
size, qcow2 images state theirs in the header; anything else stays unknown (null).
"""

from __future__ import annotations

# Bytes of the data kept for inspection: a qcow2 header's size field ends at byte 32.
HEADER_BYTES = 512

_QCOW2_MAGIC = b"QFI\xfb"


def virtual_size(disk_format: str | None, header: bytes, size: int) -> int | None:
    if disk_format == "raw":
        return size
    if disk_format == "qcow2" and len(header) >= 32 and header.startswith(_QCOW2_MAGIC):
        return int.from_bytes(header[24:32], "big")
    return None
