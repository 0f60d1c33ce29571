"""`python run.py` on the kubernetes stack, end to end: train -> promote -> deploy on a cluster.

The cluster is a stand-in, because none can exist here (no container runtime, no kube-apiserver or
kubelet): kmock's API server and this tier's fake kubelet (`tests/infra/kubernetes/cluster.py`,
which says what stands in for what). Everything else is real and as deployed: stacks/kubernetes.yaml
registered by `stacks.register` (the Slack alerter swapped for the file alerter, as Slack cannot be
reached), zenml's own Kubernetes orchestrator submitting the orchestrator Job, its orchestrator pod
creating one Job per step, the steps reporting to a ZenML server (logins, an API token per run,
handed to the pods as a Kubernetes secret), artifacts in S3 (moto's server), metrics on an MLflow
server, and the project's bentoml-kubernetes deployer creating the Deployment and Service whose
pod serves the Bento that the smoke test step then calls through the Service's name.

What a cluster would do and this one does not: pull images (the local venv and the project
checkout stand in for the project's image, and a Bento store the pods share for the Bento's image
that Kaniko would build: the stack's deployer names a prebuilt `image`, so no build runs), enforce
resources, node selectors, service accounts or image pull secrets, or give pods real networking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from project.paths import DEPLOY_CONFIG, TRAIN_CONFIG
from stacks.localcloud import CloudUnavailableError
from tagger.data import LABELS
from tests.helpers import NO_BEHAVIOR_CASES, TRAINING_STEPS
from tests.infra.kubernetes.cluster import (
    FakeApiServer,
    FakeKubelet,
    bento_image,
    pipeline_image,
    write_kubeconfig,
)

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow]
pytest.importorskip("kmock")

IMAGE = "registry.example.com/tagger/project-tagger:ci"  # the project's image, pushed by CI
BENTO_IMAGE = "registry.example.com/tagger/project-tagger-bento:ci"  # the Bento's, likewise
CONTEXT, NAMESPACE = "tagger-cluster", "tagger"
MODEL = "project-tagger"


@pytest.fixture(scope="module")
def cluster(session_dir: Path, tiny_model_dir: Path) -> Iterator[dict[str, Any]]:
    """The API server, a kubeconfig for it, and the kubelet running its pods."""
    root = session_dir / "cluster"
    root.mkdir()
    with FakeApiServer() as api_server:
        kubeconfig = write_kubeconfig(root / "kubeconfig", api_server.url, CONTEXT, NAMESPACE)
        store = root / "bento-images"
        images = {
            IMAGE: pipeline_image(store, paths=(tiny_model_dir,)),
            BENTO_IMAGE: bento_image(store),
        }
        with FakeKubelet(
            kubeconfig, CONTEXT, NAMESPACE, api_server, images, root / "pods"
        ) as kubelet:
            yield {"api": api_server, "kubeconfig": kubeconfig, "kubelet": kubelet}
            assert kubelet.errors == [], kubelet.errors[-1]


@pytest.fixture(scope="module")
def cloud(session_dir: Path, cluster: dict[str, Any]):
    from stacks.localcloud import local_cloud
    from stacks.sandbox import free_port

    env = {
        "KUBECONFIG": str(cluster["kubeconfig"]),
        "TAGGER_KUBE_CONTEXT": CONTEXT,
        "TAGGER_KUBE_NAMESPACE": NAMESPACE,
        "TAGGER_REGISTRY_URI": "registry.example.com/tagger",
    }
    deployer = {"image": BENTO_IMAGE, "port": free_port()}
    try:
        with local_cloud(
            session_dir / "k8s-cloud",
            stack_name="kubernetes",
            env=env,
            components={"model_deployer": deployer},
        ) as started:
            yield started
    except CloudUnavailableError as exc:
        pytest.skip(str(exc))


def _config(source: Path, target: Path, **parameters: Any) -> Path:
    """A run config as shipped, on the CI image (no build), with the given parameters."""
    from stacks.kubernetes_manifests import prebuilt_image_settings

    config = yaml.safe_load(source.read_text())
    config["model"]["name"] = MODEL
    config["parameters"].update(parameters)
    config["settings"] |= prebuilt_image_settings(IMAGE)
    # the orchestrator pod looks at its step Jobs every second, not every three
    config["settings"]["orchestrator.kubernetes"]["job_monitoring_interval"] = 1
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.fixture(scope="module")
def ran(cloud, cluster, session_dir: Path, tiny_params: dict) -> dict[str, Any]:
    """What `python run.py` does (train, then deploy production), as its two commands: each
    names a config copy that runs on the CI image."""
    work = session_dir / "k8s-cloud"
    # four epochs and no floors: this test is about the cluster, not the model's quality
    policy = yaml.safe_load(TRAIN_CONFIG.read_text())["parameters"]["promotion_policy"]
    train = _config(
        TRAIN_CONFIG,
        work / "train.yaml",
        train_params={**tiny_params, "epochs": 4, "patience": 4},
        behavior_suite=NO_BEHAVIOR_CASES,
        promotion_policy={**policy, "min_f1": 0.0, "min_class_f1": 0.0},
    )
    deploy = _config(DEPLOY_CONFIG, work / "deploy.yaml")
    kubelet = cluster["kubelet"]
    started = time.monotonic()
    trained = cloud.run(
        "run.py", "train", "--config", str(train), "--results-fp", str(work / "t.json")
    )
    assert trained.returncode == 0, trained.stderr[-5000:] + kubelet.failures()
    deployed = cloud.run("run.py", "deploy", "--config", str(deploy))
    assert deployed.returncode == 0, deployed.stderr[-5000:] + kubelet.failures()
    return {
        "training": json.loads((work / "t.json").read_text()),
        "deployment": json.loads(deployed.stdout[deployed.stdout.rindex('{\n  "run_id"') :]),
        "output": trained.stdout + trained.stderr + deployed.stdout + deployed.stderr,
        "seconds": time.monotonic() - started,
    }


def test_run_py_trains_promotes_and_deploys_on_the_cluster(cloud, cluster, ran):
    api, kubelet = cluster["api"], cluster["kubelet"]

    # training: one orchestrator Job, then one Job per step, each run by a pod that succeeded
    run = cloud.zenml_api(f"/runs/{ran['training']['run_id']}", hydrate=True)
    assert run["body"]["status"] == "completed"
    steps = cloud.zenml_api("/steps", pipeline_run_id=ran["training"]["run_id"], size=50)["items"]
    assert {s["name"]: s["body"]["status"] for s in steps} == dict.fromkeys(
        TRAINING_STEPS, "completed"
    )
    jobs = {j["metadata"]["name"]: j for j in api.objects("jobs")}
    pods = api.objects("pods")
    for job in jobs.values():
        (condition,) = job["status"]["conditions"]
        assert condition["type"] == "Complete", job["metadata"]["name"]
    step_jobs = [j for j in jobs.values() if "step_name" in (j["metadata"].get("labels") or {})]
    assert len(step_jobs) == len(TRAINING_STEPS) + 3  # + build_bento, deploy_bento, smoke_test
    assert len(jobs) == len(step_jobs) + 2  # one orchestrator Job per pipeline run
    for pod in pods:
        if "job-name" in pod["metadata"]["labels"]:
            assert pod["status"]["phase"] == "Succeeded", pod["metadata"]["name"]
    # the client streamed the orchestrator pod's log (read through the API server)
    assert "Orchestrator pod finished." in ran["output"]

    # promotion: the new version is production on the ZenML server
    versions = cloud.zenml_api("/model_versions", model=MODEL, size=10)["items"]
    (version,) = [v for v in versions if v["body"]["number"] == ran["training"]["model_version"]]
    assert version["body"]["stage"] == "production"
    assert ran["deployment"]["model_version"] == ran["training"]["model_version"]

    # deployment: the Deployment and Service of that version, rolled out, its pod serving
    from stacks.bentoml_kubernetes.manifests import BENTO_ANNOTATION

    (deployment,) = api.objects("deployments")
    (service,) = api.objects("services")
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"][BENTO_ANNOTATION] == ran["deployment"]["bento"]
    assert template["spec"]["containers"][0]["image"] == BENTO_IMAGE
    assert deployment["status"]["readyReplicas"] == 1
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (serving,) = [p for p in pods if "job-name" not in p["metadata"]["labels"]]
    assert serving["status"]["phase"] == "Running"
    deploy_run = cloud.zenml_api(f"/runs/{ran['deployment']['run_id']}", hydrate=True)
    assert deploy_run["body"]["status"] == "completed"  # its smoke test called the Service

    answer = requests.post(
        f"http://{serving['status']['podIP']}:{service['spec']['ports'][0]['port']}/predict",
        json={"title": "YOLO for drones", "description": "object detection"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["tag"] in LABELS
    assert kubelet.errors == []


def test_run_py_undeploy_removes_the_server_from_the_cluster(cloud, cluster, ran):
    api = cluster["api"]
    done = cloud.run("run.py", "undeploy")
    assert done.returncode == 0, done.stderr[-3000:]
    for plural in ("deployments", "services", "horizontalpodautoscalers"):
        assert api.objects(plural) == [], plural
    deadline = time.monotonic() + 30
    while any("job-name" not in p["metadata"]["labels"] for p in api.objects("pods")):
        assert time.monotonic() < deadline, "the serving pod outlived its Deployment"
        time.sleep(0.5)
