"""Nova's quota resources for a project: the defaults, the project's limits (its
``quota_limits`` rows over the defaults, as ``os-quota-sets`` PUT writes them) and what it
uses. One place, read by ``os-quota-sets``, ``/limits`` and each check that enforces one
(instances, cores and RAM in db/quotas.py's reservation; metadata items, server groups and
their members in the compute API)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import ComputeQuotaOptions
from db import quotas
from db.models.compute import QuotaLimit, ServerGroup

# Nova's quota defaults ([quota] in nova.conf) for what bootflow's settings do not set.
NOVA_DEFAULTS: Final = {
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    "floating_ips": 10,
    "fixed_ips": -1,
    "security_groups": 10,
    "security_group_rules": 20,
}
# Removed from the quota set at 2.36 (Neutron's) and 2.57 (personality files).
NETWORK_RESOURCES: Final = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
FILE_RESOURCES: Final = (
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
)
RESOURCES: Final = ("instances", "cores", "ram", *NOVA_DEFAULTS)


def defaults(settings: ComputeQuotaOptions) -> dict[str, int]:
    return {
        "instances": settings.quota_instances,
        "cores": settings.quota_cores,
        "ram": settings.quota_ram_mb,
        **NOVA_DEFAULTS,
    }


def project_limits(
    session: Session, project_id: str, settings: ComputeQuotaOptions
) -> dict[str, int]:
    """Every Nova quota resource's limit for the project (-1: unlimited)."""
    limits = quotas.limits(session, project_id, defaults(settings))
    return {resource: limits[resource] for resource in RESOURCES}


def class_limits(session: Session, name: str, settings: ComputeQuotaOptions) -> dict[str, int]:
    """A quota class's limits: its own rows over the defaults (the ``default`` class's are
    every project's defaults)."""
    rows = session.execute(
        select(QuotaLimit.resource, QuotaLimit.hard_limit).where(
            QuotaLimit.project_id == f"{quotas.CLASS_PREFIX}{name}"
        )
    )
    own = {resource: limit for resource, limit in rows if resource in RESOURCES}
    return defaults(settings) | own


def limit_of(session: Session, project_id: str, resource: str) -> int:
    """One resource's limit, where only Nova's own default applies (not the settings')."""
    return quotas.limits(session, project_id, {resource: NOVA_DEFAULTS[resource]})[resource]


def project_usage(session: Session, project_id: str) -> dict[str, int]:
    """What the project uses of each resource bootflow counts (others: 0)."""
    used = quotas.usage(session, project_id)
    groups = session.scalar(
        select(func.count())
        .select_from(ServerGroup)
        .where(ServerGroup.project_id == project_id, ServerGroup.deleted.is_(False))
    )
    out = dict.fromkeys(RESOURCES, 0)
    out.update(
        instances=used["instances"],
        cores=used["cores"],
        ram=used["ram"],
        server_groups=int(groups or 0),
    )
    return out


def over(limit: int, wanted: int) -> bool:
    """``wanted`` exceeds ``limit`` (-1 is unlimited)."""
    return 0 <= limit < wanted
