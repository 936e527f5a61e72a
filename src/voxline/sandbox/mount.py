"""Install the carrier emulators in an app under /sandbox/{provider}: where sandbox calls are dialed.

Which emulators exist is the telephony registry's to say (each carrier's spec names its emulator as
"module:Class"); the composition root hands that list to `install`, so the sandbox never imports the
carriers' adapters.

The emulators are sealed: they serve only requests carrying a sandbox account's credentials, derived from
the deployment's key (sandbox/credentials.py), which only this server's dialer presents. A request
without them gets the carrier's own 401 answer (the emulator's `refuse`), whatever route it names.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from voxline.sandbox.callee import Script
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import Emulator
from voxline.sandbox.responder import HeardLog
from voxline.sandbox.sip_callee import SipCallee

SANDBOX_PREFIX = "/sandbox"


@functools.cache
def load_stand_in(path: str) -> Any:  # a class with `sandbox_account` (an Emulator or SIP's trunk)
    """A sandbox stand-in class named "module:Class" (a module under voxline.sandbox) that shapes sandbox accounts."""
    module_name, _, class_name = path.partition(":")
    if not module_name.startswith("voxline.sandbox."):
        raise ValueError(f"{path!r} is not a stand-in of voxline.sandbox")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and callable(getattr(cls, "sandbox_account", None))):
        raise TypeError(f"{path!r} shapes no sandbox account")
    return cls


@functools.cache
def load_emulator(path: str) -> type[Emulator]:
    """The emulator class named "module:Class" (a module under voxline.sandbox)."""
    module_name, _, class_name = path.partition(":")
    if not module_name.startswith("voxline.sandbox."):
        raise ValueError(f"{path!r} is not an emulator of voxline.sandbox")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Emulator)):
        raise TypeError(f"{path!r} is not an Emulator")
    return cls


@dataclass
class Sandbox:
    emulators: dict[str, Emulator] = field(default_factory=dict)
    heard: HeardLog = field(default_factory=HeardLog)  # what this app's sandbox responder heard, per session
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


def install(
    app: FastAPI,
    public_base_url: str,
    seal: SandboxSeal,
    emulators: Mapping[str, str],
    custom_lines: Callable[[str], Callable[[str], Awaitable[tuple[str, ...]]]] | None = None,
    default_script: Script | None = None,
    account_setup: Callable[[str], Callable[[dict[str, str]], Mapping[str, Any]]] | None = None,
) -> Sandbox:
    """Mount one emulator per `emulators` entry (provider → "module:Class"); `custom_lines(provider)` is how its
    callee learns a call's own lines, and `account_setup(provider)` what a sandbox account's user configured in
    the carrier's dashboard (the connection's setup settings), if given."""
    sandbox = Sandbox({name: load_emulator(path)(public_base_url) for name, path in emulators.items()})
    for name, emulator in sandbox.emulators.items():
        if emulator.provider != name:
            raise ValueError(f"the emulator for {name} emulates {emulator.provider!r}")
        emulator.seal = seal
        emulator.default_script = default_script
        if custom_lines is not None:
            emulator.custom_lines = custom_lines(name)
        if account_setup is not None:
            emulator.account_setup = account_setup(name)
        app.mount(f"{SANDBOX_PREFIX}/{name}", emulator.app)
    sandbox.sip = SipCallee(seal)
    sandbox.sip.default_script = default_script
    app.mount(f"{SANDBOX_PREFIX}/sip", _sip_app(sandbox.sip))
    app.state.sandbox = sandbox
    return sandbox
