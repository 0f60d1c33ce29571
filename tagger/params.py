"""Parameters from YAML into the config dataclasses: a misspelt key fails loudly, naming it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def known_fields(cls: type, data: dict[str, Any] | None, what: str) -> dict[str, Any]:
    values = dict(data or {})
    if unknown := set(values) - {f.name for f in fields(cls)}:
        raise ValueError(f"unknown {what} parameters: {sorted(unknown)}")
    return values
