"""Settings precedence: keyword arguments, then environment, then the data dir's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_settings


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
