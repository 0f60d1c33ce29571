"""What every step process needs before it starts: imported once per Ray worker, in the
forkserver that forks the step processes (`driver.run_step`).

A fresh step process would spend about 7 s here (zenml, then activating every installed
integration: mlflow, bentoml, torch, s3fs, kubernetes, ...), per step, on every run.
"""

from zenml.integrations.registry import integration_registry

integration_registry.activate_integrations()
