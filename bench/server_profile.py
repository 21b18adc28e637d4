"""Where the Temporal dev server's CPU goes, by what it was doing.

``perf`` samples the server process (call stacks, 499 Hz). The ``temporal`` binary is
stripped, so perf alone shows addresses; Go keeps its own function table (``.gopclntab``)
in every binary for its tracebacks, and that names them here. Each sample is counted once,
under the first category (in the order below) any of its frames belongs to.
"""

from __future__ import annotations

import bisect
import shutil
import signal
import struct
import subprocess
from collections import Counter
from pathlib import Path

SAMPLE_HZ = 499

# (what the server was doing, a substring of a function on the sample's stack)
CATEGORIES: tuple[tuple[str, str], ...] = (
    (
        "visibility: upserted search attributes",
        "visibilityQueueTaskExecutor).processUpsertExecution",
    ),
    ("visibility: start, close and others", "visibilityQueueTaskExecutor).Execute"),
    ("update-with-start", "ExecuteMultiOperation"),
    ("upsert commands", "handleCommandUpsertWorkflowSearchAttributes"),
    ("workflow task completed", "history.(*Handler).RespondWorkflowTaskCompleted"),
    ("workflow task started", "history.(*Handler).RecordWorkflowTaskStarted"),
    ("activity task started", "history.(*Handler).RecordActivityTaskStarted"),
    ("activity task completed", "history.(*Handler).RespondActivityTaskCompleted"),
    ("workflow start", "history.(*Handler).StartWorkflowExecution"),
    ("describe (the bench's latency reads)", "DescribeWorkflowExecution"),
    ("transfer queue", "transferQueueActiveTaskExecutor"),
    ("timer queue", "timerQueueActiveTaskExecutor"),
    ("matching", "service/matching."),
    ("garbage collection", "runtime.gcBgMarkWorker"),
)


class GoSymbols:
    """Function names of a Go (1.20+) ELF binary by address, from its ``.gopclntab``."""

    def __init__(self, binary: Path) -> None:
        elf = binary.read_bytes()
        if elf[:4] != b"\x7fELF" or elf[4] != 2:
            raise ValueError(f"{binary} is not a 64-bit ELF file")
        sections = _sections(elf)
        if ".gopclntab" not in sections:
            raise ValueError(f"{binary} has no .gopclntab (not a Go binary?)")
        text_addr = sections[".text"][0]
        offset, size = sections[".gopclntab"][1:]
        table = elf[offset : offset + size]
        if struct.unpack_from("<I", table)[0] != 0xFFFFFFF1:
            raise ValueError(f"{binary}: .gopclntab is not in the Go 1.20+ format")
        words = struct.unpack_from("<8Q", table, 8)
        nfunc, text_start, names_at, functab_at = words[0], words[2], words[3], words[7]
        text_start = text_start or text_addr
        self.entries: list[int] = []
        self.names: list[str] = []
        for i in range(nfunc):
            entry, func_at = struct.unpack_from("<II", table, functab_at + 8 * i)
            (name_at,) = struct.unpack_from("<i", table, functab_at + func_at + 4)
            start = names_at + name_at
            self.entries.append(text_start + entry)
            self.names.append(table[start : table.index(b"\0", start)].decode(errors="replace"))
        self.text_start = text_start
        self.load_bias = _load_bias(elf, text_addr)

    def name(self, address: int) -> str:
        i = bisect.bisect_right(self.entries, address) - 1
        return self.names[i] if i >= 0 else hex(address)


def _sections(elf: bytes) -> dict[str, tuple[int, int, int]]:
    """Section name -> (address, file offset, size)."""
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    entsize, count, names_index = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", elf, shoff + i * entsize) for i in range(count)]
    names_offset = headers[names_index][4]
    out = {}
    for name_at, _type, _flags, addr, offset, size in headers:
        start = names_offset + name_at
        out[elf[start : elf.index(b"\0", start)].decode()] = (addr, offset, size)
    return out


def _load_bias(elf: bytes, text_addr: int) -> int:
    """Virtual address minus file offset of the loadable segment holding ``.text``."""
    phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    entsize, count = struct.unpack_from("<HH", elf, 0x36)
    for i in range(count):
        kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * entsize
        )
        if kind == 1 and vaddr <= text_addr < vaddr + filesz:  # PT_LOAD
            return int(vaddr - offset)
    return 0


def available() -> str | None:
    """Why the server cannot be profiled here, or None if it can."""
    if shutil.which("perf") is None:
        return "perf is not installed (Debian: linux-perf)"
    return None


def record(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "perf",
            "record",
            "-e",
            "cpu-clock",
            "-F",
            str(SAMPLE_HZ),
            "-g",
            "-p",
            str(pid),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # perf writes what it sampled on SIGINT
    proc.wait()


def _stacks(data: Path, symbols: GoSymbols) -> list[list[str]]:
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "ip"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    raw: list[list[int]] = []
    current: list[int] = []
    for line in script.splitlines():
        text = line.strip()
        if text:
            current.append(int(text, 16))
        elif current:
            raw.append(current)
            current = []
    if current:
        raw.append(current)
    user = [a for stack in raw for a in stack if a < 1 << 63]  # the rest is the kernel's
    # perf prints this binary's addresses as file offsets when it has no symbols for them;
    # any address below the text segment says so.
    bias = symbols.load_bias if user and min(user) < symbols.text_start else 0
    return [
        ["[kernel]" if a >= 1 << 63 else symbols.name(a + bias) for a in stack] for stack in raw
    ]


def by_category(data: Path, symbols: GoSymbols, workflows: int) -> dict[str, float]:
    """Milliseconds of server CPU per workflow, by category, from a perf recording."""
    counts: Counter[str] = Counter()
    for stack in _stacks(data, symbols):
        label = next(
            (name for name, part in CATEGORIES if any(part in frame for frame in stack)),
            "other",
        )
        counts[label] += 1
    per_workflow = 1000 / SAMPLE_HZ / workflows
    out = {name: round(counts[name] * per_workflow, 2) for name, _ in CATEGORIES}
    out["other"] = round(counts["other"] * per_workflow, 2)
    out["total"] = round(sum(counts.values()) * per_workflow, 2)
    return out
