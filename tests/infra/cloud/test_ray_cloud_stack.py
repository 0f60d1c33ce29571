"""The ray-cloud stack, as shipped, end to end on a cloud-shaped localhost (`stacks.localcloud`):
S3 (moto's server), a ZenML server, an MLflow server with its artifacts in that S3, and a Ray head
reached only through its Jobs API, in a mount namespace where the checkout, the temp dir (every
store and config of this session) and the home directory are empty. Its packages are the venv's,
as a cluster image's would be, plus the tiny test model's directory as the image's base model.

So the code reaches the cluster only as the Ray Job's working_dir, artifacts only through S3, run
state only through the ZenML server, metrics only through the MLflow server: the test proves the
head sees none of the rest, then runs `run.py train` as a user would and finds everything where
the stack says it goes.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml

from project.paths import PROJECT_ROOT, TRAIN_CONFIG, TUNE_CONFIG
from stacks.localcloud import BUCKET, ZENML_PREFIX, CloudUnavailableError
from stacks.sandbox import hidden_paths
from tagger.data import LABELS
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS

pytestmark = [pytest.mark.cloud, pytest.mark.slow]
MODEL = "project-tagger"  # configs/deploy.yaml's model: the server is this module's own


@pytest.fixture(scope="module")
def cloud(session_dir: Path, tiny_model_dir: Path):
    from stacks.localcloud import local_cloud

    try:
        with local_cloud(session_dir / "cloud", image=[tiny_model_dir]) as started:
            yield started
    except CloudUnavailableError as exc:
        pytest.skip(str(exc))


def _train_config(session_dir: Path, tiny_params: dict, **parameters) -> Path:
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    config["model"]["name"] = MODEL
    config["parameters"].update(
        train_params=tiny_params, behavior_suite=NO_BEHAVIOR_CASES, **parameters
    )
    path = session_dir / "cloud" / f"train-{len(list(session_dir.glob('cloud/train-*')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(cloud, session_dir: Path, tiny_params: dict) -> dict:
    """`python run.py train` on the active ray-cloud stack, as a user runs it."""
    results = session_dir / "cloud" / "train.json"
    started = time.monotonic()
    done = cloud.run(
        "run.py", "train", "--config", str(_train_config(session_dir, tiny_params)),
        "--results-fp", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return {
        **json.loads(results.read_text()),
        "output": done.stdout + done.stderr,
        "seconds": time.monotonic() - started,
    }


def _job(cloud, job_id: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(cloud.ray.dashboard).get_job_info(job_id)


def _mlflow(cloud, path: str, **params) -> dict:
    response = requests.get(f"{cloud.mlflow_url}/api/2.0/mlflow{path}", params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_head_sees_none_of_the_clients_files(cloud, session_dir: Path, tiny_model_dir: Path):
    """A probe job through the same Jobs API: the checkout, this session's stores and configs and
    the home directory's are empty there, and the project's own package does not import."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    probe = (
        "import json, os, sys\n"
        "seen = {p: sorted(os.listdir(p)) if os.path.isdir(p) else None for p in sys.argv[1:]}\n"
        "try:\n    import tagger\n    seen['tagger'] = tagger.__file__\n"
        "except ImportError:\n    seen['tagger'] = None\n"
        "print('SEEN', json.dumps({'paths': seen, 'env': dict(os.environ)}))\n"
    )
    paths = [*map(str, hidden_paths()), str(Path(cloud.env["ZENML_CONFIG_PATH"]))]
    client = JobSubmissionClient(cloud.ray.dashboard)
    job_id = client.submit_job(entrypoint=shlex.join(["python", "-c", probe, *paths]))
    while not client.get_job_status(job_id).is_terminal():
        time.sleep(0.5)
    assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, client.get_job_logs(job_id)
    line = next(x for x in client.get_job_logs(job_id).splitlines() if x.startswith("SEEN "))
    seen = json.loads(line.removeprefix("SEEN "))
    assert seen["paths"].pop("tagger") is None
    # of what the client has there, only the way down to the image (the venv, its interpreter,
    # the base model) is left; Ray and Python write their own files into the head's empty /tmp
    image = [Path(sys.prefix), Path(sys.base_prefix), tiny_model_dir]
    for path, listing in seen["paths"].items():
        ways = {
            p.resolve().relative_to(path).parts[0]
            for p in image
            if p.resolve().is_relative_to(path)
        }
        ray_files = {"ray"} if path == tempfile.gettempdir() else set()
        clients = {p.name for p in Path(path).iterdir()} if Path(path).is_dir() else set()
        assert listing is None or set(listing) & clients <= ways | ray_files, (path, listing)
    client_paths = (str(PROJECT_ROOT), str(session_dir), cloud.env["ZENML_CONFIG_PATH"])
    # the venv stands in for the cluster image, even where it lies inside the checkout (CI)
    leaked = {
        k: v
        for k, v in seen["env"].items()
        if any(p in v.replace(sys.prefix, "") for p in client_paths)
    }
    assert not leaked


def test_run_py_train_completes_with_everything_where_the_stack_puts_it(cloud, trained):
    # run state: on the ZenML server (which takes logins), every step completed
    run = cloud.zenml_api(f"/runs/{trained['run_id']}", hydrate=True)
    assert run["body"]["status"] == "completed"
    steps = cloud.zenml_api("/steps", pipeline_run_id=trained["run_id"], size=50)["items"]
    assert {s["name"]: s["body"]["status"] for s in steps} == dict.fromkeys(
        TRAINING_STEPS, "completed"
    )

    # the run was one Ray Job: the cluster's python, the code as working_dir, no client paths
    job = _job(cloud, run["metadata"]["run_metadata"]["ray_job_id"])
    assert job.status == "SUCCEEDED"
    assert job.entrypoint == "python -m stacks.ray_orchestrator.supervisor"
    assert job.runtime_env["working_dir"].startswith("gcs://")
    env = job.runtime_env["env_vars"]
    assert env["ZENML_STORE_URL"] == cloud.zenml_url
    assert not {"ZENML_CONFIG_PATH", "ZENML_LOCAL_STORES_PATH"} & set(env)
    assert str(PROJECT_ROOT) not in json.dumps(env)

    # every step's log lines streamed to the user's terminal through the Jobs API
    for step in TRAINING_STEPS:
        assert f":{step} pid=" in trained["output"], step

    # the model version and the promotion decision, on the server
    versions = cloud.zenml_api("/model_versions", model=MODEL, size=10)["items"]
    (version,) = [v for v in versions if v["body"]["number"] == trained["model_version"]]
    assert version["body"]["stage"] == trained["stage"] == "production"
    metadata = cloud.zenml_api(f"/model_versions/{version['id']}", hydrate=True)["metadata"][
        "run_metadata"
    ]
    assert metadata["promotion"]["decision"]["stage"] == "production"
    assert {"dataset", "training", "metrics", "mlflow_run_id"} <= set(metadata)

    # its artifacts: in the bucket under the artifact store's path, objects under each uri
    linked = cloud.zenml_api("/artifact_versions", model_version_id=version["id"], size=50)
    keys = cloud.objects(f"{ZENML_PREFIX}/")
    uris = {a["body"]["artifact"]["name"]: a["body"]["uri"] for a in linked["items"]}
    assert {"dataset", "classifier", "evaluation_report", "promotion_report"} <= set(uris)
    for name, uri in uris.items():
        assert uri.startswith(f"s3://{BUCKET}/{ZENML_PREFIX}/"), (name, uri)
        assert any(k.startswith(uri.removeprefix(f"s3://{BUCKET}/")) for k in keys), name

    # metrics on the MLflow server; its registered model version is the classifier in S3
    mlflow_run = _mlflow(cloud, "/runs/get", run_id=metadata["mlflow_run_id"])["run"]
    assert mlflow_run["info"]["status"] == "FINISHED"
    assert mlflow_run["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
    logged = {m["key"] for m in mlflow_run["data"]["metrics"]}
    assert {"val_f1", "train_loss", "test_f1"} <= logged
    registered = _mlflow(cloud, "/registered-models/get", name=MODEL)["registered_model"]
    (alias,) = [a for a in registered["aliases"] if a["alias"] == "production"]
    mlflow_version = _mlflow(cloud, "/model-versions/get", name=MODEL, version=alias["version"])
    assert mlflow_version["model_version"]["source"] == uris["classifier"]
    assert mlflow_version["model_version"]["run_id"] == metadata["mlflow_run_id"]


def test_a_failing_step_reaches_the_user_as_on_the_local_stack(cloud, session_dir, tiny_params):
    """A path on the client's disk is nowhere on the cluster: `load_data` fails there, and the
    user reads its error, with no traceback of the orchestrator's, and no version is left."""
    here = PROJECT_ROOT / "data" / "projects.csv"
    config = _train_config(session_dir, tiny_params, dataset_loc=str(here))
    done = cloud.run("run.py", "train", "--config", str(config))
    assert done.returncode == 1
    error = done.stderr[done.stderr.index("Error: pipeline run") :]
    assert "step load_data:" in error and str(here) in error, error
    assert "Traceback" not in error
    runs = cloud.zenml_api("/runs", sort_by="desc:created", size=1)["items"]
    assert runs[0]["body"]["status"] == "failed"


def test_run_py_tune_searches_on_the_cluster(cloud, session_dir, tiny_params):
    """`python run.py tune --num-runs 2`: Ray Tune's trials run in the cluster's job, and the
    best config comes back to the client as an artifact in S3."""
    tune_config = yaml.safe_load(TUNE_CONFIG.read_text())
    tune_config["parameters"]["tune_params"].update(
        grace_period=1, space={"learning_rate": {"loguniform": [1e-3, 1e-2]}}
    )
    tune_path = session_dir / "cloud" / "tune.yaml"
    tune_path.write_text(yaml.safe_dump(tune_config))
    results = session_dir / "cloud" / "tune.json"
    done = cloud.run(
        "run.py", "tune", "--config", str(tune_path),
        "--train-config", str(_train_config(session_dir, {**tiny_params, "epochs": 2})),
        "--num-runs", "2", "--results-fp", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    summary = json.loads(results.read_text())
    assert len(summary["trials"]) == 2
    assert 1e-3 <= summary["best_train_params"]["learning_rate"] <= 1e-2
    (run,) = cloud.zenml_api("/runs", sort_by="desc:created", size=1)["items"]
    assert run["body"]["status"] == "completed"
    keys = [key for key in cloud.objects() if key.startswith(f"{ZENML_PREFIX}/")]
    assert any("best_train_params" in key for key in keys), keys[:20]


def test_run_py_deploy_serves_the_version_trained_on_the_cluster(cloud, trained):
    """From a stack of the same S3 store, MLflow server and ZenML server with the local
    orchestrator and the BentoML deployer: the Bento is built from the classifier in S3."""
    from stacks.sandbox import free_port

    zenml = str(Path(sys.executable).with_name("zenml"))
    serving_stack = [
        zenml, "stack", "register", "cloud-serving", "-o", "default", "-a", "s3-artifacts",
        "-e", "mlflow-remote", "-d", "bentoml",
    ]  # fmt: skip
    for command in (serving_stack, [zenml, "stack", "set", "cloud-serving"]):
        done = subprocess.run(command, env=cloud.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    port = free_port()
    try:
        done = cloud.run("run.py", "deploy", "--port", str(port))
        assert done.returncode == 0, done.stderr[-5000:]
        deployed = json.loads(done.stdout[done.stdout.rindex('{\n  "run_id"') :])
        assert deployed["model_version"] == trained["model_version"]
        answer = requests.post(
            f"http://127.0.0.1:{port}/predict",
            json={"title": "YOLO for drones", "description": "object detection"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()[0]["tag"] in LABELS
        status = cloud.run("run.py", "serve-status")
        assert f"model version {trained['model_version']}" in status.stdout, status.stdout
    finally:
        cloud.run("run.py", "undeploy")
        subprocess.run([zenml, "stack", "set", "ray-cloud"], env=cloud.env, timeout=300)
