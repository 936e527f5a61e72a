"""What every carrier module declares about its account credentials.

A carrier's credentials model validates the fields that carrier needs, names which of them are secret,
which one gives the default caller id, and which one identifies the account (shown masked).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from voxline.core.crypto import mask
from voxline.core.phone import InvalidPhoneNumber, parse_e164


def _e164(value: str) -> str:
    try:
        return parse_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"phone number {exc}") from None


E164 = Annotated[str, AfterValidator(_e164)]


class CarrierCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    secret_fields: ClassVar[frozenset[str]] = frozenset()
    caller_id_field: ClassVar[str]
    account_field: ClassVar[str]

    def default_caller_id(self) -> str | None:
        return getattr(self, self.caller_id_field)

    def hint(self) -> str:
        return mask(str(getattr(self, self.account_field)))

    def setup_settings(self, public_base_url: str) -> dict[str, Any]:
        """What the user must configure at the carrier to reach this server (shown with the settings)."""
        return {}

    def public_settings(self) -> dict[str, Any]:
        """Fields safe to show back (never a token or password)."""
        hidden = self.secret_fields | {self.account_field}
        return {k: v for k, v in self.model_dump().items() if k not in hidden}
