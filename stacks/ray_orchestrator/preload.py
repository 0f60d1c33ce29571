"""What every step process needs before it starts: imported once per step host (a detached
actor per node and Python environment, `driver.StepHost`), in the forkserver that forks the
step processes.

A fresh step process would spend about 7 s here (zenml, then activating every installed
integration: mlflow, bentoml, torch, s3fs, kubernetes, ...), per step, on every run; a
forkserver in each run's own Ray worker still 5 s per run. The store clients and the step
entrypoint's own modules are not imported by those, and would cost each step another second or
more (the SQL store alone imports SQLAlchemy, alembic and every table).
"""

import zenml.entrypoints.step_entrypoint_configuration
import zenml.orchestrators.step_launcher
import zenml.zen_stores.rest_zen_store
import zenml.zen_stores.sql_zen_store  # noqa: F401
from zenml.integrations.registry import integration_registry

integration_registry.activate_integrations()
