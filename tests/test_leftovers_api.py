"""What undo steps left behind is bootflow's own list (``GET /os-leftovers``, by server with
``?instance_uuid=``), not a vendor key in Nova's server document: the show stays exactly
Nova's (Tempest's get_server schema, additionalProperties false), and ``bootflow server
show`` reads the leftovers from bootflow's endpoint."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from tempest.lib.services.compute import servers_client

from bootflow.cli import servers
from bootflow.cli.context import CliContext
from db.models.compute import Leftover
from tests import test_compute_metadata
from tests.support.cloud import LoopbackCloud
from tests.support.tempest_schemas import schema_module, validate
from tests.test_compute_api import _api, _error, _instance, _project

# The fixture: a seeded cloud with one host, node1.
cloud = test_compute_metadata.cloud
SERVERS = servers_client.ServersClient.schema_versions_info


def _leftover(cloud: LoopbackCloud, server: str, project: str, step: str) -> None:
    with cloud.sessions.begin() as s:
        s.add(Leftover(instance_uuid=server, project_id=project, step=step, error="boom"))


def test_a_server_with_leftovers_is_shown_as_nova_shows_it(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "left")
    _leftover(cloud, server, _project(cloud, "demo"), "delete_port")
    for version in ("2.1", "2.19", "2.47", "2.96"):
        for user in ("demo", "admin"):
            shown = _api(cloud, "GET", f"servers/{server}", user=user, version=version)
            validate(schema_module(SERVERS, version).get_server, shown)
            assert not [k for k in shown.json()["server"] if k.startswith("bootflow:")]


def test_leftovers_are_listed_by_server(cloud: LoopbackCloud) -> None:
    project = _project(cloud, "demo")
    left, other = _instance(cloud, "left"), _instance(cloud, "other")
    _leftover(cloud, left, project, "delete_port")
    _leftover(cloud, other, project, "destroy_guest")
    mine = _api(cloud, "GET", f"os-leftovers?instance_uuid={left}").json()["leftovers"]
    assert [(x["instance_uuid"], x["step"]) for x in mine] == [(left, "delete_port")]
    assert len(_api(cloud, "GET", "os-leftovers").json()["leftovers"]) == 2
    # Another project's server: nothing, as for a server that does not exist.
    _leftover(cloud, "f" * 36, "someone-else", "delete_volume")
    theirs = _api(cloud, "GET", f"os-leftovers?instance_uuid={'f' * 36}")
    assert theirs.json() == {"leftovers": []}
    admin = _api(cloud, "GET", f"os-leftovers?instance_uuid={'f' * 36}", user="admin")
    assert [x["step"] for x in admin.json()["leftovers"]] == ["delete_volume"]
    too_long = _api(cloud, "GET", f"os-leftovers?instance_uuid={'x' * 37}")
    _error(too_long, 400, "badRequest")


class _Compute:
    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def find_server(self, ref: str, all_projects: bool = False) -> dict[str, Any]:
        return {
            "id": "s1",
            "name": ref,
            "status": "ACTIVE",
            "flavor": {"id": "1"},
            "image": {"id": "img"},
            "addresses": {},
        }

    def list_leftovers(self, server_id: str | None = None) -> list[dict[str, Any]]:
        self.asked.append(server_id)
        return [{"instance_uuid": "s1", "step": "delete_port", "error": "port busy"}]

    def list_flavors(self) -> list[dict[str, Any]]:
        return [{"id": "1", "name": "m1.tiny"}]

    def list_images(self) -> list[dict[str, Any]]:
        return [{"id": "img", "name": "cirros"}]


class _Context(CliContext):
    fake = _Compute()

    @property
    def compute(self) -> Any:
        return self.fake

    @property
    def images(self) -> Any:
        return self.fake


def test_server_show_prints_the_leftovers_from_bootflows_list() -> None:
    context = _Context(None, False)
    done = CliRunner().invoke(servers.server, ["show", "web", "-f", "json"], obj=context)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["leftovers"] == ["delete_port: port busy"]
    assert context.fake.asked == ["s1"]
