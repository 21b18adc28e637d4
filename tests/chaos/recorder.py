"""Every HTTP answer the campaign gets, and the windows in which faults were live.

The campaign's clients share one httpx client whose response hook records each answer's
status, so a 500 cannot hide behind a client's retry or a caller's ``except``. A 503 is
honest only inside a fault window (a service or its dependency was down or stalled);
any other 5xx, and any 503 outside a window, is a finding.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# How long after a fault ends its effects may still be seen (a restarted process warming
# up, a client's pooled connection to the old one failing once).
WINDOW_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class Answer:
    at: float  # seconds since the campaign began
    method: str
    url: str
    status: int
    body: str  # the start of a 5xx answer's body, for the report


@dataclass
class Window:
    kind: str
    target: str
    start: float
    end: float | None = None

    def covers(self, at: float) -> bool:
        end = (self.end if self.end is not None else float("inf")) + WINDOW_GRACE_SECONDS
        return self.start <= at <= end


@dataclass
class Recorder:
    """Thread-safe log of answers, transport failures and fault windows."""

    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    transport_errors: list[tuple[float, str, str, str]] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def client(self) -> httpx.Client:
        """An httpx client whose every answer is recorded (share it between sessions)."""
        return httpx.Client(
            timeout=httpx.Timeout(60.0, connect=5.0),
            event_hooks={"response": [self._on_response]},
            transport=_RecordingTransport(self),
        )

    def _on_response(self, response: httpx.Response) -> None:
        body = ""
        if response.status_code >= 500:
            response.read()
            body = response.text[:300]
        request = response.request
        answer = Answer(self.now(), request.method, str(request.url), response.status_code, body)
        with self._lock:
            self.answers.append(answer)

    def transport_error(self, request: httpx.Request, exc: Exception) -> None:
        with self._lock:
            self.transport_errors.append(
                (self.now(), request.method, str(request.url), type(exc).__name__)
            )

    def open_window(self, kind: str, target: str) -> Window:
        window = Window(kind, target, self.now())
        with self._lock:
            self.windows.append(window)
        return window

    def close_window(self, window: Window) -> None:
        window.end = self.now()

    def in_window(self, at: float) -> bool:
        with self._lock:
            return any(w.covers(at) for w in self.windows)

    def findings(self) -> list[dict[str, Any]]:
        """Each 5xx that is not an honest 503 inside a fault window."""
        found = []
        for a in list(self.answers):
            if a.status < 500:
                continue
            if a.status == 503 and self.in_window(a.at):
                continue
            why = "500" if a.status == 500 else f"{a.status} outside any fault window"
            found.append(
                {
                    "kind": "http",
                    "resource": "answer",
                    "id": f"{a.method} {a.url}",
                    "server": _server_in(a.url),
                    "detail": f"{why} at {a.at}s: {a.body}",
                }
            )
        return found

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in list(self.answers):
            counts[str(a.status)] = counts.get(str(a.status), 0) + 1
        counts["transport-error"] = len(self.transport_errors)
        return dict(sorted(counts.items()))


def _server_in(url: str) -> str | None:
    parts = url.split("?")[0].rstrip("/").split("/")
    if "servers" in parts:
        i = parts.index("servers")
        if i + 1 < len(parts) and parts[i + 1] not in ("detail",):
            return parts[i + 1]
    return None


class _RecordingTransport(httpx.HTTPTransport):
    """Records requests that got no answer at all (refused, reset, timed out)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError as exc:
            self.recorder.transport_error(request, exc)
            raise
