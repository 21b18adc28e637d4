"""``GET /servers`` and ``/servers/detail``: Nova's filters, sorting and paging.

Filters are Nova's query parameters with Nova's rules: a project sees its own servers
(``all_tenants`` is for admins); non-admins' filters outside Nova's allowed list are dropped
silently; ``name`` and the other regex filters match anywhere in the value (as Nova's
``REGEXP``); ``status`` becomes vm_state/task_state; from 2.75 unknown parameters are a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import QueryParams

from core.states import VmState, states_of_statuses
from db.models.compute import ComputeNode, Instance
from services.common.app import ApiError
from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.context import ApiContext
from services.compute.validation import (
    invalid_query,
    limit_and_marker,
    page_after,
    query_bool,
    strict_query,
)
from services.compute.views import (
    CONFIG_DRIVE,
    ROOT_DEVICE_NAME,
    reservation_id,
    server_hostname,
)

# Nova's status words and the vm_state each maps to (bootflow's states are a subset).
# Every status Nova knows (an unknown one is a 400 from 2.38).
_NOVA_STATUSES: Final = frozenset(
    {
        "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD",
        "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED",
        "SHELVED_OFFLOADED", "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN",
        "VERIFY_RESIZE",
    }
)  # fmt: skip

# Nova's index_query properties (schemas/servers.py), by the version they appear in.
_QUERY_V21: Final = frozenset(
    {
        "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image",
        "kernel_id", "ramdisk_id", "hostname", "key_name", "power_state", "vm_state",
        "task_state", "host", "node", "flavor", "reservation_id", "launched_at",
        "terminated_at", "availability_zone", "name", "display_name", "description",
        "display_description", "locked_by", "uuid", "root_device_name", "config_drive",
        "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress", "sort_key",
        "sort_dir", "all_tenants", "soft_deleted", "deleted", "status", "changes-since",
        "ip", "ip6", "created_at", "limit", "marker", "block_device_mapping", "services",
        "metadata", "system_metadata", "info_cache", "security_groups", "pci_devices",
    }
)  # fmt: skip
_QUERY_TAGS: Final = frozenset({"tags", "tags-any", "not-tags", "not-tags-any"})
_JOINED_TABLES: Final = frozenset(
    {"block_device_mapping", "services", "metadata", "system_metadata", "info_cache",
     "security_groups", "pci_devices"}
)  # fmt: skip

_VALID_SORT_KEYS: Final = frozenset(
    {
        "access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone",
        "config_drive", "created_at", "display_description", "display_name", "host",
        "hostname", "image_ref", "instance_type_id", "kernel_id", "key_name",
        "launch_index", "launched_at", "locked_by", "node", "power_state", "progress",
        "project_id", "ramdisk_id", "root_device_name", "task_state", "terminated_at",
        "updated_at", "user_id", "uuid", "vm_state",
    }
)  # fmt: skip
# Sort keys Nova ignores rather than refuse (before 2.75; from 2.75 they are refused).
_IGNORED_SORT_KEYS: Final = frozenset(
    {
        "architecture", "cell_name", "cleaned", "default_ephemeral_device",
        "default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb",
        "ephemeral_key_uuid", "id", "key_data", "launched_on", "locked", "memory_mb",
        "os_type", "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus",
        "vm_mode",
    }
)  # fmt: skip


# What later microversions add: (since, names), to the query and to a non-admin's filters.
_QUERY_ADDED: Final = (
    (mv.TAGS, _QUERY_TAGS),
    (mv.CHANGES_BEFORE, frozenset({"changes-before"})),
    (mv.LOCKED_REASON, frozenset({"locked"})),
)
_USER_FILTERS_V21: Final = frozenset(
    {"reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants"}
)
_USER_FILTERS_ADDED: Final = (
    (mv.KEYPAIR_FILTER_IP6, frozenset({"ip6"})),
    *_QUERY_ADDED,
    (
        mv.MORE_FILTERS,
        frozenset(
            {"availability_zone", "config_drive", "key_name", "created_at", "launched_at",
             "terminated_at", "power_state", "task_state", "vm_state", "progress", "user_id"}
        ),
    ),
    (mv.HOSTNAME, frozenset({"hostname"})),
)  # fmt: skip


def _as_of(
    ctx: ApiContext, names: frozenset[str], added: tuple[tuple[ApiVersion, frozenset[str]], ...]
) -> frozenset[str]:
    return names.union(*(more for since, more in added if ctx.at_least(since)))


def allowed_query(ctx: ApiContext) -> frozenset[str]:
    return _as_of(ctx, _QUERY_V21, _QUERY_ADDED)


def _user_filters(ctx: ApiContext) -> frozenset[str]:
    """Filters a non-admin may use (Nova's _get_server_search_options)."""
    return _as_of(ctx, _USER_FILTERS_V21, _USER_FILTERS_ADDED)


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else None


def _addresses(instance: Instance, version: int) -> list[str]:
    return [
        str(a.get("addr"))
        for addrs in (instance.addresses or {}).values()
        for a in addrs
        if a.get("version") == version
    ]


# Each regex filter: the instance's value it matches against (None never matches).
_REGEX_FIELDS: Final[dict[str, Callable[[Instance, dict[str, ComputeNode]], Any]]] = {
    "name": lambda i, _n: i.name,
    "display_name": lambda i, _n: i.name,
    "hostname": lambda i, _n: server_hostname(i),
    "availability_zone": lambda i, n: (
        n[i.host].availability_zone if i.host in n else i.availability_zone
    ),
    "node": lambda i, n: n[i.host].hypervisor_hostname if i.host in n else None,
    "reservation_id": lambda i, _n: reservation_id(i.request_id),
    "config_drive": lambda _i, _n: CONFIG_DRIVE,
    "root_device_name": lambda _i, _n: ROOT_DEVICE_NAME,
    "power_state": lambda i, _n: i.power_state,
    "progress": lambda _i, _n: 0,
    "created_at": lambda i, _n: _time(i.created_at),
    "launched_at": lambda i, _n: _time(i.launched_at),
    "terminated_at": lambda i, _n: _time(i.terminated_at),
    "key_name": lambda i, _n: i.key_name,
    # Set at create or by PUT /servers/{id}.
    "description": lambda i, _n: i.description,
    "display_description": lambda i, _n: i.description,
    "access_ip_v4": lambda i, _n: i.access_ip_v4,
    "access_ip_v6": lambda i, _n: i.access_ip_v6,
    # Fields bootflow's servers never have a value in: a filter on them matches nothing.
    "kernel_id": lambda _i, _n: None,
    "ramdisk_id": lambda _i, _n: None,
    "locked_by": lambda i, _n: i.locked_by,
    "auto_disk_config": lambda _i, _n: None,
    "launch_index": lambda _i, _n: None,
}
# Exact-match filters on columns.
_EXACT_COLUMNS: Final = {
    "uuid": Instance.uuid,
    "host": Instance.host,
    "image": Instance.image_ref,
    "image_ref": Instance.image_ref,
    # Nova finds the flavor by its id and matches it exactly.
    "flavor": Instance.flavor_id,
    "user_id": Instance.user_id,
    "vm_state": Instance.vm_state,
    "task_state": Instance.task_state,
}

_SORT_VALUES: Final[dict[str, Callable[[Instance], Any]]] = {
    "created_at": lambda i: i.created_at,
    "updated_at": lambda i: i.updated_at,
    "launched_at": lambda i: i.launched_at,
    "terminated_at": lambda i: i.terminated_at,
    "display_name": lambda i: i.name,
    "hostname": lambda i: server_hostname(i),
    "uuid": lambda i: i.uuid,
    "host": lambda i: i.host,
    "node": lambda i: i.host,
    "vm_state": lambda i: i.vm_state,
    "task_state": lambda i: i.task_state,
    "power_state": lambda i: i.power_state,
    "project_id": lambda i: i.project_id,
    "user_id": lambda i: i.user_id,
    "availability_zone": lambda i: i.availability_zone,
    "image_ref": lambda i: i.image_ref,
    "instance_type_id": lambda i: i.flavor_id,
    "display_description": lambda i: i.description,
    "access_ip_v4": lambda i: i.access_ip_v4,
    "access_ip_v6": lambda i: i.access_ip_v6,
}


def parse_time(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_query(name, value, f"'{value}' is not a 'date-time'") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# A group that repeats and is itself repeated, e.g. (a+)+: exponential on a near-miss.
_NESTED_QUANTIFIER: Final = re.compile(r"\([^()]*[+*}][^()]*\)\s*[+*{]")


def _regex(name: str, pattern: str) -> re.Pattern[str]:
    """A filter's regular expression. Python's engine has no time limit, so patterns that
    can take exponential time (a quantified group inside a quantifier) are refused."""
    if len(pattern) > 255 or _NESTED_QUANTIFIER.search(pattern):
        raise ApiError(
            400,
            f"The {name} filter's regular expression is too complex; use at most 255 "
            "characters and no repeated group that repeats inside, like (a+)+.",
        )
    try:
        return re.compile(pattern)
    except re.error:
        raise ApiError(
            400, f"Invalid regular expression for the {name} filter: {pattern}"
        ) from None


class ServerQuery:
    """One list request's filters, sort and page, checked as Nova checks them."""

    def __init__(self, ctx: ApiContext, params: QueryParams, detail: bool) -> None:
        self.ctx = ctx
        self.detail = detail
        self.params = params
        if ctx.at_least(mv.STRICT_QUERY):
            strict_query(params, allowed_query(ctx))
        for key in params:
            if key in _JOINED_TABLES or key.startswith("_"):
                raise ApiError(400, f"Invalid filter field: {key}.")
        self.search: dict[str, str] = {k: params[k] for k in params}
        for key in ("limit", "marker", "sort_key", "sort_dir"):
            self.search.pop(key, None)
        if not ctx.is_admin:
            allowed = _user_filters(ctx)
            self.search = {k: v for k, v in self.search.items() if k in allowed}
        self.all_tenants = self._all_tenants()
        self.limit, self.marker = limit_and_marker(params)
        self.sort = self._sort_keys()

    def _all_tenants(self) -> bool:
        if "all_tenants" not in self.search:
            return False
        value = self.search.pop("all_tenants")
        # The empty string is "yes", as Nova's is_all_tenants has it.
        wanted = query_bool("all_tenants", value) if value else True
        if wanted and not self.ctx.is_admin:
            kind = "detail" if self.detail else "index"
            raise ApiError(
                403,
                f"Policy doesn't allow os_compute_api:servers:{kind}:get_all_tenants "
                "to be performed.",
            )
        return wanted

    def _sort_keys(self) -> list[tuple[str, bool]]:
        keys = self.params.getlist("sort_key")
        dirs = self.params.getlist("sort_dir")
        valid = _VALID_SORT_KEYS | (
            set() if self.ctx.at_least(mv.STRICT_QUERY) else _IGNORED_SORT_KEYS
        )
        if self.ctx.at_least(mv.LOCKED_REASON):
            valid = valid | {"locked"}
        out: list[tuple[str, bool]] = []
        for index, key in enumerate(keys):
            if key not in valid:
                raise invalid_query("sort_key", key, f"'{key}' is not one of the sort keys")
            direction = (
                dirs[index] if index < len(dirs) else (dirs[0] if dirs else "desc")
            ).lower()
            if direction not in ("asc", "desc"):
                raise ApiError(400, f"Unknown sort direction, must be 'desc' or 'asc': {direction}")
            if key in ("host", "node") and not self.ctx.is_admin:
                raise ApiError(403, f"Only administrators can sort servers by {key}")
            if key in _SORT_VALUES:
                out.append((key, direction == "desc"))
        if not out:
            out.append(("created_at", True))
        return out

    def run(self, session: Session) -> tuple[list[Instance], bool]:
        """The page of instances, and whether a next link is due."""
        query = select(Instance).options(
            selectinload(Instance.faults), selectinload(Instance.block_devices)
        )
        if self.all_tenants:
            project = self.search.get("project_id") or self.search.get("tenant_id")
            if project:
                query = query.where(Instance.project_id == project)
        else:
            query = query.where(Instance.project_id == self.ctx.caller.project_id)
        query = self._states(query)
        for name, column in _EXACT_COLUMNS.items():
            if name in self.search:
                query = query.where(column == self.search[name])
        for name, op in (("changes-since", "ge"), ("changes-before", "le")):
            if name in self.search:
                when = parse_time(name, self.search[name])
                query = query.where(
                    Instance.updated_at >= when if op == "ge" else Instance.updated_at <= when
                )
        since, before = self.search.get("changes-since"), self.search.get("changes-before")
        if (
            since
            and before
            and parse_time("changes-before", before) < parse_time("changes-since", since)
        ):
            raise ApiError(
                400, "The value of changes-since must be less than or equal to changes-before."
            )
        instances = list(session.scalars(query))
        instances = self._python_filters(session, instances)
        for key, descending in reversed(self.sort):
            value = _SORT_VALUES[key]
            present = [i for i in instances if value(i) is not None]
            absent = [i for i in instances if value(i) is None]
            present.sort(key=value, reverse=descending)
            # As SQL orders NULLs: last ascending, first descending on PostgreSQL; one rule here.
            instances = absent + present if descending else present + absent
        ids = [i.uuid for i in instances]
        missing = f"marker [{self.marker}] not found"
        return page_after(instances, ids, self.marker, self.limit, missing)

    def _vm_states(self, statuses: list[str]) -> tuple[set[str], set[str] | None] | None:
        """The vm_states and task_states (None: any) the statuses asked for mean; None when
        Nova knows none of them (before 2.38 that lists nothing, from 2.38 it is a 400)."""
        wanted = {s.upper() for s in statuses}
        if not wanted & _NOVA_STATUSES:
            if self.ctx.at_least(mv.INVALID_STATUS_400):
                raise ApiError(400, "Invalid status value")
            return None
        states = states_of_statuses(wanted)
        if states[0] == {VmState.DELETED} and not self.ctx.is_admin:
            raise ApiError(403, "Only administrators may list deleted instances")
        return states

    def _states(self, query: Any) -> Any:
        statuses = self.params.getlist("status") if "status" in self.search else []
        deleted_wanted = False
        if statuses:
            states = self._vm_states(statuses)
            if states is None:
                return query.where(Instance.uuid.is_(None))
            vm_states, task_states = states
            deleted_wanted = vm_states == {VmState.DELETED}
            query = query.where(Instance.vm_state.in_(vm_states))
            if task_states is not None:
                query = query.where(Instance.task_state.in_(task_states))
        if "deleted" in self.search:
            try:
                deleted_wanted = query_bool("deleted", self.search["deleted"])
            except ApiError:
                deleted_wanted = False  # as Nova: an invalid value lists the servers not deleted
        changes = "changes-since" in self.search or "changes-before" in self.search
        if not changes or "deleted" in self.search:
            query = query.where(Instance.deleted.is_(deleted_wanted))
        if "locked" in self.search:
            query = query.where(Instance.locked.is_(query_bool("locked", self.search["locked"])))
        if self.search.get("tags") or self.search.get("tags-any"):
            query = query.where(Instance.uuid.is_(None))  # no bootflow server has tags
        return query

    def _python_filters(self, session: Session, instances: list[Instance]) -> list[Instance]:
        regexes = {
            name: _regex(name, self.search[name]) for name in _REGEX_FIELDS if name in self.search
        }
        ips = {
            v: _regex(name, self.search[name])
            for name, v in (("ip", 4), ("ip6", 6))
            if name in self.search
        }
        if not regexes and not ips:
            return instances
        nodes: dict[str, ComputeNode] = {}
        if {"availability_zone", "node"} & set(regexes):
            nodes = {n.host: n for n in session.scalars(select(ComputeNode))}
        out = []
        for instance in instances:
            ok = True
            for name, pattern in regexes.items():
                value = _REGEX_FIELDS[name](instance, nodes)
                if value is None or not pattern.search(str(value)):
                    ok = False
                    break
            for version, pattern in ips.items():
                if not any(pattern.search(a) for a in _addresses(instance, version)):
                    ok = False
            if ok:
                out.append(instance)
        return out
