"""Configuration for every bootflow process, in one place.

Precedence, highest first: explicit keyword arguments, environment variables
(``BOOTFLOW_*``, plus ``TEMPORAL_ADDRESS``/``TEMPORAL_NAMESPACE`` as the Temporal CLI
names them), the data dir's ``bootflow.json`` and ``secrets.json`` (written by
``bootflow up`` on first start), then the defaults below. A process started by
``bootflow up`` therefore needs nothing but ``BOOTFLOW_DATA_DIR``; a deployment on
several machines sets the environment instead.

The fields are declared in groups, one for each component that reads them (DatabaseOptions,
TemporalOptions, HostOptions, ...). ``Settings`` is all the groups at once: a process's entry
point loads it, and every part it builds is handed only the group(s) it reads.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_FILE = "bootflow.json"
SECRETS_FILE = "secrets.json"
DEFAULT_DATA_DIR = ".bootflow"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: the argument, else ``$BOOTFLOW_DATA_DIR``, else ``./.bootflow``."""
    chosen = data_dir or os.environ.get("BOOTFLOW_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


class _DataDirFiles(PydanticBaseSettingsSource):
    """Values from ``<data_dir>/bootflow.json`` and ``<data_dir>/secrets.json``."""

    def __init__(self, settings_cls: type[BaseSettings], data_dir: Path) -> None:
        super().__init__(settings_cls)
        self._values: dict[str, Any] = {}
        for name in (CONFIG_FILE, SECRETS_FILE):
            path = data_dir / name
            if path.exists():
                self._values.update(json.loads(path.read_text()))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if k in self.settings_cls.model_fields}


def _named(*env_names: str, default: Any = "") -> Any:
    """A field read from these environment variables (first set wins) instead of its
    ``BOOTFLOW_`` name: the names the Temporal CLI and SDK read."""
    return Field(default=default, validation_alias=AliasChoices(*env_names))


# Nova's default enabled filters, in its order.
DEFAULT_SCHEDULER_FILTERS = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "CoreFilter",
    "RamFilter",
    "DiskFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "SameHostFilter",
    "DifferentHostFilter",
)


class _Options(BaseModel):
    """A group of settings: the fields one component reads. Built alone (as a unit test
    does) it holds its defaults and what it is given by field name; only Settings reads the
    environment and the data dir's files. A group that cannot work without another's fields
    extends it: the default database is in the data dir, a Temporal client encodes with
    the codec, the service account signs in at identity's endpoint."""

    model_config = ConfigDict(populate_by_name=True)


class PathOptions(_Options):
    """Where a stack keeps its state: the data dir and what lies in it."""

    data_dir: Path = Field(default_factory=resolve_data_dir)
    # Where `make guest` (guest/build.py) leaves the guest image `bootflow up` uploads.
    guest_dir: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parent.parent / ".guest"
    )

    @property
    def logs_dir(self) -> Path:
        """One log file per process of the stack."""
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """The supervisor's lock, status and ready files."""
        return self.data_dir / "run"

    @property
    def images_dir(self) -> Path:
        """The image service's store: one file an image."""
        return self.data_dir / "images"

    @property
    def volumes_dir(self) -> Path:
        """The volume service's file backend: one file a volume."""
        return self.data_dir / "volumes"

    def host_dir(self, host: str) -> Path:
        """A compute host's own state: its image cache (``_base``) and instance dirs."""
        return self.data_dir / "hosts" / host


class DatabaseOptions(PathOptions):
    """The database; by default a file in the data dir."""

    # Empty means the embedded default, a SQLite file in the data dir.
    database_url: str = ""
    # The pool a process keeps (plus as many again in overflow); workers run activities in
    # threads that each hold a session while they run.
    database_pool_size: int = 10

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'bootflow.db'}"


class WorkerOptions(_Options):
    """Worker tuning; docs/performance.md has the runs behind each default."""

    # Activities are sync (SQLAlchemy, httpx and libvirt block), so each runs in a thread:
    # this is the thread count and the worker's max concurrent activities alike.
    worker_activity_threads: int = 32
    # Workflow tasks the control worker runs at once (the SDK's default).
    worker_max_concurrent_workflow_tasks: int = 100
    # Workflows the control worker keeps in memory (the sticky cache), so the next task of a
    # running boot replays nothing; 0 replays the whole history on every task.
    worker_max_cached_workflows: int = 1000
    # Run workflow code in the SDK's sandbox (a fresh import of the workflow module per run,
    # restricted modules); off, the workflows run directly.
    worker_workflow_sandbox: bool = True
    # More modules each worker imports at start and registers the ``WORKFLOWS`` and
    # ``ACTIVITIES`` of (the control worker both, a compute worker the activities), e.g.
    # BOOTFLOW_EXTRA_WORKER_MODULES='["bench.floor"]' (bench/boot.py's floor).
    extra_worker_modules: list[str] = Field(default_factory=list)
    # Test hook: JSON fault plan (see core.faults) of the workers and services; empty in
    # production.
    fault_plan: str = ""
    # Activity pollers of each host of a fleet process (`bootflow up --hypervisor fake`): each
    # is a long poll the Temporal server holds open, 5 a worker by the SDK's default.
    fleet_activity_task_polls: int = 1


class HttpOptions(_Options):
    # HTTP connections a process keeps to the services; reused, so a call costs no handshake.
    http_max_connections: int = 64
    http_max_keepalive_connections: int = 32


class CodecOptions(_Options):
    """Payload encryption: the current key (base64, 32 bytes) and its id, which rides in every
    payload; keys retired by a rotation stay in codec_old_keys ({id: key}) to decode old ones."""

    codec_key: SecretStr = SecretStr("")
    codec_key_id: str = "k1"
    codec_old_keys: dict[str, SecretStr] = Field(default_factory=dict)


class TemporalOptions(CodecOptions):
    """The cluster a Temporal client connects to; its payloads go through the codec."""

    temporal_address: str = _named(
        "TEMPORAL_ADDRESS", "BOOTFLOW_TEMPORAL_ADDRESS", default="127.0.0.1:7233"
    )
    temporal_namespace: str = _named(
        "TEMPORAL_NAMESPACE", "BOOTFLOW_TEMPORAL_NAMESPACE", default="default"
    )
    # A cluster's TLS, mTLS client certificate and API key, under the Temporal CLI's variable
    # names (the SDK's envconfig reads the same; the CLI's older names work too). Each
    # certificate or key is a file (_PATH) or its PEM text (_DATA). TLS is on when any is set.
    temporal_tls: bool | None = _named("TEMPORAL_TLS", default=None)
    temporal_tls_client_cert_path: str = _named(
        "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"
    )
    temporal_tls_client_cert_data: str = _named(
        "TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CERT_DATA"
    )
    temporal_tls_client_key_path: str = _named("TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY")
    temporal_tls_client_key_data: SecretStr = _named(
        "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_KEY_DATA", default=SecretStr("")
    )
    temporal_tls_server_ca_cert_path: str = _named(
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CA"
    )
    temporal_tls_server_ca_cert_data: str = _named(
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA", "TEMPORAL_TLS_CA_DATA"
    )
    # The name the server's certificate is checked against, when it is not the address's host.
    temporal_tls_server_name: str = _named("TEMPORAL_TLS_SERVER_NAME")
    # Accepted only to refuse it: the Python SDK always verifies the server's name.
    temporal_tls_disable_host_verification: bool = _named(
        "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", default=False
    )
    temporal_api_key: SecretStr = _named("TEMPORAL_API_KEY", default=SecretStr(""))


class EndpointOptions(_Options):
    """Where each service listens (bootflow up) and how clients find them."""

    bind_host: str = "127.0.0.1"
    identity_port: int = 5000
    image_port: int = 9292
    network_port: int = 9696
    volume_port: int = 8776
    compute_port: int = 8774
    temporal_ui_port: int = 8233
    # The codec server the Web UI decodes payloads through.
    codec_server_port: int = 8234
    region: str = "RegionOne"
    # The URLs clients reach the services at, as the identity catalog lists them (`bootflow
    # init` and `up` write them there). Empty: http://<bind_host>:<port>, right on one
    # machine. Identity's own is BOOTFLOW_AUTH_URL.
    image_url: str = ""
    network_url: str = ""
    volume_url: str = ""
    compute_url: str = ""

    def url(self, port: int) -> str:
        return f"http://{self.bind_host}:{port}"

    @property
    def auth_url(self) -> str:
        return os.environ.get("BOOTFLOW_AUTH_URL") or f"{self.url(self.identity_port)}/v3"

    def endpoint(self, service: str) -> str:
        """The URL of ``service`` (identity, image, network, volume, compute) in the catalog."""
        if service == "identity":
            return self.auth_url
        given: str = getattr(self, f"{service}_url")
        if given:
            return given.rstrip("/")
        suffix = {"volume": "/v3", "compute": "/v2.1"}.get(service, "")
        return self.url(getattr(self, f"{service}_port")) + suffix


class ServiceAccountOptions(EndpointOptions):
    """The account workers and services use to call each other, as Nova's [service_user],
    at the identity endpoint."""

    service_username: str = "bootflow"
    service_project: str = "service"
    service_password: SecretStr = SecretStr("")


class BootstrapOptions(_Options):
    # The first users' passwords, read by `bootflow init` (`bootflow up` generates them into
    # secrets.json); later changes go through identity's API.
    admin_password: SecretStr = SecretStr("")
    demo_password: SecretStr = SecretStr("")


class TokenOptions(_Options):
    # Key for signing identity tokens (Fernet); only the identity service reads it.
    token_key: SecretStr = SecretStr("")
    token_ttl_seconds: int = 3600
    # How long a service trusts a token validation before asking identity again.
    token_cache_seconds: float = 5.0


class ComputeApiOptions(_Options):
    # How long the compute API waits for a boot or delete to be accepted (Nova's 202) before
    # answering 503; a boot not accepted by then is withdrawn, so it leaves nothing.
    accept_timeout_seconds: float = 60.0
    # The most servers one create request boots (max_count), even with an unlimited quota:
    # each is a workflow the request starts and waits on; docs/design.md says why 100.
    max_servers_per_request: int = 100


class ComputeQuotaOptions(_Options):
    # Quota defaults (Nova's for instances/cores/ram; disk is ours: Nova has none).
    quota_instances: int = 10
    quota_cores: int = 20
    quota_ram_mb: int = 51200
    quota_disk_gb: int = 1000


class NetworkQuotaOptions(_Options):
    # The network service's quotas per project (Neutron's defaults; -1: unlimited).
    quota_network: int = 100
    quota_subnet: int = 100
    quota_port: int = 500
    quota_router: int = 10


class VolumeQuotaOptions(_Options):
    # The volume service's quotas (Cinder's defaults).
    quota_volumes: int = 10
    quota_gigabytes: int = 1000


class HostOptions(_Options):
    """Compute hosts."""

    libvirt_uri: str = "test:///default"
    # The domain type on a real hypervisor: qemu (TCG) works everywhere; kvm only where
    # /dev/kvm does (Nova's [libvirt] virt_type).
    libvirt_virt_type: str = "qemu"
    # Names this stack's domains in a libvirtd that other stacks on the machine may share
    # (qemu:///system); generated on first start and pinned in the data dir.
    deployment_id: str = ""
    # Overrides of what libvirt reports (0: use libvirt's numbers), like Nova's reserved_*.
    host_vcpus: int = 0
    host_memory_mb: int = 0
    host_disk_gb: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # The availability zone this compute host reports (AvailabilityZoneFilter, os-services).
    availability_zone: str = "nova"
    heartbeat_seconds: float = 10.0
    # How often a compute host reaps the guests and ports it holds for instances that should
    # have none there (deleted, moved, failed): what a step that finished late left.
    reap_interval_seconds: float = 60.0
    # How long spawn waits for the guest's ready line before it gives up on the host.
    guest_boot_timeout_seconds: float = 120.0
    # Cached base images no instance on the host uses are removed once unused this long
    # (Nova's remove_unused_original_minimum_age_seconds), checked this often.
    image_cache_max_unused_seconds: float = 86400.0
    image_cache_interval_seconds: float = 2400.0


class SchedulerOptions(_Options):
    """The scheduler, with Nova's names and defaults."""

    scheduler_filters: list[str] = Field(default_factory=lambda: list(DEFAULT_SCHEDULER_FILTERS))
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    build_failure_weight_multiplier: float = 1_000_000.0
    host_subset_size: int = 1
    # Hosts a build may try: the chosen one and up to max_attempts - 1 alternates.
    scheduler_max_attempts: int = 3
    # A host whose heartbeat is older than this is down (Nova's service_down_time): the
    # scheduler passes it over and the compute API shows it down.
    service_down_seconds: float = 60.0

    @property
    def service_down(self) -> timedelta:
        return timedelta(seconds=self.service_down_seconds)


class SupervisorOptions(_Options):
    # `bootflow up`'s supervisor restarts a process that died at once; while it keeps dying
    # before it has stayed up supervisor_stable_seconds, after a delay that doubles from
    # supervisor_backoff_seconds up to supervisor_backoff_max_seconds. It never gives up.
    supervisor_backoff_seconds: float = 1.0
    supervisor_backoff_max_seconds: float = 60.0
    supervisor_stable_seconds: float = 60.0
    # Simulated compute hosts (`bootflow up --hypervisor fake`) one worker process serves; a
    # real hypervisor's hosts are one process each, the production shape.
    hosts_per_process: int = Field(default=250, ge=1)


class Settings(
    BaseSettings,
    DatabaseOptions,
    WorkerOptions,
    HttpOptions,
    TemporalOptions,
    ServiceAccountOptions,
    BootstrapOptions,
    TokenOptions,
    ComputeApiOptions,
    ComputeQuotaOptions,
    NetworkQuotaOptions,
    VolumeQuotaOptions,
    HostOptions,
    SchedulerOptions,
    SupervisorOptions,
):
    """Every group, read from keyword arguments, the environment and the data dir's files.
    A process's entry point holds it; each part it builds takes only its group(s)."""

    model_config = SettingsConfigDict(env_prefix="BOOTFLOW_", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = resolve_data_dir(init_settings().get("data_dir"))
        return (init_settings, env_settings, _DataDirFiles(settings_cls, data_dir))


def load_settings(data_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    return Settings(data_dir=resolve_data_dir(data_dir), **overrides)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once (readers never see half), owner-only however
    the file was before."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(partial, path)


def write_json_private(path: Path, values: dict[str, Any]) -> None:
    """Write a JSON file readable only by its owner (it may hold secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")
