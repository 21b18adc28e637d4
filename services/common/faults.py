"""Test faults for services: answer 503 where the fault plan says so.

Rules at point ``http:<service>`` match ``"<METHOD> <path>"``, e.g.
``{"point": "http:network", "match": "POST /v2.0/ports", "probability": 0.3, "times": 10}``
makes a third of port creates fail, ten times in all: the service is "down for a while".
Only added when BOOTFLOW_FAULT_PLAN names such a point.
"""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.faults import FaultPlan


class HttpFaults:
    def __init__(self, app: ASGIApp, plan: FaultPlan, service: str) -> None:
        self.app = app
        self.plan = plan
        self.point = f"http:{service}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rule = self.plan.take(self.point, f"{scope['method']} {scope['path']}")
            if rule is not None and rule.action == "delay":
                await asyncio.sleep(rule.seconds)
            elif rule is not None:
                response = JSONResponse(
                    {"message": f"{rule.message} (injected)", "code": 503}, status_code=503
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
