"""Every test session gets a throw-away ZenML store and a local stack built from stacks/local.yaml.

The environment is set before anything imports zenml, so the user's own ZenML config,
active stack, artifacts and `.zen/config.yaml` are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from project.paths import PROJECT_ROOT, SHARED_DATASET
from stacks.sandbox import throwaway_env, write_tiny_bert

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="tagger-tests-"))
os.environ.update(throwaway_env(_SESSION_DIR), HF_HUB_OFFLINE="1")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from zenml.utils import source_utils  # noqa: E402

source_utils.set_custom_source_root(str(PROJECT_ROOT))

# a test's folder is its tier; markers select tiers (`-m serving`) and cross-cutting tags (`-m slow`)
_TIER_MARKERS = {
    "serving": "serving",
    "ray": "ray",
    "kubernetes": "kubernetes",
    "model": "behavior",
    "dashboard": "dashboard",
    "cloud": "cloud",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in _TIER_MARKERS:
            item.add_marker(_TIER_MARKERS[folder])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def projects() -> pd.DataFrame:
    from project.paths import DEFAULT_DATASET
    from tagger.data import read_csv

    return read_csv(DEFAULT_DATASET)


@pytest.fixture(scope="session")
def shared_dataset() -> Path:
    if not SHARED_DATASET.exists():
        pytest.skip(f"../shared's dataset is not here ({SHARED_DATASET})")
    return SHARED_DATASET


@pytest.fixture(scope="session")
def tiny_model_dir(session_dir: Path, projects: pd.DataFrame) -> Path:
    """A tiny, randomly initialised BERT and a word-level vocab built from our data: no download."""
    from tagger.data import texts_of

    return write_tiny_bert(session_dir / "tiny-bert", texts_of(projects))


@pytest.fixture(scope="session")
def tiny_params(tiny_model_dir: Path) -> dict:
    """Training parameters that make the tiny model learn the embedded data in seconds.

    With these (and the model's 64-wide layers) every tag, mlops included, scores above the
    promotion floors on every split seed tried; a 32-wide model or a higher rate never learned mlops.
    """
    return {
        "base_model": str(tiny_model_dir),
        "max_length": 64,
        "batch_size": 16,
        "learning_rate": 2e-3,
        "epochs": 12,
        "patience": 12,
        "warmup_ratio": 0.0,
    }


@pytest.fixture(scope="session")
def zenml_stack(session_dir: Path):
    """The project's local stack, registered and activated in the throw-away store."""
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register

    client = Client()
    assert client.root is None, "tests must not use the project's ZenML repository config"
    client.activate_stack(register(load_stack_file(STACKS_DIR / "local.yaml")))
    return client.active_stack_model


@pytest.fixture(scope="session")
def ray_head(session_dir: Path):
    """A real Ray head on localhost (own ports, stopped at teardown), with this session's env.

    Four logical CPUs on a two-core machine: a diamond's branches run side by side and a step
    can hold one CPU while its two Ray Train workers hold the others.
    """
    from stacks.sandbox import start_ray_head

    with start_ray_head(session_dir / "ray", num_cpus=4) as head:
        yield head
        import ray

        ray.shutdown()  # before the head goes, or this process's Ray client waits for it


@pytest.fixture(scope="session")
def ray_stack(zenml_stack, ray_head):
    """The project's ray-local stack, pointed at the session's Ray head."""
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors

    register_flavors()
    os.environ["RAY_ADDRESS"] = ray_head.address
    spec = load_stack_file(STACKS_DIR / "ray-local.yaml")
    return Client().get_stack(register(spec))
