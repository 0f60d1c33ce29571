"""Where things are in this checkout. Nothing else computes a path from `__file__`."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIGS_DIR = PROJECT_ROOT / "configs"
TRAIN_CONFIG = CONFIGS_DIR / "train.yaml"
TUNE_CONFIG = CONFIGS_DIR / "tune.yaml"
DEPLOY_CONFIG = CONFIGS_DIR / "deploy.yaml"
BATCH_CONFIG = CONFIGS_DIR / "batch_inference.yaml"
MONITOR_CONFIG = CONFIGS_DIR / "monitor.yaml"
BEHAVIOR_CONFIG = CONFIGS_DIR / "behavior.yaml"
STACKS_DIR = PROJECT_ROOT / "stacks"
DEFAULT_DATASET = PROJECT_ROOT / "data" / "projects.csv"
SHARED_DATASET = PROJECT_ROOT.parent / "shared" / "datasets" / "madewithml" / "dataset.csv"
