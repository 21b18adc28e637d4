"""Imports every model module, so ``Base.metadata`` holds every table (for Alembic)."""

from db.models import compute, identity, image, network, volume

__all__ = ["compute", "identity", "image", "network", "volume"]
