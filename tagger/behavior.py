"""The behavioral suite (Made-With-ML's invariance, directional and minimum-functionality tests)
as data and one function, so a training run, `pytest -m behavior` and a notebook run the same
cases from `configs/behavior.yaml`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from pydantic import Field

from tagger.config import Settings
from tagger.data import join_text
from tagger.model import TextClassifier

MINIMUM_FUNCTIONALITY = "minimum_functionality"
INVARIANCE = "invariance"
DIRECTIONAL = "directional"


class Expected(Settings):
    description: str = ""
    tag: str


class MinimumCase(Settings):
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = ""
    tag: str


class InvarianceCase(Settings):
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = Field(pattern=r"\{fill\}")
    fills: tuple[str, ...] = Field(min_length=2)
    tag: str


class DirectionalCase(Settings):
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    variants: tuple[Expected, ...] = Field(min_length=2)


class BehaviorSuite(Settings):
    minimum_functionality: tuple[MinimumCase, ...] = ()
    invariance: tuple[InvarianceCase, ...] = ()
    directional: tuple[DirectionalCase, ...] = ()

    @classmethod
    def from_yaml(cls, path: str | Path) -> BehaviorSuite:
        return cls.model_validate(yaml.safe_load(Path(path).read_text()) or {})

    def checks(self) -> list[tuple[str, str, str, str, str]]:
        """Every single prediction the suite asks for: (kind, case, title, description, tag)."""
        found = [
            (MINIMUM_FUNCTIONALITY, c.name, c.title, c.description, c.tag)
            for c in self.minimum_functionality
        ]
        for case in self.invariance:
            found += [
                (
                    INVARIANCE,
                    f"{case.name}[{fill}]",
                    case.title,
                    case.description.format(fill=fill),
                    case.tag,
                )
                for fill in case.fills
            ]
        for case in self.directional:
            found += [
                (DIRECTIONAL, f"{case.name}[{i}]", case.title, v.description, v.tag)
                for i, v in enumerate(case.variants)
            ]
        return found


@dataclass(frozen=True)
class CheckResult:
    kind: str
    case: str
    text: str
    expected: str
    predicted: str
    confidence: float

    @property
    def passed(self) -> bool:
        return self.expected == self.predicted


@dataclass
class BehaviorReport:
    results: list[CheckResult]

    def failures(self, kind: str | None = None) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and kind in (None, r.kind)]

    @property
    def blocks_production(self) -> bool:
        """A candidate that misses a minimum-functionality case must not serve."""
        return bool(self.failures(MINIMUM_FUNCTIONALITY))

    def pass_rates(self) -> dict[str, float]:
        rates = {}
        for kind in (MINIMUM_FUNCTIONALITY, INVARIANCE, DIRECTIONAL):
            of_kind = [r for r in self.results if r.kind == kind]
            if of_kind:
                rates[kind] = sum(r.passed for r in of_kind) / len(of_kind)
        return rates

    def to_dict(self) -> dict:
        return {"results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict) -> BehaviorReport:
        return cls([CheckResult(**r) for r in data["results"]])


def run_suite(classifier: TextClassifier, suite: BehaviorSuite) -> BehaviorReport:
    """Every check in one batched forward pass."""
    checks = suite.checks()
    if unknown := sorted({tag for *_, tag in checks} - set(classifier.labels)):
        raise ValueError(f"behavior cases expect tags the model does not have: {unknown}")
    texts = [join_text(title, description) for _, _, title, description, _ in checks]
    probabilities = classifier.predict_proba(texts) if texts else []
    results = []
    for (kind, case, _, _, tag), text, row in zip(checks, texts, probabilities, strict=True):
        best = int(row.argmax())
        results.append(
            CheckResult(kind, case, text, tag, classifier.labels[best], float(row[best]))
        )
    return BehaviorReport(results)
