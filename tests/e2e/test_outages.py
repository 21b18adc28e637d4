"""The compute API while something a create needs is down, on a whole stack: Temporal
killed, or the image service answering 503 to every look at one image. The answer is a
503 naming what was unavailable, never a 500, and creates work again once it is back."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from services.common.app import RETRY_AFTER_SECONDS
from services.runner import build_app
from tests.e2e.conftest import demo_project
from tests.support.databases import BACKENDS, new_database
from tests.support.servers import serving
from tests.support.stack import RunningStack, running_stack, stack_settings, wait_until

pytestmark = pytest.mark.e2e

# An image the image service is down for: every GET of it answers 503 (``http:image``).
UNAVAILABLE_IMAGE = str(uuid.UUID(int=0x503))
FAULT_PLAN = json.dumps(
    [
        {
            "point": "http:image",
            "match": f"GET /v2/images/{UNAVAILABLE_IMAGE}",
            "message": "the image store is offline",
        }
    ]
)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """A stack of its own: its Temporal server is killed, and its compute API waits for an
    accept as long as by default (longer than a step's retries take to run out)."""
    data_dir = tmp_path_factory.mktemp(f"outages-{request.param}")
    url = new_database(request.param, data_dir, request)
    env = {"BOOTFLOW_FAULT_PLAN": FAULT_PLAN}
    with running_stack(stack_settings(data_dir, url), hosts=1, env=env) as running:
        yield running


class Demo:
    """The demo user's token, the seeded image and network, and raw compute calls."""

    def __init__(self, stack: RunningStack) -> None:
        session = stack.demo()
        self.session = session
        self.token = session.token
        self.image = ImageClient(session).find_image("cirros")["id"]
        self.network = NetworkClient(session).find_network("private")["id"]

    def create(self, compute_url: str, name: str, image: str | None = None) -> httpx.Response:
        server = {
            "name": name,
            "flavorRef": "1",
            "imageRef": image or self.image,
            "networks": [{"uuid": self.network}],
        }
        return httpx.post(
            f"{compute_url}/servers",
            headers={"X-Auth-Token": self.token},
            json={"server": server},
            timeout=180,
        )


def assert_unavailable(answer: httpx.Response, naming: str) -> str:
    """Nova's 503 document, asking to retry later, saying ``naming``; its message."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    body: dict[str, Any] = answer.json()
    message = str(body["serviceUnavailable"]["message"])
    assert body == {"serviceUnavailable": {"code": 503, "message": message}}
    assert naming in message, message
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    return message


def _all_up(stack: RunningStack) -> bool:
    """Restart whatever died (as ``bootflow up`` does); whether every process is back and
    ready (the workers polling the server again)."""
    stack.stack.supervise_once()
    return all(
        c.proc is not None and c.proc.poll() is None and c.ready() for c in stack.stack.children
    )


def _active(compute: ComputeClient, server_id: str) -> bool:
    status = compute.get_server(server_id)["status"]
    assert status in ("BUILD", "ACTIVE"), status
    return bool(status == "ACTIVE")


def test_temporal_down_is_a_503_and_creates_work_once_it_is_back(stack: RunningStack) -> None:
    """Both a compute API whose Temporal client connected before (it reconnects by itself)
    and one started while Temporal is down (it connects on a later request)."""
    demo = Demo(stack)
    compute = ComputeClient(demo.session)
    own_api = demo.session.endpoint("compute")
    before = demo.create(own_api, "o-before")
    assert before.status_code == 202, before.text
    first = before.json()["server"]["id"]

    temporal = stack.child("temporal")
    temporal.kill()
    temporal.wait()
    try:
        with serving(build_app("compute", stack.settings)) as fresh:  # started while it is down
            fresh_api = f"{fresh}/v2.1"
            assert_unavailable(demo.create(fresh_api, "o-fresh"), "(Temporal) could not be reached")
            assert_unavailable(demo.create(own_api, "o-cached"), "could not be reached")
            deleting = httpx.delete(
                f"{own_api}/servers/{first}", headers={"X-Auth-Token": demo.token}, timeout=180
            )
            assert_unavailable(deleting, "(Temporal) could not be reached")

            wait_until(lambda: _all_up(stack), timeout=180, interval=1)
            again = [demo.create(api, f"o-after-{n}") for n, api in enumerate((fresh_api, own_api))]
    finally:
        wait_until(lambda: _all_up(stack), timeout=180, interval=1)
    assert [a.status_code for a in again] == [202, 202], [a.text for a in again]
    servers = [first, *(a.json()["server"]["id"] for a in again)]
    for server_id in servers:
        wait_until(functools.partial(_active, compute, server_id), timeout=120)
        assert stack.cli("server", "delete", server_id, "--wait").code == 0
    assert {s["name"] for s in compute.list_servers()} & {"o-fresh", "o-cached"} == set()


def test_a_service_a_create_needs_staying_down_is_a_503_naming_it_not_a_500(
    stack: RunningStack,
) -> None:
    """The validate step retries the image service's 503 until its attempts run out; the
    request is then not accepted, and that is the image service's outage, not a bug."""
    demo = Demo(stack)
    project = demo_project(stack)
    usage = stack.quota_usage(project)
    refused = demo.create(demo.session.endpoint("compute"), "o-image", UNAVAILABLE_IMAGE)
    message = assert_unavailable(refused, "The image service answered 503")
    assert "the image store is offline" in message and "nothing was done" in message
    names = {s["name"] for s in ComputeClient(demo.session).list_servers()}
    assert "o-image" not in names
    assert stack.quota_usage(project) == usage
