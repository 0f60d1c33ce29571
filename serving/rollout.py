"""Rollout plans: which model versions one Bento serves, and which of them answers a request.

- `replace`: production answers every request.
- `shadow`: production answers; the candidate scores the same input off the response's path,
  and both answers are recorded with the request.
- `canary`: the candidate answers a `fraction` of requests, chosen by a stable hash of the
  request's key (its `x-request-id`, else its texts): a repeated request gets the same version.

The plan travels in the Bento's labels, so a served Bento knows it without anything else: at
build time `serving.package` passes it in `TAGGER_ROLLOUT` (the service module declares its models
from it), and a served Bento reads it back from its own `bento.yaml`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["replace", "shadow", "canary"]
PLAN_ENV = "TAGGER_ROLLOUT"
LABEL_PREFIX = "rollout_"
# the version that answered a request, on every /predict response
VERSION_HEADER = "x-model-version"


class RolloutPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = "replace"
    production: str  # BentoML model tags
    candidate: str | None = None
    fraction: float = Field(default=0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _candidate_when_needed(self) -> RolloutPlan:
        if (self.strategy == "replace") != (self.candidate is None):
            raise ValueError(
                f"strategy {self.strategy!r} "
                + (
                    "serves one version: no candidate"
                    if self.strategy == "replace"
                    else "needs a candidate"
                )
            )
        return self

    def labels(self) -> dict[str, str]:
        """The plan as Bento labels (strings)."""
        values = self.model_dump(exclude_none=True)
        return {f"{LABEL_PREFIX}{k}": str(v) for k, v in values.items()}

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> RolloutPlan | None:
        values = {
            k[len(LABEL_PREFIX) :]: v for k, v in labels.items() if k.startswith(LABEL_PREFIX)
        }
        return cls.model_validate(values) if values else None


def current_plan(model_name: str, source_dir: Path) -> RolloutPlan:
    """The plan of the service being imported: `TAGGER_ROLLOUT` while a Bento is built, the
    Bento's own labels while it is served, else production = the newest model (`bentoml serve
    serving.service:TaggerService` from a checkout)."""
    if PLAN_ENV in os.environ:
        return RolloutPlan.model_validate(json.loads(os.environ[PLAN_ENV]))
    bento_file = source_dir.parent / "bento.yaml"  # a Bento's code lives in <bento>/src
    if bento_file.exists():
        plan = RolloutPlan.from_labels(yaml.safe_load(bento_file.read_text()).get("labels") or {})
        if plan is not None:
            return plan
    return RolloutPlan(production=f"{model_name}:latest")


def bucket(key: str) -> float:
    """A request key's stable place in [0, 1): the same key, the same place, in every process."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def candidate_answers(plan: RolloutPlan, key: str) -> bool:
    return plan.strategy == "canary" and bucket(key) < plan.fraction
