"""Install the carrier emulators in an app under /sandbox/{provider}: where sandbox calls are dialed.

The emulators are sealed: they serve only requests carrying a sandbox account's credentials, derived from
the deployment's key (sandbox/credentials.py), which only this server's dialer presents. A request
without them gets the carrier's own 401 answer, whatever route it names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import Emulator
from voxline.sandbox.exotel import ExotelEmulator, exotel_error
from voxline.sandbox.mcube import MCubeEmulator, refusal
from voxline.sandbox.plivo import PlivoEmulator, VobizEmulator, plivo_error
from voxline.sandbox.sip_callee import SipCallee
from voxline.sandbox.twilio import TwilioEmulator, twilio_error

SANDBOX_PREFIX = "/sandbox"
EMULATORS: dict[str, type[Emulator]] = {
    "twilio": TwilioEmulator,
    "plivo": PlivoEmulator,
    "vobiz": VobizEmulator,
    "exotel": ExotelEmulator,
    "mcube": MCubeEmulator,
}
# What each carrier answers a request whose credentials it does not know.
REFUSALS: dict[str, Callable[[], Response]] = {
    "twilio": lambda: twilio_error(401, 20003, "Authenticate"),
    "plivo": lambda: plivo_error(401, "Authentication credentials invalid."),
    "vobiz": lambda: plivo_error(401, "Authentication credentials invalid."),
    "exotel": lambda: exotel_error(401, "Authentication is required to view this resource."),
    "mcube": lambda: refusal("Invalid token"),  # MCube answers 200 with status false
}


@dataclass
class Sandbox:
    emulators: dict[str, Emulator] = field(default_factory=dict)
    sip: SipCallee | None = None  # the SIP trunk and callee, on loopback UDP (started on first use)

    def __getitem__(self, provider: str) -> Any:
        """The carrier's emulator (the SIP trunk for "sip": it keeps `scripts` and `calls` alike)."""
        if self.sip is not None and provider == self.sip.provider:
            return self.sip
        return self.emulators[provider]

    async def aclose(self) -> None:
        for emulator in self.emulators.values():
            await emulator.aclose()
        if self.sip is not None:
            await self.sip.aclose()


def _sip_app(callee: SipCallee) -> FastAPI:
    """Where the dialer learns the sandbox trunk's SIP address (the trunk itself speaks SIP, not HTTP). Sealed
    like the emulators: only the partner's sandbox digest account (as Basic credentials) gets an answer."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def trunk(path: str, request: Request) -> JSONResponse:
        if not callee.knows(request.headers.get("authorization", "")):
            return JSONResponse({"error": "Authentication required."}, status_code=401)
        if path != "trunk":
            return JSONResponse({"error": "Not found."}, status_code=404)
        return JSONResponse({"host": callee.host, "port": await callee.start()})

    return app


def install(app: FastAPI, public_base_url: str, seal: SandboxSeal) -> Sandbox:
    sandbox = Sandbox({name: cls(public_base_url) for name, cls in EMULATORS.items()})
    for name, emulator in sandbox.emulators.items():
        emulator.seal = seal
        emulator.refuse = REFUSALS[name]  # type: ignore[method-assign]
        app.mount(f"{SANDBOX_PREFIX}/{name}", emulator.app)
    sandbox.sip = SipCallee(seal)
    app.mount(f"{SANDBOX_PREFIX}/sip", _sip_app(sandbox.sip))
    app.state.sandbox = sandbox
    return sandbox
