"""Image (Glance v2 subset) through ImageClient and real HTTP on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from temporalio.exceptions import ApplicationError

from activities.quota import QuotaActivities
from clients.errors import BadRequest, Conflict, ConnectionFailed, Forbidden, HttpError, NotFound
from clients.image import AmbiguousImage, ImageClient, ImageDataMissing
from clients.session import Session
from core.errors import ErrorType
from core.messages import FlavorSpec
from db.models.image import Image
from db.session import make_engine, make_session_factory
from services.image import streams
from tests.support.cloud import LoopbackCloud, loopback_cloud

MiB = 1 << 20


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "image")) as c:
        yield c


@pytest.fixture
def demo(cloud: LoopbackCloud) -> ImageClient:
    return ImageClient(cloud.session("demo"))


@pytest.fixture
def alt(cloud: LoopbackCloud) -> ImageClient:
    return ImageClient(cloud.session("alt"))


@pytest.fixture
def admin(cloud: LoopbackCloud) -> ImageClient:
    return ImageClient(cloud.session("admin"))


def _raw(client: ImageClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request the client would not send (or whose headers it hides), with its token."""
    session: Session = client.session
    headers = {"X-Auth-Token": session.token, **kwargs.pop("headers", {})}
    return httpx.request(method, f"{session.endpoint('image')}/{path}", headers=headers, **kwargs)


def _stored_files(cloud: LoopbackCloud) -> list[str]:
    directory = cloud.settings.images_dir
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class FailingReader(io.BytesIO):
    """A source that fails after ``fail_after`` bytes, as a dying disk would."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.fail_after:
            raise OSError("source disk read failed")
        return super().read(size)


class PausingReader(io.BytesIO):
    """A source that stops after ``pause_after`` bytes until ``resume`` is set."""

    def __init__(self, data: bytes, pause_after: int, resume: threading.Event) -> None:
        super().__init__(data)
        self.pause_after = pause_after
        self.resume = resume

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.pause_after:
            assert self.resume.wait(timeout=30)
        return super().read(size)


def _qcow2_header(virtual_size: int) -> bytes:
    header = bytearray(512)
    header[0:4] = b"QFI\xfb"
    header[4:8] = (3).to_bytes(4, "big")
    header[24:32] = virtual_size.to_bytes(8, "big")
    return bytes(header)


# -- versions ---------------------------------------------------------------------------


def test_version_document_offers_v2_for_discovery(cloud: LoopbackCloud) -> None:
    root = httpx.get(cloud.urls["image"] + "/")
    assert root.status_code == 300
    versions = root.json()["versions"]
    assert versions[0] == {
        "id": "v2.16",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": cloud.urls["image"] + "/v2/"}],
    }
    assert {v["status"] for v in versions[1:]} == {"SUPPORTED"}
    assert httpx.get(cloud.urls["image"] + "/v2/").json() == root.json()


# -- create, upload, download ---------------------------------------------------------------


def test_create_upload_download_round_trip(
    cloud: LoopbackCloud, demo: ImageClient, tmp_path: Path
) -> None:
    created = demo.create_image(
        name="cirros",
        disk_format="raw",
        container_format="bare",
        min_disk=1,
        tags=["boot", "boot", "tiny"],
        hw_architecture="x86_64",
    )
    project_id = demo.session.token_info().project_id
    assert created["status"] == "queued"
    assert created["owner"] == project_id
    assert created["visibility"] == "shared"
    assert created["protected"] is False and created["os_hidden"] is False
    assert created["size"] is None and created["checksum"] is None
    assert created["hw_architecture"] == "x86_64"  # additional properties sit at top level
    assert created["tags"] == ["boot", "tiny"]
    image_id = created["id"]
    assert created["self"] == f"/v2/images/{image_id}"
    assert created["file"] == f"/v2/images/{image_id}/file"
    assert created["created_at"].endswith("Z")

    data = os.urandom(3 * MiB + 12345)  # several chunks and a ragged tail
    source = tmp_path / "cirros.raw"
    source.write_bytes(data)
    sent: list[int] = []
    demo.upload(image_id, source, progress=sent.append)
    assert sent[-1] == len(data) and sent == sorted(sent)

    image = demo.get_image(image_id)
    assert image["status"] == "active"
    assert image["size"] == len(data) == image["virtual_size"]
    assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert _stored_files(cloud) == [image_id]  # no temporary files left behind

    received: list[int] = []
    dest = tmp_path / "downloaded.img"
    transfer = demo.download(image_id, dest, progress=received.append)
    assert transfer.matches(image)
    assert dest.read_bytes() == data
    assert received[-1] == len(data)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    raw = _raw(demo, "GET", f"v2/images/{image_id}/file")
    assert raw.headers["Content-Type"] == "application/octet-stream"
    assert raw.headers["Content-Length"] == str(len(data))
    assert raw.headers["Content-MD5"] == image["checksum"]

    by_name = demo.find_image("cirros")
    assert by_name["id"] == image_id and demo.find_image(image_id)["id"] == image_id


def test_upload_rules(cloud: LoopbackCloud, demo: ImageClient, tmp_path: Path) -> None:
    image = demo.create_image(name="disk", disk_format="qcow2", container_format="bare")
    with pytest.raises(ImageDataMissing):
        demo.download(image["id"], tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    assert _raw(demo, "GET", f"v2/images/{image['id']}/file").status_code == 204

    wrong_type = _raw(
        demo,
        "PUT",
        f"v2/images/{image['id']}/file",
        content=b"x",
        headers={"Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415

    header = _qcow2_header(virtual_size=10 << 30)
    demo.upload(image["id"], io.BytesIO(header + b"\0" * 4096))
    active = demo.get_image(image["id"])
    assert active["virtual_size"] == 10 << 30
    assert active["size"] == len(header) + 4096

    with pytest.raises(Conflict) as again:
        demo.upload(image["id"], io.BytesIO(b"more"))
    assert "active" in again.value.message
    assert demo.get_image(image["id"])["checksum"] == active["checksum"]

    formatless = demo.create_image(name="no-format")
    with pytest.raises(BadRequest) as missing:
        demo.upload(formatless["id"], io.BytesIO(b"data"))
    assert "disk_format" in missing.value.message
    assert demo.get_image(formatless["id"])["status"] == "queued"


def test_broken_upload_leaves_no_data_and_image_queued(
    cloud: LoopbackCloud, demo: ImageClient, caplog: pytest.LogCaptureFixture
) -> None:
    image = demo.create_image(name="flaky", disk_format="raw", container_format="bare")
    data = os.urandom(4 * MiB)
    with pytest.raises(OSError, match="source disk read failed"):
        demo.upload(image["id"], FailingReader(data, fail_after=2 * MiB))

    # The client gives up before the service may even have claimed the image, so "queued"
    # alone could be the state before the upload began; wait for the service to see it break.
    _wait_for(
        lambda: any("broke off" in r.getMessage() for r in caplog.records),
        "the service to notice the broken upload",
    )
    assert demo.get_image(image["id"])["status"] == "queued"
    assert _stored_files(cloud) == []
    assert demo.get_image(image["id"])["size"] is None

    demo.upload(image["id"], io.BytesIO(data))  # and it takes a complete upload afterwards
    assert demo.get_image(image["id"])["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_concurrent_upload_conflicts_and_delete_during_upload_cleans_up(
    cloud: LoopbackCloud, demo: ImageClient
) -> None:
    image = demo.create_image(name="slow", disk_format="raw", container_format="bare")
    resume = threading.Event()
    first = ImageClient(cloud.session("demo"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        upload = pool.submit(
            first.upload, image["id"], PausingReader(os.urandom(3 * MiB), MiB, resume)
        )
        _wait_for(lambda: demo.get_image(image["id"])["status"] == "saving", "the upload")

        with pytest.raises(Conflict):
            demo.upload(image["id"], io.BytesIO(b"second"))

        demo.delete_image(image["id"])
        resume.set()
        with pytest.raises(HttpError) as gone:
            upload.result(timeout=30)
    assert gone.value.status == 410
    assert _stored_files(cloud) == []
    with pytest.raises(NotFound):
        demo.get_image(image["id"])


def test_stalled_upload_is_abandoned(
    cloud: LoopbackCloud, demo: ImageClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "IDLE_TIMEOUT_SECONDS", 1.0)
    image = demo.create_image(name="stalled", disk_format="raw", container_format="bare")
    resume = threading.Event()
    uploader = ImageClient(cloud.session("demo"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        upload = pool.submit(
            uploader.upload, image["id"], PausingReader(os.urandom(2 * MiB), MiB, resume)
        )
        _wait_for(lambda: demo.get_image(image["id"])["status"] == "saving", "the upload")
        _wait_for(lambda: demo.get_image(image["id"])["status"] == "queued", "the timeout")
        assert _stored_files(cloud) == []
        resume.set()
        with pytest.raises((HttpError, ConnectionFailed)):
            upload.result(timeout=30)


def test_partial_uploads_of_a_dead_service_are_removed_at_start(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as session:
        uploading = Image(name="still uploading", status="saving", owner="p")
        session.add(uploading)
    engine.dispose()
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    abandoned = images_dir / f".{uuid.uuid4()}.k3j2.part"
    in_progress = images_dir / f".{uploading.id}.x7q1.part"
    for partial in (abandoned, in_progress):
        partial.write_bytes(b"half an image")

    with loopback_cloud(database_url, tmp_path, services=("identity", "image")):
        assert not abandoned.exists()
        assert in_progress.exists()  # its image is "saving": another process may own it


# -- list -------------------------------------------------------------------------------------


def test_list_filters_and_pagination(demo: ImageClient) -> None:
    made = [
        demo.create_image(
            name=f"img-{i}",
            disk_format="raw",
            container_format="bare",
            tags=["even"] if i % 2 == 0 else [],
            os_distro=f"distro-{i % 2}",
        )
        for i in range(5)
    ]
    demo.upload(made[0]["id"], io.BytesIO(b"data"))
    newest_first = [m["id"] for m in reversed(made)]

    assert [i["id"] for i in demo.list_images(limit=2)] == newest_first

    page = _raw(demo, "GET", "v2/images", params={"limit": 2}).json()
    assert [i["id"] for i in page["images"]] == newest_first[:2]
    assert page["first"] == "/v2/images?limit=2"
    assert page["schema"] == "/v2/schemas/images"
    assert page["next"] == f"/v2/images?limit=2&marker={newest_first[1]}"
    last = _raw(demo, "GET", "v2/images", params={"limit": 5}).json()
    assert "next" in last  # a full page may have more behind it, as in Glance
    assert "next" not in _raw(demo, "GET", "v2/images", params={"limit": 6}).json()

    def ids(**filters: Any) -> list[str]:
        return [i["id"] for i in demo.list_images(**filters)]

    assert ids(name="img-3") == [made[3]["id"]]
    assert ids(status="active") == [made[0]["id"]]
    assert ids(os_distro="distro-1") == [made[3]["id"], made[1]["id"]]
    assert ids(tag="even") == [made[4]["id"], made[2]["id"], made[0]["id"]]
    assert ids(visibility="shared") == newest_first
    assert ids(visibility="private") == []
    assert ids(owner=made[0]["owner"]) == newest_first
    assert ids(sort_key="name", sort_dir="asc") == [m["id"] for m in made]
    assert ids(sort="name:asc", limit=1) == [m["id"] for m in made]

    hidden = demo.create_image(name="hidden", os_hidden=True)
    assert hidden["id"] not in ids()
    assert ids(os_hidden=True) == [hidden["id"]]

    for bad in (
        {"marker": "no-such-image"},
        {"limit": "x"},
        {"limit": -1},
        {"visibility": "everyone"},
        {"sort_key": "owner"},
        {"protected": "maybe"},
    ):
        with pytest.raises(BadRequest):
            demo.list_images(**bad)


def test_size_range_filters(demo: ImageClient) -> None:
    sizes = {"small": 3, "medium": 30, "large": 300}
    for name, size in sizes.items():
        made = demo.create_image(name=name, disk_format="raw", container_format="bare")
        demo.upload(made["id"], io.BytesIO(b"x" * size))
    demo.create_image(name="empty")  # no data, no size: never in a size range

    def names(**filters: Any) -> set[str]:
        return {i["name"] for i in demo.list_images(**filters)}

    assert names(size_min=30) == {"medium", "large"}
    assert names(size_max=30) == {"small", "medium"}
    assert names(size_min=4, size_max=299) == {"medium"}
    assert names(size_min=" 3", size_max="3") == {"small"}
    assert names(size_min=301) == set() and names(size_min=30, size_max=3) == set()
    assert names(size_min=-1) == {"small", "medium", "large"}
    for bad in ("big", "1.5", "", "0x10", str(2**63), str(-(2**63) - 1), "9" * 400):
        for key in ("size_min", "size_max"):
            refused = _raw(demo, "GET", "v2/images", params={key: bad})
            assert refused.status_code == 400, (key, bad)
            assert "range" in refused.json()["message"]


def test_size_filter_matches_an_exact_size(demo: ImageClient) -> None:
    """Glance's ``size=N`` (Tempest's test_list_images_param_size): only images of N bytes."""
    for name, size in (("three", 3), ("thirty", 30), ("also-thirty", 30)):
        made = demo.create_image(name=name, disk_format="raw", container_format="bare")
        demo.upload(made["id"], io.BytesIO(b"x" * size))
    demo.create_image(name="empty")  # no data, no size: matches no size

    def names(**filters: Any) -> set[str]:
        return {i["name"] for i in demo.list_images(**filters)}

    assert names(size=30) == {"thirty", "also-thirty"}
    assert names(size="3") == {"three"}
    assert names(size=4) == set() and names(size=0) == set()
    assert names(size=30, name="thirty") == {"thirty"}
    assert names(size=30, size_max=3) == set()
    for bad in ("big", "1.5", "", "in:3,30", str(2**63), str(-(2**63) - 1), "9" * 400):
        refused = _raw(demo, "GET", "v2/images", params={"size": bad})
        assert refused.status_code == 400, bad
        assert "size" in refused.json()["message"]


def test_find_image_by_ambiguous_or_unknown_name(demo: ImageClient) -> None:
    demo.create_image(name="twin")
    demo.create_image(name="twin")
    with pytest.raises(AmbiguousImage, match="2 images are named 'twin'"):
        demo.find_image("twin")
    with pytest.raises(NotFound):
        demo.find_image("nobody")


# -- schemas ----------------------------------------------------------------------------------


def test_schemas_describe_the_documents_served(demo: ImageClient) -> None:
    """What python-glanceclient reads first and validates every image against."""
    schemas = {}
    for name in ("image", "images", "member", "members"):
        got = _raw(demo, "GET", f"v2/schemas/{name}")
        assert got.status_code == 200
        assert got.json()["name"] == name  # what Tempest's schema tests check
        schemas[name] = got.json()
    assert schemas["image"]["additionalProperties"] == {"type": "string"}
    assert schemas["images"]["properties"]["images"]["items"] == schemas["image"]
    assert schemas["members"]["properties"]["members"]["items"] == schemas["member"]

    bare = demo.create_image()
    full = demo.create_image(
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        tags=["boot"],
        min_ram=64,
        os_distro="cirros",
        kernel_id=None,
        ramdisk_id="b1a1e0e7-1b6f-4f53-9d8b-8f6a38d1bb9c",
        hw_disk_bus="virtio",
    )
    demo.upload(full["id"], io.BytesIO(_qcow2_header(1 << 30)))
    validator = jsonschema.Draft4Validator(schemas["image"])
    for image in (bare, full, demo.get_image(full["id"])):
        validator.validate(image)
    listing = _raw(demo, "GET", "v2/images", params={"limit": 1}).json()
    jsonschema.Draft4Validator(schemas["images"]).validate(listing)
    # Each document says where its schema is.
    assert listing["schema"] == "/v2/schemas/images" and bare["schema"] == "/v2/schemas/image"

    assert _raw(demo, "GET", "v2/schemas/nothing").status_code == 404
    anonymous = httpx.get(f"{demo.session.endpoint('image')}/v2/schemas/image")
    assert anonymous.status_code == 401


# -- update -----------------------------------------------------------------------------------


def test_patch_updates_attributes_and_properties(demo: ImageClient) -> None:
    image = demo.create_image(
        name="old",
        disk_format="raw",
        container_format="bare",
        kernel_id="b1a1e0e7-1b6f-4f53-9d8b-8f6a38d1bb9c",
    )
    updated = demo.update_image(
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "new"},
            {"op": "add", "path": "/min_ram", "value": 512},
            {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
            {"op": "replace", "path": "/tags", "value": ["a", "b"]},
            {"op": "remove", "path": "/kernel_id"},
            {"op": "replace", "path": "/disk_format", "value": "qcow2"},
            {"op": "replace", "path": "/visibility", "value": "community"},
        ],
    )
    assert updated["name"] == "new" and updated["min_ram"] == 512
    assert updated["hw_disk_bus"] == "virtio" and "kernel_id" not in updated
    assert updated["tags"] == ["a", "b"] and updated["disk_format"] == "qcow2"
    assert updated["visibility"] == "community"
    assert demo.get_image(image["id"]) == updated

    refusals: list[tuple[list[dict[str, Any]], type[HttpError]]] = [
        ([{"op": "replace", "path": "/status", "value": "active"}], Forbidden),
        ([{"op": "replace", "path": "/size", "value": 1}], Forbidden),
        ([{"op": "replace", "path": "/id", "value": "x"}], Forbidden),
        ([{"op": "remove", "path": "/name"}], Forbidden),
        ([{"op": "replace", "path": "/visibility", "value": "public"}], Forbidden),
        ([{"op": "replace", "path": "/owner", "value": "someone"}], Forbidden),
        ([{"op": "move", "path": "/name", "value": "x"}], BadRequest),
        ([{"op": "replace", "path": "name", "value": "x"}], BadRequest),
        ([{"op": "replace", "path": "/name"}], BadRequest),
        ([{"op": "replace", "path": "/min_ram", "value": "512"}], BadRequest),
        ([{"op": "replace", "path": "/min_disk", "value": -1}], BadRequest),
        ([{"op": "replace", "path": "/protected", "value": "yes"}], BadRequest),
        ([{"op": "add", "path": "/hw_x", "value": 5}], BadRequest),
        ([{"op": "replace", "path": "/no_such_property", "value": "x"}], Conflict),
        # All or nothing: a valid change before a refused one is not applied either.
        (
            [
                {"op": "replace", "path": "/name", "value": "lost"},
                {"op": "remove", "path": "/no_such_property"},
            ],
            Conflict,
        ),
    ]
    for ops, error in refusals:
        with pytest.raises(error):
            demo.update_image(image["id"], ops)
    assert demo.get_image(image["id"]) == updated

    not_a_list = _raw(
        demo,
        "PATCH",
        f"v2/images/{image['id']}",
        content=b'{"op": "add"}',
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert not_a_list.status_code == 400
    json_type = _raw(demo, "PATCH", f"v2/images/{image['id']}", json=[])
    assert json_type.status_code == 415
    assert json_type.headers["Accept-Patch"] == (
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
    )
    assert json_type.json()["code"] == "415 Unsupported Media Type"

    demo.upload(image["id"], io.BytesIO(b"data"))
    with pytest.raises(Forbidden, match="queued"):
        demo.update_image(image["id"], [{"op": "replace", "path": "/disk_format", "value": "raw"}])


def test_patch_in_the_v2_0_dialect(demo: ImageClient) -> None:
    image = demo.create_image(name="old", os_distro="cirros")

    def patch(ops: Any) -> httpx.Response:
        return _raw(
            demo,
            "PATCH",
            f"v2/images/{image['id']}",
            json=ops,
            headers={"Content-Type": "application/openstack-images-v2.0-json-patch"},
        )

    changed = patch(
        [
            {"replace": "/name", "value": "new"},
            {"add": "/os_version", "value": "0.6"},
            {"op": "remove", "remove": "/os_distro"},
        ]
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["name"] == "new" and body["os_version"] == "0.6" and "os_distro" not in body
    # Draft 4's add refuses what exists, base attributes included.
    for ops in ([{"add": "/os_version", "value": "1"}], [{"add": "/name", "value": "x"}]):
        assert patch(ops).status_code == 409
    for ops in (
        [{"value": "x"}],
        [{"op": "replace", "path": "/name", "value": "x"}],  # v2.1's syntax
        [{"op": "move", "move": "/name"}],
        [{"replace": "/name"}],
        [{"replace": "/min_ram", "value": "big"}],
    ):
        assert patch(ops).status_code == 400, ops
    assert patch([{"replace": "/status", "value": "active"}]).status_code == 403
    assert demo.get_image(image["id"]) == body


# -- actions ----------------------------------------------------------------------------------


def test_deactivate_and_reactivate(
    demo: ImageClient, alt: ImageClient, admin: ImageClient, tmp_path: Path
) -> None:
    image = demo.create_image(name="img", disk_format="raw", container_format="bare")

    def act(client: ImageClient, action: str, image_id: str = image["id"]) -> httpx.Response:
        return _raw(client, "POST", f"v2/images/{image_id}/actions/{action}")

    assert act(demo, "deactivate").status_code == 403  # queued: nothing to deactivate
    demo.upload(image["id"], io.BytesIO(b"bits"))
    done = act(demo, "deactivate")
    assert done.status_code == 204 and done.content == b""
    assert demo.get_image(image["id"])["status"] == "deactivated"
    assert act(demo, "deactivate").status_code == 204  # again: a no-op
    assert [i["id"] for i in demo.list_images(status="deactivated")] == [image["id"]]

    refused = _raw(demo, "GET", f"v2/images/{image['id']}/file")
    assert refused.status_code == 403 and "deactivated" in refused.json()["message"]
    admin.download(image["id"], tmp_path / "copy")  # admins still may
    assert (tmp_path / "copy").read_bytes() == b"bits"

    assert act(alt, "reactivate").status_code == 404  # alt cannot see it
    assert act(demo, "reactivate").status_code == 204
    assert demo.get_image(image["id"])["status"] == "active"
    assert act(demo, "reactivate").status_code == 204

    public = admin.create_image(name="golden", visibility="public")
    assert act(demo, "deactivate", public["id"]).status_code == 403  # visible, not owned
    assert act(demo, "deactivate", str(uuid.uuid4())).status_code == 404
    assert act(demo, "explode").status_code == 404
    assert _raw(demo, "GET", f"v2/images/{image['id']}/actions/deactivate").status_code == 405


def test_boot_validation_refuses_a_deactivated_image(
    cloud: LoopbackCloud, demo: ImageClient
) -> None:
    """Nova boots only active images: step 2 reads the image with the user's token."""
    image = demo.create_image(name="img", disk_format="raw", container_format="bare")
    demo.upload(image["id"], io.BytesIO(b"bits"))
    session = demo.session
    check = QuotaActivities(None, cloud.settings, lambda _token: session)  # type: ignore[arg-type]
    flavor = FlavorSpec("1", "m1.tiny", 1, 512, 1)
    assert check._image(image["id"], session.token, flavor).id == image["id"]
    _raw(demo, "POST", f"v2/images/{image['id']}/actions/deactivate")
    with pytest.raises(ApplicationError, match="is not active \\(it is deactivated\\)") as refused:
        check._image(image["id"], session.token, flavor)
    assert refused.value.type == ErrorType.IMAGE_NOT_ACTIVE
    _raw(demo, "POST", f"v2/images/{image['id']}/actions/reactivate")
    assert check._image(image["id"], session.token, flavor).id == image["id"]


# -- members ----------------------------------------------------------------------------------


def test_members_share_an_image_with_another_project(
    demo: ImageClient, alt: ImageClient, admin: ImageClient, tmp_path: Path
) -> None:
    image = demo.create_image(name="shared-img", disk_format="raw", container_format="bare")
    demo.upload(image["id"], io.BytesIO(b"bits"))
    alt_project = alt.session.token_info().project_id
    members = f"v2/images/{image['id']}/members"
    mine = f"{members}/{alt_project}"
    schemas = {n: _raw(demo, "GET", f"v2/schemas/{n}").json() for n in ("member", "members")}

    added = _raw(demo, "POST", members, json={"member": alt_project})
    assert added.status_code == 200
    member = added.json()
    jsonschema.Draft4Validator(schemas["member"]).validate(member)
    assert (member["member_id"], member["image_id"], member["status"]) == (
        alt_project,
        image["id"],
        "pending",
    )
    assert set(member) == {"created_at", "image_id", "member_id", "schema", "status", "updated_at"}
    assert _raw(demo, "POST", members, json={"member": alt_project}).status_code == 409
    assert _raw(demo, "POST", members, json={"member": "third-project"}).status_code == 200

    # Pending: the member sees the image by id but not in its list.
    def alt_names(**filters: Any) -> set[str]:
        return {i["name"] for i in alt.list_images(**filters)}

    assert alt.get_image(image["id"])["name"] == "shared-img"
    assert "shared-img" not in alt_names()
    assert alt_names(member_status="pending") == {"shared-img"}
    listed = _raw(alt, "GET", members).json()
    jsonschema.Draft4Validator(schemas["members"]).validate(listed)
    assert [m["member_id"] for m in listed["members"]] == [alt_project]  # only its own
    owner_view = _raw(demo, "GET", members).json()["members"]
    assert [m["member_id"] for m in owner_view] == [alt_project, "third-project"]
    assert _raw(alt, "GET", f"{members}/third-project").status_code == 404

    # Only the member decides; the owner may not accept for it.
    assert _raw(demo, "PUT", mine, json={"status": "accepted"}).status_code == 403
    accepted = _raw(alt, "PUT", mine, json={"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert alt_names() == {"shared-img"}
    assert alt_names(visibility="shared") == {"shared-img"}
    alt.download(image["id"], tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"bits"
    # A member may not remove itself or change the image.
    assert _raw(alt, "DELETE", mine).status_code == 403
    with pytest.raises(Forbidden):
        alt.update_image(image["id"], [{"op": "replace", "path": "/name", "value": "x"}])

    rejected = _raw(alt, "PUT", mine, json={"status": "rejected"})
    assert rejected.json()["status"] == "rejected"
    assert alt_names() == set() and alt_names(member_status="rejected") == {"shared-img"}
    assert alt.get_image(image["id"])["id"] == image["id"]

    # Made private, the image is no longer shared with anyone; shared again, it is.
    demo.update_image(image["id"], [{"op": "replace", "path": "/visibility", "value": "private"}])
    with pytest.raises(NotFound):
        alt.get_image(image["id"])
    assert _raw(demo, "GET", members).status_code == 403
    assert _raw(demo, "POST", members, json={"member": "x"}).status_code == 403
    demo.update_image(image["id"], [{"op": "replace", "path": "/visibility", "value": "shared"}])
    assert alt.get_image(image["id"])["id"] == image["id"]

    assert _raw(demo, "DELETE", mine).status_code == 204
    with pytest.raises(NotFound):
        alt.get_image(image["id"])
    assert _raw(demo, "GET", mine).status_code == 404
    assert _raw(admin, "POST", members, json={"member": alt_project}).status_code == 200
    demo.delete_image(image["id"])  # its memberships go with it
    assert _raw(demo, "GET", members).status_code == 404


def test_member_requests_are_checked(demo: ImageClient, alt: ImageClient) -> None:
    image = demo.create_image(name="img")
    members = f"v2/images/{image['id']}/members"
    for body in ({}, {"member": ""}, {"member": 5}, {"member": "p" * 256}, ["x"]):
        assert _raw(demo, "POST", members, json=body).status_code == 400, body
    bad_json = _raw(
        demo, "POST", members, content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert _raw(demo, "POST", members, json={"member": "p1"}).status_code == 200
    for body in ({}, {"status": "maybe"}, {"status": None}, "accepted"):
        assert _raw(demo, "PUT", f"{members}/p1", json=body).status_code == 400, body
    for i in range(2, 129):
        assert _raw(demo, "POST", members, json={"member": f"p{i}"}).status_code == 200
    assert _raw(demo, "POST", members, json={"member": "one-too-many"}).status_code == 413
    # Someone who cannot see the image learns nothing about it.
    assert _raw(alt, "GET", members).status_code == 404
    assert _raw(alt, "POST", members, json={"member": "p"}).status_code == 404
    assert _raw(demo, "GET", f"v2/images/{uuid.uuid4()}/members").status_code == 404
    with pytest.raises(BadRequest):
        demo.list_images(member_status="maybe")


# -- delete -----------------------------------------------------------------------------------


def test_delete_removes_data_and_spares_protected_images(
    cloud: LoopbackCloud, demo: ImageClient
) -> None:
    image = demo.create_image(
        name="doomed", disk_format="raw", container_format="bare", protected=True
    )
    demo.upload(image["id"], io.BytesIO(b"bits"))
    with pytest.raises(Forbidden, match="protected"):
        demo.delete_image(image["id"])
    assert _stored_files(cloud) == [image["id"]]

    demo.update_image(image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    demo.delete_image(image["id"])
    assert _stored_files(cloud) == []
    with pytest.raises(NotFound) as gone:
        demo.get_image(image["id"])
    assert gone.value.message == f"No image found with ID {image['id']}"
    with pytest.raises(NotFound):
        demo.delete_image(image["id"])


# -- projects -----------------------------------------------------------------------------------


def test_projects_see_only_what_visibility_allows(
    demo: ImageClient, alt: ImageClient, admin: ImageClient, tmp_path: Path
) -> None:
    private = demo.create_image(
        name="mine", visibility="private", disk_format="raw", container_format="bare"
    )
    demo.upload(private["id"], io.BytesIO(b"secret"))
    shared = demo.create_image(name="shared")
    community = demo.create_image(name="for-all", visibility="community")
    public = admin.create_image(name="golden", visibility="public")

    for image in (private, shared):
        with pytest.raises(NotFound):
            alt.get_image(image["id"])
        with pytest.raises(NotFound):
            alt.download(image["id"], tmp_path / "stolen")
        with pytest.raises(NotFound):
            alt.update_image(image["id"], [{"op": "replace", "path": "/name", "value": "x"}])
        with pytest.raises(NotFound):
            alt.delete_image(image["id"])
    with pytest.raises(NotFound):
        alt.upload(shared["id"], io.BytesIO(b"x"))

    def names(client: ImageClient, **filters: Any) -> set[str]:
        return {i["name"] for i in client.list_images(**filters)}

    assert names(alt) == {"golden"}
    assert names(alt, visibility="community") == {"for-all"}
    assert names(demo) == {"mine", "shared", "for-all", "golden"}
    assert names(admin, visibility="all") == {"mine", "shared", "for-all", "golden"}
    assert alt.get_image(community["id"])["name"] == "for-all"

    # Visible is not owned: changing someone else's public image is forbidden.
    with pytest.raises(Forbidden):
        demo.delete_image(public["id"])
    with pytest.raises(Forbidden):
        alt.update_image(community["id"], [{"op": "replace", "path": "/name", "value": "x"}])
    admin.delete_image(private["id"])  # admins may


def test_only_admins_publish_or_create_for_other_projects(
    demo: ImageClient, admin: ImageClient, alt: ImageClient
) -> None:
    with pytest.raises(Forbidden, match="publicize_image"):
        demo.create_image(name="x", visibility="public")
    with pytest.raises(Forbidden, match="owned by"):
        demo.create_image(name="x", owner="another-project")
    alt_project = alt.session.token_info().project_id
    given = admin.create_image(name="gift", owner=alt_project)
    assert alt.get_image(given["id"])["owner"] == alt_project


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_glance_errors(demo: ImageClient) -> None:
    def post(**kwargs: Any) -> httpx.Response:
        return _raw(demo, "POST", "v2/images", **kwargs)

    malformed = post(content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json() == {
        "message": "Malformed JSON in request body.",
        "code": "400 Bad Request",
        "title": "Bad Request",
    }
    assert post(json=["a list"]).status_code == 400
    assert post(content=b"").status_code == 400
    assert post(json={"name": "x", "pad": "y" * (2 * MiB)}).status_code == 413

    bad_values: list[dict[str, Any]] = [
        {"disk_format": "vhdx"},
        {"container_format": "docker"},
        {"min_ram": "512"},
        {"min_disk": True},
        {"min_disk": 2**31},
        {"protected": "yes"},
        {"name": 5},
        {"name": "n" * 256},
        {"tags": "boot"},
        {"tags": [1]},
        {"visibility": "secret"},
        {"id": "not-a-uuid"},
        {"kernel_id": "not-a-uuid"},
        {"hw_cpu_cores": 4},
    ]
    for fields in bad_values:
        with pytest.raises(BadRequest) as refused:
            demo.create_image(**fields)
        (attribute,) = fields
        assert attribute in refused.value.message  # says which attribute is wrong

    for reserved in (
        "status",
        "size",
        "checksum",
        "os_hash_value",
        "self",
        "location",
        "os_glance_importing",
    ):
        with pytest.raises(Forbidden, match=reserved):
            demo.create_image(**{reserved: "x"})

    chosen = "2c4ad4c9-5c5c-4a0c-9a8e-0b8d3f1f0b11"
    created = post(json={"id": chosen})
    assert created.status_code == 201
    assert created.headers["Location"] == f"/v2/images/{chosen}"
    with pytest.raises(Conflict):
        demo.create_image(id=chosen)
    assert demo.list_images() == [demo.get_image(chosen)]  # nothing refused was created
