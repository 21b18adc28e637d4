from __future__ import annotations

import pytest

from core.validation import is_uuid, server_name_problem


@pytest.mark.parametrize("name", ["vm1", "a", "x" * 255, "web server 2", "ünïcode-名前"])
def test_valid_names(name: str) -> None:
    assert server_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("x" * 256, "256 characters"),
        (" vm", "whitespace"),
        ("vm ", "whitespace"),
        ("vm\x07", "control characters"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    problem = server_name_problem(name)
    assert problem is not None and why in problem


def test_uuid() -> None:
    assert is_uuid("5f0f4d8e-4c0b-4a57-9d58-8f0c6b0b7a11")
    assert not is_uuid("not-a-uuid")
