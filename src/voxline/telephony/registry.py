"""Every carrier this server knows, listed once: its name, credentials model, adapter and emulator.

Everything else that names carriers derives from `SPECS`: the API's provider enum (`Provider`), the
partner's allowed providers and the CLI's choices (`PROVIDERS`), which carriers can dial (`carrier`), the
sandbox's emulator mounts (`emulators`) and each carrier's REST root setting (`<provider>_api_base` in
Settings, for every carrier with an emulator). tests/unit/test_carrier_registry.py checks they agree.

A new carrier is its module here in telephony/ (a Credentials model and a Carrier), its emulator in
sandbox/, and one line below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal

from voxline.telephony import exotel, mcube, plivo, sip, twilio, vobiz
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import C, Carrier


@dataclass(frozen=True)
class CarrierSpec(Generic[C]):
    provider: str
    credentials: type[C]  # validates what a partner stores; the carrier receives an instance of it
    carrier: Carrier[C] | None  # None: stored, but this build cannot place its calls
    # The emulator sandbox calls are dialed to, as "module:Class": sandbox/mount.py imports it, so that
    # telephony never imports the sandbox (emulators are written from the carrier's documents, not from us).
    emulator: str | None = None
    # A sandbox stand-in that is not an HTTP emulator ("module:Class" with `sandbox_account`): SIP's trunk and
    # callee, which speak SIP/RTP on loopback (sandbox/sip_callee.py; sandbox/mount.py starts it).
    sandbox: str | None = None


SPECS: tuple[CarrierSpec[Any], ...] = (
    CarrierSpec(mcube.PROVIDER, mcube.Credentials, mcube.CARRIER, "voxline.sandbox.mcube:MCubeEmulator"),
    CarrierSpec(twilio.PROVIDER, twilio.Credentials, twilio.CARRIER, "voxline.sandbox.twilio:TwilioEmulator"),
    CarrierSpec(exotel.PROVIDER, exotel.Credentials, exotel.CARRIER, "voxline.sandbox.exotel:ExotelEmulator"),
    CarrierSpec(plivo.PROVIDER, plivo.Credentials, plivo.CARRIER, "voxline.sandbox.plivo:PlivoEmulator"),
    CarrierSpec(vobiz.PROVIDER, vobiz.Credentials, vobiz.CARRIER, "voxline.sandbox.plivo:VobizEmulator"),
    CarrierSpec(sip.PROVIDER, sip.Credentials, sip.CARRIER, sandbox="voxline.sandbox.sip_callee:SipCallee"),
)

_BY_PROVIDER: dict[str, CarrierSpec[Any]] = {spec.provider: spec for spec in SPECS}

PROVIDERS: tuple[str, ...] = tuple(_BY_PROVIDER)
DEFAULT_PROVIDER = "mcube"

if TYPE_CHECKING:
    Provider = str
else:
    Provider = Literal[PROVIDERS]  # the API's enum of provider names (request bodies, OpenAPI), in this order


def spec(provider: str) -> CarrierSpec[Any]:
    return _BY_PROVIDER[provider]


def credentials_model(provider: str) -> type[CarrierCredentials]:
    return _BY_PROVIDER[provider].credentials


def is_known(provider: str) -> bool:
    return provider in _BY_PROVIDER


def carrier(provider: str) -> Carrier[Any] | None:
    """The adapter that dials `provider`, or None when this build cannot place its calls (e.g. SIP)."""
    known = _BY_PROVIDER.get(provider)
    return known.carrier if known else None


def dialable() -> tuple[str, ...]:
    return tuple(s.provider for s in SPECS if s.carrier is not None)


def sandbox_providers() -> tuple[str, ...]:
    """The carriers a test key can call: an HTTP emulator or another sandbox stand-in answers them."""
    return tuple(s.provider for s in SPECS if s.emulator is not None or s.sandbox is not None)


def setup_settings(provider: str, public_base_url: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """What the user of an account with these credential `fields` (a sandbox account) is told to configure at the
    carrier for `provider` (the connection's setup settings): the emulators learn an account's dashboard settings
    (Exotel's Voicebot applet URL) from this, as a user would from the connection, never from our adapter."""
    creds = spec(provider).credentials.model_construct(**fields)
    return dict(creds.setup_settings(public_base_url))


def emulators() -> dict[str, str]:
    """Provider → its emulator ("module:Class"), for the carriers the sandbox can stand in for."""
    return {s.provider: s.emulator for s in SPECS if s.emulator is not None}
