"""A ZenML orchestrator that runs each step as a Ray task on a Ray cluster (ZenML ships none)."""

from stacks.ray_orchestrator.flavor import (
    RayOrchestratorConfig,
    RayOrchestratorFlavor,
    RayOrchestratorSettings,
)

__all__ = ["RayOrchestratorConfig", "RayOrchestratorFlavor", "RayOrchestratorSettings"]
