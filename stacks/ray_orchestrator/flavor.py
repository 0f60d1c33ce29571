"""The Ray orchestrator's flavor, config and settings.

No Ray import here: ZenML imports flavors whenever it loads a stack, including stacks that never
run on Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import Field
from zenml.config.base_settings import BaseSettings
from zenml.orchestrators import BaseOrchestratorConfig, BaseOrchestratorFlavor

if TYPE_CHECKING:
    from stacks.ray_orchestrator.orchestrator import RayOrchestrator

FLAVOR_NAME = "ray"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def is_jobs_api(address: str) -> bool:
    return address.startswith(("http://", "https://"))


def is_local_address(address: str) -> bool:
    """An address on this machine, where a cluster usually shares the client's files."""
    if address == "auto":
        return True
    return (
        urlparse(address if "://" in address else f"//{address}").hostname or ""
    ) in _LOCAL_HOSTS


class RayOrchestratorSettings(BaseSettings):
    """Per-pipeline knobs; `settings: orchestrator.ray: {...}` in a run config overrides them."""

    address: str = Field(
        default="auto",
        description="`auto` (a cluster started on this machine with `ray start`), "
        "`ray://host:10001` (Ray Client) or `http://host:8265` (Jobs API: the whole run is "
        "submitted as one Ray Job whose driver fans out the steps).",
    )
    shares_files: bool | None = Field(
        default=None,
        description="Whether the cluster's nodes read this machine's files: the client's ZenML "
        "config and local stores, its Python interpreter. Unset: true for an address on this "
        "machine. Set false for a remote cluster reached through a port-forward "
        "(http://127.0.0.1:8265): steps then get nothing but the Jobs API's working_dir, the "
        "ZenML server's address and the stack's remote stores.",
    )
    runtime_env: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra Ray runtime env for every step (pip, env_vars, ...); merged over the "
        "project's working_dir when `ship_code` is on.",
    )
    ship_code: bool = Field(
        default=True,
        description="Upload the project (the ZenML source root) as the runtime env's working_dir: "
        "without an image build ZenML itself ships no code.",
    )
    code_excludes: list[str] = Field(
        default_factory=lambda: [
            ".git",
            ".venv",
            ".zen",
            ".artifacts",
            "mlruns",
            "**/__pycache__",
            "benchmarks/results",
        ]
    )
    synchronous: bool = Field(
        default=True,
        description="Wait for the run to finish. Only Jobs API addresses can run detached: "
        "with `auto` / `ray://` the driver is this process.",
    )
    step_num_cpus: float = Field(
        default=1.0,
        description="CPUs a step reserves when its ResourceSettings name none. A step that "
        "starts Ray Train workers should reserve few, the workers reserve their own.",
    )
    poll_interval_s: float = Field(default=1.0, gt=0)

    @property
    def on_shared_files(self) -> bool:
        if self.shares_files is not None:
            return self.shares_files
        return is_local_address(self.address)


class RayOrchestratorConfig(BaseOrchestratorConfig, RayOrchestratorSettings):
    @property
    def is_synchronous(self) -> bool:
        return self.synchronous

    @property
    def uses_jobs_api(self) -> bool:
        return is_jobs_api(self.address)

    @property
    def is_local(self) -> bool:
        return self.on_shared_files

    @property
    def is_remote(self) -> bool:
        return not self.is_local

    @property
    def supports_client_side_caching(self) -> bool:
        return True


class RayOrchestratorFlavor(BaseOrchestratorFlavor):
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
        return "https://docs.ray.io/en/latest/_static/favicon.ico"

    @property
    def config_class(self) -> type[RayOrchestratorConfig]:
        return RayOrchestratorConfig

    @property
    def implementation_class(self) -> type[RayOrchestrator]:
        from stacks.ray_orchestrator.orchestrator import RayOrchestrator

        return RayOrchestrator
