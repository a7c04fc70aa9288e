"""Notifier settings (`notifiers:` in backend.yaml): where alert transitions go besides MQTT and storage.

Pure models, so reading backend.yaml loads no HTTP client; the notifiers themselves are
`backend/rules_service/notifiers.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pantau.config import Duration


class NotifierModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    give_up_after: Duration = Field(default=timedelta(hours=1), description="Retry one delivery this long")
    retry_cap: Duration = timedelta(minutes=2)
    timeout: Duration = timedelta(seconds=10)
    queue_size: int = Field(default=10_000, ge=1)
    min_severity: int = Field(default=0, ge=0, le=10, description="Only transitions at least this severe")


class WebhookConfig(NotifierModel):
    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str | None = Field(default=None, description="Environment variable holding the HMAC secret")


class TelegramConfig(NotifierModel):
    kind: Literal["telegram"] = "telegram"
    token_env: str = Field(description="Environment variable holding the bot token")
    chat_id: str = Field(pattern=r"^-?[0-9]{1,20}$|^@[A-Za-z0-9_]{5,32}$")
    language: Literal["id", "en", "both"] = "both"
    api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://\S+$")


NotifierConfig = WebhookConfig | TelegramConfig
