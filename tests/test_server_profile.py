"""bench/server_profile.py names the stripped Temporal binary's functions from its own
function table, and sorts a perf sample under what the server was doing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.server_profile import CATEGORIES, GoSymbols
from bootflow.stack import temporal_binary


def test_functions_of_the_temporal_binary_are_named_by_address() -> None:
    symbols = GoSymbols(Path(temporal_binary()).resolve())
    for name in ("main.main", "runtime.gcBgMarkWorker"):
        entry = symbols.entries[symbols.names.index(name)]
        assert symbols.name(entry) == name
        assert symbols.name(entry + 1) == name  # an address inside the function
    # Every category names a function the server has (a renamed one would count as "other").
    for label, part in CATEGORIES:
        assert any(part in name for name in symbols.names), label


def test_a_file_that_is_not_a_go_binary_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "not-elf"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="not a 64-bit ELF"):
        GoSymbols(text)
