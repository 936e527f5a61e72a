"""The telephony registry lists the carriers once: every other list of carriers (the API's provider enum in
/openapi.json, the sandbox's mounts, the REST root settings, the CLI's choices) is the registry's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from voxline import cli
from voxline.accounts import partners
from voxline.api.config import PROVIDER_PATTERN
from voxline.app import create_app
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import Emulator
from voxline.sandbox.mount import install, load_emulator
from voxline.settings import Settings
from voxline.telephony import registry
from voxline.telephony.base import CarrierCredentials

PROVIDERS = [spec.provider for spec in registry.SPECS]


def test_each_provider_is_listed_once() -> None:
    assert len(PROVIDERS) == len(set(PROVIDERS))
    assert list(registry.PROVIDERS) == PROVIDERS
    assert registry.DEFAULT_PROVIDER in PROVIDERS


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda s: s.provider)
def test_a_spec_names_its_own_credentials_adapter_and_emulator(spec: registry.CarrierSpec) -> None:
    assert issubclass(spec.credentials, CarrierCredentials)
    assert registry.credentials_model(spec.provider) is spec.credentials
    assert registry.carrier(spec.provider) is spec.carrier
    if spec.carrier is not None:
        assert spec.carrier.provider == spec.provider
    if spec.emulator is not None:
        emulator = load_emulator(spec.emulator)
        assert issubclass(emulator, Emulator) and emulator.provider == spec.provider


def test_a_carrier_without_an_adapter_is_stored_but_not_dialed() -> None:
    for spec in registry.SPECS:
        assert registry.is_known(spec.provider)
        assert (spec.provider in registry.dialable()) == (spec.carrier is not None), spec.provider
    assert set(registry.emulators()) <= set(registry.dialable()), "an emulator for a carrier we cannot dial"


def _openapi_provider_enums(tmp_path: Path) -> dict[str, list[str]]:
    schemas = create_app(Settings(data_dir=tmp_path)).openapi()["components"]["schemas"]
    return {model: schemas[model]["properties"]["provider"]["enum"] for model in ("StartCallBody", "ConnectionCreate")}


def test_the_apis_provider_enum_is_the_registrys(tmp_path: Path) -> None:
    assert _openapi_provider_enums(tmp_path) == {"StartCallBody": PROVIDERS, "ConnectionCreate": PROVIDERS}
    assert all(re.fullmatch(PROVIDER_PATTERN, p) and re.fullmatch(PROVIDER_PATTERN, p.upper()) for p in PROVIDERS)
    assert not re.fullmatch(PROVIDER_PATTERN, "nocarrier")


def test_the_sandbox_mounts_an_emulator_for_every_carrier_the_registry_names_one_for(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    assert set(app.state.sandbox.emulators) == set(registry.emulators())
    mounted = {route.path for route in app.routes if isinstance(route, Mount) and route.path.startswith("/sandbox/")}
    assert mounted == {f"/sandbox/{p}" for p in registry.sandbox_providers()}  # SIP: where its trunk is


def test_an_emulator_must_emulate_the_carrier_it_is_mounted_for() -> None:
    with pytest.raises(ValueError):
        install(FastAPI(), "http://x", SandboxSeal(b"k" * 32), {"plivo": "voxline.sandbox.twilio:TwilioEmulator"})
    with pytest.raises(ValueError):
        load_emulator("os.path:join")


def test_every_emulated_carrier_has_a_rest_root_setting_and_no_other_does() -> None:
    roots = {name for name in Settings.model_fields if name.endswith("_api_base")}
    assert roots == {f"{p}_api_base" for p in registry.emulators()}


def test_the_cli_and_partner_limits_offer_the_registrys_providers() -> None:
    [option] = [m for m in cli.ProvidersOpt.__metadata__ if hasattr(m, "help")]
    assert option.help.endswith(",".join(PROVIDERS))
    assert partners.parse_providers(",".join(PROVIDERS)) == PROVIDERS
    with pytest.raises(partners.AccountError):
        partners.parse_providers("nocarrier")


@pytest.mark.parametrize("provider", list(registry.emulators()))
def test_an_emulators_sandbox_account_replaces_fields_of_the_carriers_credentials(provider: str) -> None:
    emulator = load_emulator(registry.emulators()[provider])
    seal = SandboxSeal(b"k" * 32)
    account = emulator.sandbox_account(seal, "partner-1")
    assert account and set(account) <= set(registry.credentials_model(provider).model_fields)
    assert account == emulator.sandbox_account(seal, "partner-1") != emulator.sandbox_account(seal, "partner-2")
    assert account != emulator.sandbox_account(SandboxSeal(b"j" * 32), "partner-1"), "another deployment's key"
