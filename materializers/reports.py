"""Stores the validation, evaluation, behavior and promotion reports as JSON, with an HTML view
for the dashboard."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from materializers.visualizations import (
    behavior_html,
    evaluation_html,
    monitoring_html,
    promotion_html,
    validation_html,
)
from tagger.behavior import BehaviorReport
from tagger.evaluation import EvaluationReport
from tagger.model_card import ModelCard
from tagger.monitoring import MonitoringReport
from tagger.validation import ValidationReport

REPORT_FILE = "report.json"
CARD_FILE = "model_card.md"


class _JsonReportMaterializer(BaseMaterializer):
    """A report dataclass with `to_dict` / `from_dict`, stored as one JSON file."""

    SKIP_REGISTRATION: ClassVar[bool] = True
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS
    render: ClassVar[Callable[[Any], str]]

    def load(self, data_type: type[Any]) -> Any:
        with fileio.open(os.path.join(self.uri, REPORT_FILE), "r") as f:
            return data_type.from_dict(json.load(f))

    def save(self, data: Any) -> None:
        with fileio.open(os.path.join(self.uri, REPORT_FILE), "w") as f:
            json.dump(data.to_dict(), f, indent=2)

    def save_visualizations(self, data: Any) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "report.html")
        with fileio.open(uri, "w") as f:
            f.write(type(self).render(data))
        return {uri: VisualizationType.HTML}


class ValidationReportMaterializer(_JsonReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ValidationReport,)
    render = staticmethod(validation_html)

    def extract_metadata(self, data: ValidationReport) -> dict[str, MetadataType]:
        return {
            "success": data.success,
            "row_count": data.row_count,
            "failed_expectations": [f.describe() for f in data.failures],
        }


class EvaluationReportMaterializer(_JsonReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (EvaluationReport,)
    render = staticmethod(evaluation_html)

    def extract_metadata(self, data: EvaluationReport) -> dict[str, MetadataType]:
        return {k: round(v, 4) for k, v in data.metrics().items()}


class BehaviorReportMaterializer(_JsonReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (BehaviorReport,)
    render = staticmethod(behavior_html)

    def extract_metadata(self, data: BehaviorReport) -> dict[str, MetadataType]:
        return {
            "blocks_production": data.blocks_production,
            "pass_rates": data.pass_rates(),
            "failed_checks": [f"{r.kind}/{r.case}" for r in data.failures()],
        }


class MonitoringReportMaterializer(_JsonReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (MonitoringReport,)
    render = staticmethod(monitoring_html)

    def extract_metadata(self, data: MonitoringReport) -> dict[str, MetadataType]:
        return {
            "rows": data.rows,
            "alarms": [c.name for c in data.alarms],
            "metrics": {k: round(v, 6) for k, v in data.metrics().items()},
        }


@dataclass(frozen=True)
class PromotionReport:
    """What promotion decided and the registry it left, as an artifact of the run: the
    open-source dashboard opens a run's artifacts, while its model pages are ZenML Pro."""

    model: str
    candidate: int
    previous_production: int | None  # the production version the decision was judged against
    decision: dict[str, Any]  # tagger.promotion.Decision.to_dict()
    versions: list[dict[str, Any]] = field(default_factory=list)  # registry.stages.VersionRow

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionReport:
        return cls(**data)


def _promotion_view(report: PromotionReport) -> str:
    return promotion_html(
        report.model,
        report.candidate,
        report.previous_production,
        report.decision,
        report.versions,
    )


class PromotionReportMaterializer(_JsonReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PromotionReport,)
    render = staticmethod(_promotion_view)

    def extract_metadata(self, data: PromotionReport) -> dict[str, MetadataType]:
        metadata: dict[str, MetadataType] = {
            "stage": data.decision.get("stage", "-"),
            "candidate": data.candidate,
        }
        if data.previous_production is not None:
            metadata["previous_production"] = data.previous_production
        return metadata


class ModelCardMaterializer(BaseMaterializer):
    """The card as `model_card.md`, shown as Markdown on the dashboard."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ModelCard,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def load(self, data_type: type[Any]) -> ModelCard:
        with fileio.open(os.path.join(self.uri, CARD_FILE), "r") as f:
            return ModelCard(f.read())

    def save(self, data: ModelCard) -> None:
        with fileio.open(os.path.join(self.uri, CARD_FILE), "w") as f:
            f.write(data.markdown)

    def save_visualizations(self, data: ModelCard) -> dict[str, VisualizationType]:
        return {os.path.join(self.uri, CARD_FILE): VisualizationType.MARKDOWN}
