"""The step entrypoint inside a Ray worker: zenml's, minus its `chdir("/app")`.

ZenML's entrypoint assumes a container image with the code in `/app`; on Ray the code is the
runtime env's working directory (or the project itself on a local cluster), which is the
current directory here, so that is where sources are resolved from.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zenml.entrypoints.step_entrypoint_configuration import StepEntrypointConfiguration
from zenml.utils import source_utils


class RayStepEntrypointConfiguration(StepEntrypointConfiguration):
    def prepare_code_environment(self) -> None:
        code_dir = str(Path.cwd())
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        source_utils.set_custom_source_root(code_dir)
