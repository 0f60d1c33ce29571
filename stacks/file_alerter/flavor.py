"""The file alerter's flavor and config (no implementation import: ZenML loads flavors often)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from zenml.alerter.base_alerter import BaseAlerterConfig, BaseAlerterFlavor

if TYPE_CHECKING:
    from stacks.file_alerter.alerter import FileAlerter

FLAVOR_NAME = "file"


class FileAlerterConfig(BaseAlerterConfig):
    path: str = Field(
        description="JSON-lines file the alerts are appended to (created with its folder)."
    )


class FileAlerterFlavor(BaseAlerterFlavor):
    @property
    def name(self) -> str:
        return FLAVOR_NAME

    @property
    def docs_url(self) -> str | None:
        return None

    @property
    def sdk_docs_url(self) -> str | None:
        return None

    @property
    def logo_url(self) -> str:
        return "https://public-flavor-logos.s3.eu-central-1.amazonaws.com/alerter/slack.png"

    @property
    def config_class(self) -> type[FileAlerterConfig]:
        return FileAlerterConfig

    @property
    def implementation_class(self) -> type[FileAlerter]:
        from stacks.file_alerter.alerter import FileAlerter

        return FileAlerter
