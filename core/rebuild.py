"""Nova's rule for rebuilding a volume-backed server, pure so both the compute API and the
rebuild's first step can ask it.

The one check for a volume-backed server: such a server has no local image (its
``image_ref`` is empty, as Nova records it), and before microversion 2.93 Nova refuses to
rebuild it with a different image than its root volume's. bootflow does not reimage a boot
volume at any microversion, so any image is refused for it.
"""

from __future__ import annotations

from typing import Final

VOLUME_BACKED_REBUILD: Final = (
    "Unable to rebuild with a different image for a volume-backed server."
)


def volume_backed_refusal(instance_image_ref: str, image_ref: str) -> str | None:
    """Nova's 400 (ImageUnacceptable) for rebuilding a volume-backed server (no local
    image) with ``image_ref``; None for a server booted from an image."""
    if instance_image_ref:
        return None
    return f"Image {image_ref} is unacceptable: {VOLUME_BACKED_REBUILD}"
