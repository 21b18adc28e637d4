"""A client for the block storage API (Cinder v3), built-in or a real cloud's.

It pins one microversion (3.44: the attachment API with ``os-complete``, as Nova uses it),
puts the project id into every path as Cinder's endpoints expect, and returns plain dicts.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Collection, Iterator
from typing import Any, Final

from clients.errors import ClientError
from clients.session import Session

SERVICE_TYPE: Final = "volumev3"
DEFAULT_MICROVERSION: Final = "3.44"


class VolumeFailed(ClientError):
    """The volume went to ``error`` while we waited for it."""


class VolumeWaitTimeout(ClientError, TimeoutError):
    """The volume did not reach the wanted status in time."""


class VolumeClient:
    """Cinder v3 calls for one project (default: the session token's project)."""

    def __init__(
        self,
        session: Session,
        project_id: str | None = None,
        *,
        microversion: str = DEFAULT_MICROVERSION,
    ) -> None:
        self.session = session
        self._project_id = project_id
        self.headers = {"OpenStack-API-Version": f"volume {microversion}"}

    @property
    def project_id(self) -> str:
        return self._project_id or self.session.token_info().project_id

    def _prefix(self) -> str:
        """The project part of paths; empty if the catalog's endpoint already ends with it."""
        endpoint = self.session.endpoint(SERVICE_TYPE)
        last = urllib.parse.urlsplit(endpoint).path.rstrip("/").rsplit("/", 1)[-1]
        if last == self.project_id:
            return ""
        # A user's token handed to us (Session.acting_as) carries no project of its own here.
        token_project = self.session.token_info().body.get("project", {}).get("id")
        if last == token_project:
            raise ClientError(
                f"the catalog's {SERVICE_TYPE} endpoint is bound to project {token_project}; "
                f"it cannot address project {self.project_id}"
            )
        return f"{self.project_id}/"

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            SERVICE_TYPE, method, f"{self._prefix()}{path}", headers=self.headers, **kwargs
        )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- volumes ------------------------------------------------------------------------------

    def create_volume(
        self,
        size_gb: int,
        *,
        name: str | None = None,
        description: str | None = None,
        image_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Ask for a volume; it comes back ``creating`` (see ``wait_for_status``)."""
        body: dict[str, Any] = {"size": size_gb}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if image_id is not None:
            body["imageRef"] = image_id
        if metadata is not None:
            body["metadata"] = metadata
        volume: dict[str, Any] = self._request("POST", "volumes", json={"volume": body})["volume"]
        return volume

    def get_volume(self, volume_id: str) -> dict[str, Any]:
        volume: dict[str, Any] = self._request("GET", f"volumes/{volume_id}")["volume"]
        return volume

    def wait_for_status(
        self,
        volume_id: str,
        statuses: Collection[str],
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll until the volume's status is one of ``statuses``; the volume then.

        Raises VolumeFailed if it goes to ``error`` (unless that is wanted), VolumeWaitTimeout
        after ``timeout`` seconds, NotFound if it disappears.
        """
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            volume = self.get_volume(volume_id)
            status = volume["status"]
            if status in wanted:
                return volume
            if status == "error":
                raise VolumeFailed(f"volume {volume_id} went to error (wanted {sorted(wanted)})")
            if time.monotonic() + delay > deadline:
                raise VolumeWaitTimeout(
                    f"volume {volume_id} still {status} after {timeout:.0f}s "
                    f"(wanted {sorted(wanted)})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def list_volumes(self, detail: bool = True, **filters: Any) -> list[dict[str, Any]]:
        """Every volume matching ``filters`` (name, status, limit, ...), all pages followed."""
        return list(self._pages("volumes/detail" if detail else "volumes", filters))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        query = {k: str(v) for k, v in params.items() if v is not None}
        while True:
            body = self._request("GET", path, params=query)
            yield from body["volumes"]
            following = [link for link in body.get("volumes_links", []) if link["rel"] == "next"]
            if not following or not body["volumes"]:
                return
            # The next link repeats our query with a marker; keep the path we know works.
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(following[0]["href"]).query))

    def delete_volume(self, volume_id: str) -> None:
        """Ask for the volume's deletion (it must be available or error, with no attachments)."""
        self._request("DELETE", f"volumes/{volume_id}")

    # -- attachments --------------------------------------------------------------------------

    def create_attachment(
        self,
        volume_id: str,
        instance_uuid: str,
        connector: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Reserve the volume for the server; with a connector, also export it to that host."""
        body = {
            "attachment": {
                "volume_uuid": volume_id,
                "instance_uuid": instance_uuid,
                "connector": connector,
            }
        }
        attachment: dict[str, Any] = self._request("POST", "attachments", json=body)["attachment"]
        return attachment

    def update_attachment(self, attachment_id: str, connector: dict[str, Any]) -> dict[str, Any]:
        """Give a reserved attachment its host's connector; the answer has connection_info."""
        body = {"attachment": {"connector": connector}}
        attachment: dict[str, Any] = self._request(
            "PUT", f"attachments/{attachment_id}", json=body
        )["attachment"]
        return attachment

    def complete_attachment(self, attachment_id: str) -> None:
        """The host has connected the volume: it becomes ``in-use``."""
        self._request("POST", f"attachments/{attachment_id}/action", json={"os-complete": None})

    def delete_attachment(self, attachment_id: str) -> list[dict[str, Any]]:
        """Detach; returns the volume's remaining attachments."""
        body = self._request("DELETE", f"attachments/{attachment_id}")
        remaining: list[dict[str, Any]] = body["attachments"] if body else []
        return remaining

    def list_attachments(self, **filters: Any) -> list[dict[str, Any]]:
        """Attachments (summary view) matching ``filters`` (volume_id, instance_id, status)."""
        query = {k: str(v) for k, v in filters.items() if v is not None}
        found: list[dict[str, Any]] = self._request("GET", "attachments", params=query)[
            "attachments"
        ]
        return found

    def get_attachment(self, attachment_id: str) -> dict[str, Any]:
        attachment: dict[str, Any] = self._request("GET", f"attachments/{attachment_id}")[
            "attachment"
        ]
        return attachment

    # -- quotas ---------------------------------------------------------------------------

    def quota_usage(self, project_id: str | None = None) -> dict[str, Any]:
        """The project's quota set with usage: {"volumes": {"limit", "in_use", ...}, ...}."""
        target = project_id or self.project_id
        quota_set: dict[str, Any] = self._request(
            "GET", f"os-quota-sets/{target}", params={"usage": "true"}
        )["quota_set"]
        return quota_set


def legacy_connection_info(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attachment's connection info as Nova hands it to its volume drivers.

    Cinder's attachment API flattens the driver's ``data`` beside ``driver_volume_type``;
    Nova nests it again (nova.volume.cinder._translate_attachment_ref) and adds the volume
    id as ``serial`` (nova.virt.block_device).
    """
    flat = dict(attachment.get("connection_info") or {})
    if not flat:
        raise ClientError(f"attachment {attachment.get('id')} has no connection info yet")
    flat.pop("attachment_id", None)
    driver_volume_type = flat.pop("driver_volume_type", None)
    return {
        "driver_volume_type": driver_volume_type,
        "data": flat,
        "serial": attachment.get("volume_id"),
    }
