"""Model versions across ZenML's Model Control Plane and the MLflow model registry, kept in step."""
