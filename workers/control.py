"""The control worker: runs the workflows and the control-plane activities, and is the one
worker that opens the database (its steps' events included).

bootflow run control-worker     (started by `bootflow up`)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from activities.boots import BootActivities
from activities.cleanup import CleanupActivities
from activities.identity import IdentityActivities
from activities.instances import InstanceActivities
from activities.quota import QuotaActivities
from activities.rebuild import RebuildActivities
from activities.scheduler import SchedulerActivities
from activities.server_actions import ServerActionActivities
from clients.network import NetworkClient
from clients.service_account import service_session
from clients.session import Session
from clients.tokens import TokenValidator
from clients.volume import VolumeClient
from core.config import DatabaseOptions, Settings
from core.temporal import connect
from db.actions import EventLog
from db.session import SessionFactory, make_engine, make_session_factory
from workers.common import (
    http_client,
    new_worker,
    run_main,
    run_until_signalled,
    setup_logging,
)
from workflows.boot_instance import BootInstance
from workflows.delete_instance import DeleteInstance
from workflows.host_reads import ConsoleOutputWorkflow, HostDomainsWorkflow
from workflows.rebuild_server import RebuildServer
from workflows.server_actions import RebootServer, StartServer, StopServer

WORKFLOWS = [
    BootInstance,
    DeleteInstance,
    HostDomainsWorkflow,
    ConsoleOutputWorkflow,
    StopServer,
    StartServer,
    RebootServer,
    RebuildServer,
]


def database(settings: DatabaseOptions) -> SessionFactory:
    engine = make_engine(settings.db_url, pool_size=settings.database_pool_size)
    return make_session_factory(engine)


def build_activities(settings: Settings, sessions: SessionFactory) -> list[Callable[..., Any]]:
    http = http_client(settings)
    service = service_session(settings, http)

    def user_session(token: str) -> Session:
        return service.acting_as(token)

    boots = BootActivities(lambda: connect(settings))
    identity = IdentityActivities(TokenValidator(service, settings.token_cache_seconds))
    quota = QuotaActivities(sessions, settings, user_session)
    instances = InstanceActivities(sessions)
    server_actions = ServerActionActivities(sessions)
    rebuild = RebuildActivities(sessions, user_session, NetworkClient(service))
    scheduler = SchedulerActivities(sessions, settings)
    cleanup = CleanupActivities(
        NetworkClient(service),
        lambda project_id: VolumeClient(service, project_id=project_id),
        sessions,
    )
    return [
        identity.authenticate,
        quota.validate_and_reserve,
        quota.release_quota,
        instances.create_instance_record,
        instances.delete_instance_record,
        instances.mark_active,
        instances.record_fault,
        instances.begin_delete,
        instances.mark_deleted,
        instances.record_leftovers,
        instances.set_task_state,
        instances.record_block_device,
        server_actions.begin_server_action,
        server_actions.end_server_action,
        rebuild.begin_rebuild,
        rebuild.advance_rebuild,
        boots.await_boot_end,
        scheduler.schedule_and_claim,
        scheduler.release_claim,
        scheduler.claim_alternate,
        scheduler.record_reschedule,
        cleanup.deallocate_ports,
        cleanup.detach_volumes,
        cleanup.delete_volumes,
    ]


async def main(settings: Settings) -> None:
    setup_logging()
    # The workflow sandbox imports the workflow modules afresh for every new run; without
    # their .pyc (PYTHONDONTWRITEBYTECODE=1) each import compiles the source again, ~5% of
    # this worker's CPU under load (docs/performance.md).
    sys.dont_write_bytecode = False
    sessions = database(settings)
    client = await connect(settings)
    worker = new_worker(
        client,
        settings,
        EventLog(sessions),
        None,
        build_activities(settings, sessions),
        WORKFLOWS,
    )
    await run_until_signalled(worker)


def run(settings: Settings) -> None:
    run_main(main(settings))
