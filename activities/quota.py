"""Step 2: check the request (seed step 6) and hold the project's quota for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select
from temporalio import activity

from activities import root_volume
from clients.errors import NotFound
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Session
from clients.volume import VolumeClient
from core import activity_defs as act
from core.config import ComputeQuotaOptions
from core.errors import ErrorType, request_error
from core.messages import (
    BootRequest,
    FlavorSpec,
    ImageSpec,
    InstanceRef,
    NetworkSpec,
    RequestContext,
    ValidatedRequest,
    ValidateInput,
    VolumeSpec,
)
from core.validation import is_uuid, server_name_problem
from db import quotas
from db.models.compute import Flavor
from db.session import SessionFactory

GIB = 1 << 30
# Glance's own image fields; every other key in an image's JSON is an additional property.
GLANCE_FIELDS = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "virtual_size",
        "min_disk",
        "min_ram",
        "disk_format",
        "container_format",
        "created_at",
        "updated_at",
        "tags",
        "self",
        "file",
        "schema",
        "locations",
        "direct_url",
    }
)


class QuotaActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        settings: ComputeQuotaOptions,
        user_session: Callable[[str], Session],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        # Image and network are asked with the user's own token, so their visibility rules
        # (another project's private image is "not found") apply exactly as for the user.
        self.user_session = user_session

    def _defaults(self) -> dict[str, int]:
        s = self.settings
        return {
            "instances": s.quota_instances,
            "cores": s.quota_cores,
            "ram": s.quota_ram_mb,
            "disk": s.quota_disk_gb,
        }

    @activity.defn(name=act.VALIDATE_AND_RESERVE.name)
    def validate_and_reserve(self, request: ValidateInput) -> ValidatedRequest:
        """Name, flavor, image, networks, then quota. Key: the instance uuid (a retry
        finds the reservation the first try made and does not count it twice)."""
        boot = request.request
        problem = server_name_problem(boot.name)
        if problem:
            raise request_error(ErrorType.INVALID_REQUEST, problem)
        flavor = self._flavor(boot.flavor_ref)
        existing = None
        if boot.boot_volume is None:
            image = self._image(boot.image_ref, boot.auth_token, flavor)
        else:
            image, existing = self._boot_volume(boot, request.context, flavor)
        networks = self._networks([n.network_id for n in boot.networks], boot.auth_token)

        deltas = {
            "instances": 1,
            "cores": flavor.vcpus,
            "ram": flavor.memory_mb,
            # A server booted from a volume has no local root disk (Nova's is_bfv).
            "disk": 0 if boot.boot_volume else flavor.root_gb,
        }
        try:
            with self.sessions.begin() as session:
                quotas.reserve(
                    session,
                    boot.instance_uuid,
                    request.context.project_id,
                    deltas,
                    self._defaults(),
                )
        except quotas.QuotaExceeded as exc:
            raise request_error(ErrorType.QUOTA_EXCEEDED, str(exc), exc.resource) from exc
        return ValidatedRequest(flavor=flavor, image=image, networks=networks, root_volume=existing)

    def _boot_volume(
        self, boot: BootRequest, context: RequestContext, flavor: FlavorSpec
    ) -> tuple[ImageSpec, VolumeSpec | None]:
        """What a boot from a volume boots (the image's description, with no image id, as
        Nova's volume-backed servers show none) and the existing volume it boots from."""
        spec = boot.boot_volume
        assert spec is not None
        if spec.source_type == "image":
            assert spec.size_gb is not None  # the compute API requires it
            image = self._image(spec.uuid, boot.auth_token, flavor, volume_gb=spec.size_gb)
            return replace(image, id=""), None
        client = VolumeClient(self.user_session(boot.auth_token), project_id=context.project_id)
        volume, image = root_volume.existing_volume(client, spec.uuid)
        root_volume.check_memory(image, flavor)
        return image, volume

    def _flavor(self, ref: str) -> FlavorSpec:
        with self.sessions.begin() as session:
            flavor = session.scalar(
                select(Flavor).where(Flavor.flavorid == ref, Flavor.disabled.is_(False))
            )
            if flavor is None:
                names = ", ".join(
                    f"{f.name} ({f.flavorid})"
                    for f in session.scalars(select(Flavor).order_by(Flavor.memory_mb))
                )
                raise request_error(
                    ErrorType.FLAVOR_NOT_FOUND,
                    f"Flavor {ref} could not be found. Flavors: {names or 'none'}.",
                )
            return FlavorSpec(
                flavor.flavorid, flavor.name, flavor.vcpus, flavor.memory_mb, flavor.root_gb
            )

    def _image(
        self, ref: str, token: str, flavor: FlavorSpec, volume_gb: int | None = None
    ) -> ImageSpec:
        """The image to boot, checked against the flavor's root disk, or (``volume_gb``)
        the size of the volume it is made into."""
        return checked_image(ImageClient(self.user_session(token)), ref, flavor, volume_gb)

    def _networks(self, ids: list[str], token: str) -> list[NetworkSpec]:
        client = NetworkClient(self.user_session(token))
        out = []
        for network_id in ids:
            try:
                network = client.get_network(network_id)
            except NotFound as exc:
                raise request_error(
                    ErrorType.NETWORK_NOT_FOUND, f"Network {network_id} could not be found."
                ) from exc
            out.append(NetworkSpec(network["id"], network.get("name") or network["id"]))
        return out

    @activity.defn(name=act.RELEASE_QUOTA.name)
    def release_quota(self, request: InstanceRef) -> bool:
        """Give the instance's quota back. Key: the instance uuid (a second call finds
        nothing held and changes nothing)."""
        with self.sessions.begin() as session:
            return quotas.release(session, request.instance_uuid)


def checked_image(
    images: ImageClient, ref: str, flavor: FlavorSpec, volume_gb: int | None = None
) -> ImageSpec:
    """The image ``ref`` as the caller sees it, if a server of ``flavor`` can boot it (it
    exists, is active, fits the flavor's disk, or the ``volume_gb`` GiB volume it is made
    into, and the flavor's memory), as Nova checks at create and rebuild; else the request
    error why not."""
    if not is_uuid(ref):
        raise request_error(
            ErrorType.IMAGE_NOT_FOUND,
            f"Invalid imageRef provided: {ref!r} is not an image id (a UUID).",
        )
    try:
        image = images.get_image(ref)
    except NotFound as exc:
        raise request_error(ErrorType.IMAGE_NOT_FOUND, f"Image {ref} could not be found.") from exc
    if image["status"] != "active":
        # Queued images want their data; deactivated ones their owner's reactivate.
        hint = "; upload its data first" if image["status"] == "queued" else ""
        raise request_error(
            ErrorType.IMAGE_NOT_ACTIVE,
            f"Image {ref} is not active (it is {image['status']}){hint}.",
        )
    size = int(image.get("size") or 0)
    min_disk, min_ram = int(image.get("min_disk") or 0), int(image.get("min_ram") or 0)
    if volume_gb is not None:
        root_volume.check_image_fits(ref, size, min_disk, volume_gb)
    elif flavor.root_gb and (size > flavor.root_gb * GIB or min_disk > flavor.root_gb):
        raise request_error(
            ErrorType.INVALID_REQUEST,
            f"Flavor's disk is too small for requested image: flavor {flavor.name} has "
            f"{flavor.root_gb} GiB, the image needs {max(min_disk, -(-size // GIB))} GiB.",
        )
    spec = ImageSpec(
        id=image["id"],
        name=image.get("name") or image["id"],
        size=size,
        disk_format=image.get("disk_format") or "raw",
        checksum=image.get("checksum"),
        min_disk=min_disk,
        min_ram=min_ram,
        os_hash_value=image.get("os_hash_value"),
        properties={
            k: v for k, v in image.items() if k not in GLANCE_FIELDS and isinstance(v, str)
        },
    )
    root_volume.check_memory(spec, flavor)
    return spec
