"""Settings precedence: keyword arguments, then environment, then the data dir's files; and
the option groups Settings is made of."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.config import (
    DatabaseOptions,
    SchedulerOptions,
    Settings,
    TemporalOptions,
    load_settings,
)


def test_data_dir_file_is_read_for_every_field_including_aliased_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    (tmp_path / "bootflow.json").write_text(
        json.dumps({"temporal_address": "127.0.0.1:17233", "identity_port": 15000})
    )
    (tmp_path / "secrets.json").write_text(json.dumps({"codec_key": "k"}))
    settings = load_settings(tmp_path)
    assert settings.temporal_address == "127.0.0.1:17233"
    assert settings.identity_port == 15000
    assert settings.codec_key.get_secret_value() == "k"


def test_environment_beats_file_and_arguments_beat_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bootflow.json").write_text(
        json.dumps({"temporal_address": "127.0.0.1:17233", "identity_port": 15000})
    )
    monkeypatch.setenv("TEMPORAL_ADDRESS", "10.1.2.3:7233")
    monkeypatch.setenv("BOOTFLOW_IDENTITY_PORT", "16000")
    settings = load_settings(tmp_path)
    assert settings.temporal_address == "10.1.2.3:7233"
    assert settings.identity_port == 16000
    assert load_settings(tmp_path, temporal_address="127.0.0.1:9").temporal_address == (
        "127.0.0.1:9"
    )


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert load_settings(tmp_path).db_url == f"sqlite:///{tmp_path / 'bootflow.db'}"


def _groups() -> list[type[BaseModel]]:
    """The option groups Settings is made of, each with the fields it declares itself."""
    return [
        c
        for c in Settings.__mro__
        if c.__name__.endswith("Options") and c.__module__ == Settings.__module__
    ]


def test_every_field_is_declared_in_exactly_one_group() -> None:
    declared: dict[str, list[str]] = {}
    for group in _groups():
        for name in vars(group).get("__annotations__", {}):
            if name != "model_config":
                declared.setdefault(name, []).append(group.__name__)
    assert set(declared) == set(Settings.model_fields)
    assert {name: groups for name, groups in declared.items() if len(groups) != 1} == {}


def test_environment_names_and_file_keys_are_unchanged_by_the_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bootflow.json").write_text(
        json.dumps({"libvirt_uri": "qemu:///system", "quota_port": 7, "region": "R2"})
    )
    monkeypatch.setenv("BOOTFLOW_SCHEDULER_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("BOOTFLOW_SCHEDULER_FILTERS", '["ComputeFilter"]')
    monkeypatch.setenv("TEMPORAL_ADDRESS", "10.0.0.9:7233")
    monkeypatch.setenv("TEMPORAL_TLS_CA", "/etc/ca.pem")
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret-key")
    monkeypatch.setenv("BOOTFLOW_DATABASE_POOL_SIZE", "3")
    settings = load_settings(tmp_path, host_subset_size=2)
    assert settings.scheduler_max_attempts == 5
    assert settings.scheduler_filters == ["ComputeFilter"]
    assert settings.host_subset_size == 2
    assert settings.temporal_address == "10.0.0.9:7233"
    assert settings.temporal_tls_server_ca_cert_path == "/etc/ca.pem"
    assert settings.temporal_api_key.get_secret_value() == "secret-key"
    assert settings.database_pool_size == 3
    assert settings.libvirt_uri == "qemu:///system"
    assert settings.quota_port == 7
    assert settings.endpoint("compute") == "http://127.0.0.1:8774/v2.1"
    assert settings.region == "R2"
    # The whole settings is every group at once: any part can be handed it.
    assert all(isinstance(settings, group) for group in _groups())


def test_a_group_is_built_alone_with_its_defaults_and_no_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTFLOW_SCHEDULER_MAX_ATTEMPTS", "9")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "10.0.0.9:7233")
    assert SchedulerOptions().scheduler_max_attempts == 3
    assert SchedulerOptions(scheduler_max_attempts=1).scheduler_max_attempts == 1
    # By field name, though the environment calls it TEMPORAL_ADDRESS.
    temporal = TemporalOptions(temporal_address="127.0.0.1:17233", codec_key="k")
    assert temporal.temporal_address == "127.0.0.1:17233"
    assert temporal.codec_key.get_secret_value() == "k"
    assert DatabaseOptions(data_dir=tmp_path).db_url == f"sqlite:///{tmp_path / 'bootflow.db'}"
