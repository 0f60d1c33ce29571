"""Materializers for the project's own artifact types: plain files, no pickle, any artifact store."""

from materializers.classifier import ClassifierMaterializer
from materializers.dataframe import HashedDataFrameMaterializer
from materializers.predictions import PredictionSetMaterializer
from materializers.reports import (
    BehaviorReportMaterializer,
    EvaluationReportMaterializer,
    ModelCardMaterializer,
    MonitoringReportMaterializer,
    PromotionReport,
    PromotionReportMaterializer,
    ValidationReportMaterializer,
)

__all__ = [
    "BehaviorReportMaterializer",
    "ClassifierMaterializer",
    "EvaluationReportMaterializer",
    "HashedDataFrameMaterializer",
    "ModelCardMaterializer",
    "MonitoringReportMaterializer",
    "PredictionSetMaterializer",
    "PromotionReport",
    "PromotionReportMaterializer",
    "ValidationReportMaterializer",
]
