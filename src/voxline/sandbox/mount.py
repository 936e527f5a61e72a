"""Install the carrier emulators in an app under /sandbox/{provider}: where sandbox calls are dialed."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from voxline.sandbox.emulator import Emulator
from voxline.sandbox.exotel import ExotelEmulator
from voxline.sandbox.mcube import MCubeEmulator
from voxline.sandbox.plivo import PlivoEmulator, VobizEmulator
from voxline.sandbox.twilio import TwilioEmulator

SANDBOX_PREFIX = "/sandbox"
EMULATORS: dict[str, type[Emulator]] = {
    "twilio": TwilioEmulator,
    "plivo": PlivoEmulator,
    "vobiz": VobizEmulator,
    "exotel": ExotelEmulator,
    "mcube": MCubeEmulator,
}


@dataclass
class Sandbox:
    emulators: dict[str, Emulator] = field(default_factory=dict)

    def __getitem__(self, provider: str) -> Emulator:
        return self.emulators[provider]

    async def aclose(self) -> None:
        for emulator in self.emulators.values():
            await emulator.aclose()


def install(app: FastAPI, public_base_url: str) -> Sandbox:
    sandbox = Sandbox({name: cls(public_base_url) for name, cls in EMULATORS.items()})
    for name, emulator in sandbox.emulators.items():
        app.mount(f"{SANDBOX_PREFIX}/{name}", emulator.app)
    app.state.sandbox = sandbox
    return sandbox
