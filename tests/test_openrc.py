"""The openrc files ``bootflow up`` and ``init cloud`` write: one per seeded user, as
devstack's ``accrc/<project>/<user>``, and ``openrc`` (the demo user's); owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from bootflow import seed
from core.config import load_settings


def test_an_openrc_per_user_owner_only(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    (tmp_path / "secrets.json").write_text(
        json.dumps({"admin_password": "admin-pw", "demo_password": "demo-pw"})
    )
    (tmp_path / "openrc").write_text("old")
    (tmp_path / "openrc").chmod(0o644)  # from before: tightened too

    assert seed.write_openrc(settings) == tmp_path / "openrc"
    admin = seed.read_openrc(tmp_path / "accrc" / "admin" / "admin")
    assert (admin["OS_USERNAME"], admin["OS_PROJECT_NAME"]) == ("admin", "admin")
    assert admin["OS_PASSWORD"] == "admin-pw"
    assert admin["OS_AUTH_URL"] == settings.auth_url
    demo = seed.read_openrc(tmp_path / "accrc" / "demo" / "demo")
    assert (demo["OS_USERNAME"], demo["OS_PASSWORD"]) == ("demo", "demo-pw")
    assert seed.read_openrc(tmp_path / "openrc") == demo
    for path in (tmp_path / "accrc", tmp_path / "accrc" / "admin"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for name in ("openrc", "accrc/admin/admin", "accrc/demo/demo"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
