"""Alerts as JSON lines in a file (time, stack, pipeline run, message) and a WARNING in the log:
what cron, CI or a person tails on a machine without a chat service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from zenml.alerter.base_alerter import BaseAlerter, BaseAlerterStepParameters
from zenml.logger import get_logger

from stacks.file_alerter.flavor import FileAlerterConfig

logger = get_logger(__name__)


class FileAlerter(BaseAlerter):
    @property
    def config(self) -> FileAlerterConfig:
        return cast(FileAlerterConfig, self._config)

    def post(self, message: str, params: BaseAlerterStepParameters | None = None) -> bool:
        entry = {"time": datetime.now(UTC).isoformat(), "alerter": self.name, "message": message}
        try:
            from zenml import get_step_context

            context = get_step_context()
            entry["pipeline_run"] = context.pipeline_run.name
            entry["step"] = context.step_run.name
        except RuntimeError:
            pass  # posted outside a step: no run to name
        logger.warning("alert: %s", message)
        path = Path(self.config.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        except OSError as exc:
            logger.error("alert not written to %s: %s", path, exc)
            return False
        return True

    def ask(self, question: str, params: BaseAlerterStepParameters | None = None) -> bool:
        """A file cannot answer: the question is posted and the answer is no."""
        self.post(question, params)
        return False
