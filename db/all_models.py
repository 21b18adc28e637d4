"""Imports every model module, so ``Base.metadata`` holds every table (for Alembic)."""

from db import models as bootflow_models
from services.identity import models as identity_models
from services.image import models as image_models
from services.network import models as network_models
from services.volume import models as volume_models

__all__ = ["bootflow_models", "identity_models", "image_models", "network_models", "volume_models"]
