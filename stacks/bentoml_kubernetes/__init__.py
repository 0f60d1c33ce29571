"""ZenML's BentoML model deployer extended to a Kubernetes cluster (Deployment + Service + HPA)."""

from stacks.bentoml_kubernetes.flavor import BentoMLKubernetesDeployerFlavor

__all__ = ["BentoMLKubernetesDeployerFlavor"]
