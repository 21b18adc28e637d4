"""The real guests a stack's hosts leave running when the stack stops.

QEMU guests run under libvirtd, not in the stack's processes, so ``bootflow down`` does not
end them (nor should it by default: they are users' servers, and the next ``bootflow up``
finds them running). It says which are left, and stops them when asked. A stopped guest
stays defined and its server active: the next ``up``'s compute workers start it again
(``resume_guests_state_on_host_boot``). The test driver's guests live in the workers and
end with them, so there is nothing to say for ``test:`` URIs.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

import libvirt
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from compute.driver import guests_by_host
from core.config import Settings
from db.models.compute import Instance
from db.session import make_engine, make_session_factory

_RUNNING = 1  # Nova's power state RUNNING


@dataclass(frozen=True)
class Guest:
    host: str
    instance_uuid: str
    domain: str
    # The server's name ("" when the database has none for it).
    server: str = ""

    @property
    def label(self) -> str:
        return f"{self.server} ({self.instance_uuid})" if self.server else self.domain


def running_guests(settings: Settings) -> list[Guest]:
    """This stack's running guests on its hypervisor, by host and name."""
    uri = settings.libvirt_uri
    if uri.startswith("test:") or not settings.deployment_id:
        return []
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return []  # libvirtd is down: no guest of it runs
    try:
        found = guests_by_host(conn, settings.deployment_id)
    finally:
        conn.close()
    guests = [
        Guest(host, g.uuid, g.name)
        for host, listed in sorted(found.items())
        for g in listed
        if g.power_state == _RUNNING
    ]
    names = _server_names(settings, [g.instance_uuid for g in guests])
    return [
        Guest(g.host, g.instance_uuid, g.domain, names.get(g.instance_uuid, "")) for g in guests
    ]


def _server_names(settings: Settings, uuids: list[str]) -> dict[str, str]:
    if not uuids:
        return {}
    engine = make_engine(settings.db_url, pool_size=1)
    try:
        with make_session_factory(engine).begin() as session:
            rows = session.execute(
                select(Instance.uuid, Instance.name).where(Instance.uuid.in_(uuids))
            )
            return {uuid: name for uuid, name in rows}
    except SQLAlchemyError:  # names are a courtesy: the guests are listed without them
        return {}
    finally:
        engine.dispose()


def stop_guests(settings: Settings, guests: list[Guest]) -> list[Guest]:
    """Power off ``guests`` (they stay defined, their disks kept); those it stopped."""
    conn = libvirt.open(settings.libvirt_uri)
    stopped = []
    try:
        for guest in guests:
            with suppress(libvirt.libvirtError):  # gone meanwhile
                domain = conn.lookupByUUIDString(guest.instance_uuid)
                if domain.isActive():
                    domain.destroy()
                stopped.append(guest)
    finally:
        conn.close()
    return stopped
