"""The kubernetes stack, verified as far as a machine without a cluster allows.

Everything here runs zenml 0.98's own Kubernetes orchestrator code: the stack is registered from
stacks/kubernetes.yaml, the training pipeline's snapshot is compiled from configs/train.yaml,
the Jobs are built by zenml's manifest builders and checked against the official Kubernetes
schemas (kubernetes-validate), and `KubernetesOrchestrator.run` submits to an API server.

The one fake is that API server: no Kubernetes can run here, so kmock's KubernetesEmulator
answers on localhost. It stores what it is sent and serves it back (create, read, list); it
does not authenticate or authorize (RBAC), default or validate objects (validation is done
offline here instead), schedule pods, pull images, run the Job controller, enforce quotas or
node selectors/tolerations, or start the orchestrator pod that would create the step Jobs
(tests/infra/kubernetes/cluster.py adds the little of that the tests rely on). The image is given
through Docker settings (`skip_build`), so nothing is built, pushed or pulled. Kaniko builds, S3
and MLflow are not reached. test_kubernetes_run.py runs the pods too, with a fake kubelet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import (
    PROJECT_ROOT,
    TRAINING_STEPS,
    create_example_secrets,
    slack_checks_answered,
)
from tests.infra.kubernetes.cluster import FakeApiServer, write_kubeconfig

pytestmark = pytest.mark.kubernetes
kmock = pytest.importorskip("kmock")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

IMAGE = "registry.example.com/tagger/project-tagger:test"
CONTEXT = "tagger-test"
NAMESPACE = "tagger"
STACK_ENV = {
    "TAGGER_KUBE_CONTEXT": CONTEXT,
    "TAGGER_KUBE_NAMESPACE": NAMESPACE,
    "TAGGER_S3_PATH": "s3://tagger-artifacts/runs",
    "TAGGER_S3_ENDPOINT": "http://minio.example:9000",
    "TAGGER_REGISTRY_URI": "registry.example.com/tagger",
    "TAGGER_MLFLOW_URI": "http://mlflow.example:5000",
}
TRAIN_CONFIG = yaml.safe_load((PROJECT_ROOT / "configs" / "train.yaml").read_text())
K8S_SETTINGS = TRAIN_CONFIG["settings"]["orchestrator.kubernetes"]
TRAIN_POD = TRAIN_CONFIG["steps"]["train_model"]["settings"]["orchestrator.kubernetes"][
    "pod_settings"
]


def TOKEN_REF(snapshot) -> dict[str, Any]:  # noqa: N802
    return {"secretKeyRef": {"name": f"zenml-token-{snapshot.id}", "key": "zenml_api_token"}}


@pytest.fixture(scope="module")
def api_server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def kubeconfig(api_server: FakeApiServer, session_dir: Path) -> Iterator[Path]:
    """A kubeconfig whose context points at the fake API server, as KUBECONFIG."""
    path = write_kubeconfig(session_dir / "kubeconfig", api_server.url, CONTEXT, NAMESPACE)
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("KUBECONFIG")
    else:
        os.environ["KUBECONFIG"] = previous


@pytest.fixture(scope="module")
def k8s_stack(kubeconfig: Path, monkeypatch_module: pytest.MonkeyPatch):
    """stacks/kubernetes.yaml registered (secrets first) and active; the local stack after."""
    from zenml.client import Client

    from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors

    for key, value in STACK_ENV.items():
        monkeypatch_module.setenv(key, value)
    client = Client()
    previous = client.active_stack_model.name
    create_example_secrets()
    register_flavors()
    with slack_checks_answered():
        name = register(load_stack_file(STACKS_DIR / "kubernetes.yaml"))
    client.activate_stack(name)
    yield client.active_stack
    client.activate_stack(previous)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def snapshot(k8s_stack):
    from stacks.kubernetes_manifests import training_snapshot

    return training_snapshot(IMAGE)


@pytest.fixture(scope="module")
def offline_jobs(k8s_stack, snapshot) -> dict[str, dict[str, Any]]:
    from stacks.kubernetes_manifests import orchestrator_job, step_jobs

    orchestrator = k8s_stack.orchestrator
    return {"orchestrator": orchestrator_job(orchestrator, snapshot)} | step_jobs(
        orchestrator, snapshot
    )


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(job)["env"]}


def test_stack_registers_and_describes(k8s_stack):
    from zenml.enums import StackComponentType as T

    flavors = {t: c.flavor for t, c in k8s_stack.components.items()}
    assert flavors == {
        T.ORCHESTRATOR: "kubernetes",
        T.ARTIFACT_STORE: "s3",
        T.CONTAINER_REGISTRY: "default",
        T.IMAGE_BUILDER: "kaniko",
        T.EXPERIMENT_TRACKER: "mlflow",
        T.ALERTER: "slack",
        T.MODEL_DEPLOYER: "bentoml-kubernetes",
    }
    assert k8s_stack.alerter.config.model_dump()["slack_token"] == "{{tagger_slack.token}}"
    assert k8s_stack.alerter.config.slack_channel_id == "C0EXAMPLE"
    assert k8s_stack.orchestrator.config.kubernetes_context == CONTEXT
    assert k8s_stack.orchestrator.config.kubernetes_namespace == NAMESPACE
    assert k8s_stack.artifact_store.config.path == STACK_ENV["TAGGER_S3_PATH"]
    assert k8s_stack.container_registry.config.uri == STACK_ENV["TAGGER_REGISTRY_URI"]
    assert k8s_stack.experiment_tracker.config.tracking_uri == STACK_ENV["TAGGER_MLFLOW_URI"]
    # secrets stay references in the store and resolve only when read
    stored = k8s_stack.experiment_tracker.config.model_dump()
    assert stored["tracking_password"] == "{{tagger_mlflow.password}}"
    assert k8s_stack.experiment_tracker.config.tracking_password == "x"
    k8s_stack.validate(fail_if_secrets_missing=True)

    described = subprocess.run(
        [str(Path(sys.executable).parent / "zenml"), "stack", "describe", "kubernetes"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert described.returncode == 0, described.stderr
    for name in (
        "kubernetes",
        "s3-artifacts",
        "registry",
        "kaniko",
        "mlflow-remote",
        "bentoml-k8s",
    ):
        assert name in described.stdout + described.stderr


def test_a_remote_orchestrator_needs_a_zenml_server(k8s_stack, snapshot):
    """zenml refuses `pipeline()` on this stack with a local store: a cluster run needs a server."""
    with pytest.raises(RuntimeError, match="require a remote ZenML server"):
        k8s_stack.prepare_pipeline_submission(snapshot)


def test_every_job_validates_against_the_kubernetes_schema(offline_jobs):
    from stacks.kubernetes_manifests import validate

    assert list(offline_jobs) == ["orchestrator", *TRAINING_STEPS]
    for name, job in offline_jobs.items():
        assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1", name
        validate(job)


def test_schema_validation_rejects_a_broken_job(offline_jobs):
    from stacks.kubernetes_manifests import validate

    broken = yaml.safe_load(yaml.safe_dump(offline_jobs["train_model"]))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = "4 cpus"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_orchestrator_job(offline_jobs, snapshot):
    job = offline_jobs["orchestrator"]
    container, pod = _container(job), job["spec"]["template"]["spec"]
    assert container["image"] == IMAGE
    assert container["command"] == [
        "python",
        "-m",
        "zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator_entrypoint",
    ]
    args = container["args"]
    assert args[args.index("--snapshot_id") + 1] == str(snapshot.id)
    assert pod["serviceAccountName"] == K8S_SETTINGS["service_account_name"]
    assert container["resources"] == K8S_SETTINGS["orchestrator_pod_settings"]["resources"]
    assert pod["imagePullSecrets"] == [{"name": "tagger-registry"}]
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 3
    assert "ZENML_STORE_URL" in _env(job)
    assert _env(job)["ZENML_STORE_API_TOKEN"] == TOKEN_REF(snapshot)


def test_step_jobs(offline_jobs, snapshot):
    for step_name in TRAINING_STEPS:
        job = offline_jobs[step_name]
        container, pod = _container(job), job["spec"]["template"]["spec"]
        args = container["args"]
        assert container["image"] == IMAGE, step_name
        assert container["command"] == ["python", "-m", "zenml.entrypoints.entrypoint"]
        assert args[args.index("--step_name") + 1] == step_name
        assert args[args.index("--snapshot_id") + 1] == str(snapshot.id)
        assert pod["serviceAccountName"] == K8S_SETTINGS["service_account_name"]
        assert _env(job)["ZENML_STORE_API_TOKEN"] == TOKEN_REF(snapshot), step_name
        expected = TRAIN_POD if step_name == "train_model" else K8S_SETTINGS["pod_settings"]
        assert container["resources"] == expected["resources"], step_name
    train = offline_jobs["train_model"]["spec"]["template"]["spec"]
    assert train["nodeSelector"] == TRAIN_POD["node_selectors"]
    assert train["tolerations"] == TRAIN_POD["tolerations"]
    assert "nodeSelector" not in offline_jobs["load_data"]["spec"]["template"]["spec"]


def _submit(k8s_stack, snapshot, run=None) -> Any:
    """`KubernetesOrchestrator.submit_pipeline` with zenml's own environment plus the API token a
    ZenML server would issue (a sqlite store issues none)."""
    from zenml.orchestrators.utils import get_config_environment_vars

    environment, secrets = get_config_environment_vars(pipeline_run_id=run.id if run else None)
    environment |= secrets | {"ZENML_STORE_API_TOKEN": "token-a-zenml-server-would-issue"}
    return k8s_stack.orchestrator.submit_pipeline(
        snapshot=snapshot,
        stack=k8s_stack,
        base_environment=environment,
        step_environments={},
        placeholder_run=run,
    )


def test_submission_to_the_api_server(k8s_stack, offline_jobs, api_server):
    """`KubernetesOrchestrator.submit_pipeline` against the API server: it stores the client's
    ZenML API token as a Kubernetes secret, then creates the orchestrator Job. Nothing runs it.

    Called directly because `pipeline()` stops earlier with a local store (the test above);
    the environment is zenml's own (`get_config_environment_vars`) plus the API token a ZenML
    server would issue, which a sqlite store does not. `synchronous: false`, as a synchronous
    submit waits for a Job that no controller here will ever run.
    """
    import base64

    from zenml.pipelines.run_utils import create_placeholder_run

    from stacks.kubernetes_manifests import training_snapshot, validate

    snapshot = training_snapshot(
        IMAGE, settings={"orchestrator.kubernetes": {**K8S_SETTINGS, "synchronous": False}}
    )
    run = create_placeholder_run(snapshot=snapshot)
    before = len(api_server.objects("jobs"))
    result = _submit(k8s_stack, snapshot, run)
    assert result is None  # asynchronous: submitted, not waited for

    jobs = api_server.objects("jobs")
    assert len(jobs) == before + 1
    job = {"apiVersion": "batch/v1", "kind": "Job", **jobs[-1]}
    validate(job)
    labels = job["metadata"]["labels"]
    assert labels["pipeline"] == "training_pipeline" and labels["run_id"] == str(run.id)
    args = _container(job)["args"]
    assert args[args.index("--snapshot_id") + 1] == str(snapshot.id)
    assert args[args.index("--run_id") + 1] == str(run.id)

    (secret,) = [
        s
        for s in api_server.objects("secrets")
        if s["metadata"]["name"] == f"zenml-token-{snapshot.id}"
    ]
    token = base64.b64decode(secret["data"]["zenml_api_token"]).decode()
    assert token == "token-a-zenml-server-would-issue"
    assert _env(job)["ZENML_STORE_API_TOKEN"] == TOKEN_REF(snapshot)
    assert "token-a-zenml-server-would-issue" not in str(job)

    # the offline builder makes the Job that was submitted, but for the snapshot and run ids
    submitted, offline = _container(job), _container(offline_jobs["orchestrator"])
    for field in ("image", "command", "resources"):
        assert submitted[field] == offline[field], field
    assert submitted["image"] == IMAGE
    pod, offline_pod = (
        job["spec"]["template"]["spec"],
        offline_jobs["orchestrator"]["spec"]["template"]["spec"],
    )
    for field in ("serviceAccountName", "imagePullSecrets", "restartPolicy"):
        assert pod[field] == offline_pod[field], field
    assert pod["serviceAccountName"] == K8S_SETTINGS["service_account_name"]
    assert api_server.objects("serviceaccounts") == []  # named in the settings: none created


def test_monitoring_is_scheduled_as_a_cron_job_reading_the_served_records(k8s_stack, api_server):
    """`run.py monitor --schedule` on this stack, up to what a local store allows: the snapshot
    `pipeline()` would submit (schedule registered), submitted by zenml's orchestrator as a
    CronJob; the step pods it would start mount the claim the Bento pods record on."""
    from zenml.config.schedule import Schedule

    from project import zenml_internals
    from project.paths import MONITOR_CONFIG
    from stacks.bentoml_kubernetes.manifests import RECORDS_PATH
    from stacks.kubernetes_manifests import prebuilt_image_settings, step_jobs, validate
    from workflows.monitoring import configured_pipeline
    from workflows.runs import read_config

    config = read_config(MONITOR_CONFIG)
    config["settings"] |= prebuilt_image_settings(IMAGE)
    cron = "*/30 * * * *"
    pipeline = configured_pipeline(
        config,
        {**config["parameters"], "since_hours": 0.5},
        schedule=Schedule(name="monitoring-test", cron_expression=cron),
    )
    snapshot = zenml_internals.scheduled_snapshot(pipeline)
    assert snapshot.schedule is not None and snapshot.schedule.cron_expression == cron

    result = _submit(k8s_stack, snapshot)
    (cron_job,) = api_server.objects("cronjobs")
    cron_job = {"apiVersion": "batch/v1", "kind": "CronJob", **cron_job}
    validate(cron_job)
    assert result.metadata == {"cron_job_name": cron_job["metadata"]["name"]}
    assert cron_job["spec"]["schedule"] == cron
    job_pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = job_pod["containers"]
    assert container["image"] == IMAGE
    assert str(snapshot.id) in container["args"]

    claim = config["settings"]["orchestrator.kubernetes"]["pod_settings"]["volumes"][0]
    assert (
        claim["persistentVolumeClaim"]["claimName"] == k8s_stack.model_deployer.config.records_claim
    )
    jobs = step_jobs(k8s_stack.orchestrator, snapshot)
    assert list(jobs) == ["load_window", "measure_window", "notify_alarms"]
    for job in jobs.values():
        validate(job)
    window = jobs["load_window"]["spec"]["template"]["spec"]
    assert claim in window["volumes"]
    (step_container,) = window["containers"]
    assert {"name": "records", "mountPath": RECORDS_PATH, "readOnly": True} in step_container[
        "volumeMounts"
    ]
    assert {"name": "TAGGER_RECORD_DIRECTORY", "value": RECORDS_PATH} in step_container["env"]
    # the training config's pod settings hold under the monitoring config's
    assert window["imagePullSecrets"] == [{"name": "tagger-registry"}]


# --- the bentoml-kubernetes model deployer (stacks/bentoml_kubernetes) against the API server ---
# What no API server here does is a Deployment's rollout: `RolloutController` stands in for the
# controller, reporting each new generation rolled out and available after a moment. No image is
# built (`build_image` is replaced by a prebuilt image); no pod runs, so no probe or smoke test is run.


class RolloutController:
    """Writes a Deployment's status as the cluster's controller would once a rollout is done."""

    def __init__(self, delay_s: float = 0.5) -> None:
        self.delay_s = delay_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kubernetes import client, config
        from kubernetes.client.exceptions import ApiException

        apps = client.AppsV1Api(config.new_client_from_config(context=CONTEXT))
        while not self._stop.wait(0.1):
            try:  # kmock answers 404 to a list until the first object of the kind exists
                deployments = apps.list_namespaced_deployment(NAMESPACE).items
            except ApiException:
                deployments = []
            for deployment in deployments:
                generation = deployment.metadata.generation
                status = deployment.status
                if status is not None and status.observed_generation == generation:
                    continue
                self._stop.wait(self.delay_s)
                replicas = deployment.spec.replicas or 1
                available = {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                }
                progressing = {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                }
                apps.patch_namespaced_deployment_status(
                    deployment.metadata.name,
                    NAMESPACE,
                    {
                        "status": {
                            "observedGeneration": generation,
                            "replicas": replicas,
                            "updatedReplicas": replicas,
                            "readyReplicas": replicas,
                            "availableReplicas": replicas,
                            "conditions": [available, progressing],
                        }
                    },
                )

    def __enter__(self) -> RolloutController:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def bentos(tiny_model_dir: Path):
    """Two Bentos of a tiny untrained bundle, as version 1 and version 2 would be packaged."""
    from serving.package import build_bento, save_model
    from tagger.data import LABELS
    from tagger.model import TextClassifier

    classifier = TextClassifier.from_base(str(tiny_model_dir), LABELS, 64)
    return [
        build_bento(save_model(classifier, zenml_version=version), ["torch==2.13.0"])
        for version in (1, 2)
    ]


@pytest.fixture
def prebuilt_image(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The image build (Kaniko, in a cluster) replaced by a prebuilt image: the Bentos asked for."""
    from stacks.bentoml_kubernetes import deployer

    asked: list[str] = []

    def build_image(bento, stack) -> str:
        assert stack.image_builder.flavor == "kaniko"
        asked.append(str(bento.tag))
        return IMAGE

    monkeypatch.setattr(deployer, "build_image", build_image)
    return asked


def _stored(api_server: FakeApiServer, plural: str, kind: str, version: str) -> list[dict]:
    return [{"apiVersion": version, "kind": kind, **o} for o in api_server.objects(plural)]


def test_bentoml_deployer_deploys_rolls_out_and_undeploys(
    k8s_stack, api_server, bentos, prebuilt_image
):
    from zenml.enums import ServiceState

    from project.paths import PROJECT_ROOT as ROOT
    from serving import deployer
    from stacks.bentoml_kubernetes.manifests import (
        BENTO_ANNOTATION,
        OWNER_ANNOTATION,
        RECORDS_PATH,
    )
    from stacks.kubernetes_manifests import validate

    first, second = bentos
    with RolloutController():
        run = {"pipeline_name": "p", "pipeline_step_name": "deploy_bento", "run_name": "p-1"}
        url = deployer.start_server(first, 3000, 60, 1, str(ROOT), run)
        assert url == f"http://project-tagger.{NAMESPACE}.svc.cluster.local:3000"
        (deployment,) = _stored(api_server, "deployments", "Deployment", "apps/v1")
        (service,) = _stored(api_server, "services", "Service", "v1")
        (hpa,) = _stored(
            api_server, "horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling/v2"
        )
        for manifest in (deployment, service, hpa):
            validate({k: v for k, v in manifest.items() if k != "status"})
        pod = deployment["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert container["image"] == IMAGE
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["resources"] == {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        }
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {
            "maxUnavailable": 0,
            "maxSurge": 1,
        }
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
        assert pod["metadata"]["annotations"][BENTO_ANNOTATION] == str(first.tag)
        # answers are recorded on the claim the scheduled monitoring pods read
        assert pod["spec"]["volumes"] == [
            {"name": "records", "persistentVolumeClaim": {"claimName": "tagger-records"}}
        ]
        assert container["volumeMounts"] == [{"name": "records", "mountPath": RECORDS_PATH}]
        assert {"name": "TAGGER_RECORD_DIRECTORY", "value": RECORDS_PATH} in container["env"]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        (record,) = deployer.servers()
        assert (record.config.pipeline_step_name, record.config.run_name) == ("deploy_bento", "p-1")
        assert prebuilt_image == [str(first.tag)]
        assert record.is_running and deployment["metadata"]["annotations"][OWNER_ANNOTATION] == str(
            record.uuid
        )

        # a redeploy patches the same objects: a new pod template, rolled out by the cluster
        assert deployer.start_server(second, 3000, 60, 2, str(ROOT), {}) == url
        (patched,) = _stored(api_server, "deployments", "Deployment", "apps/v1")
        assert patched["metadata"]["generation"] == deployment["metadata"]["generation"] + 1
        assert patched["spec"]["template"]["metadata"]["annotations"][BENTO_ANNOTATION] == str(
            second.tag
        )
        assert prebuilt_image == [str(first.tag), str(second.tag)]
        (newer,) = deployer.servers()
        assert newer.uuid != record.uuid and newer.config.model_version == "2"
        assert patched["metadata"]["annotations"][OWNER_ANNOTATION] == str(newer.uuid)
        assert " live " in deployer.describe_servers()[0]

    # status from the Deployment's conditions: a rollout past its deadline is an error
    from kubernetes import client, config

    apps = client.AppsV1Api(config.new_client_from_config(context=CONTEXT))
    stuck = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "image pull",
    }
    apps.patch_namespaced_deployment_status(
        "project-tagger", NAMESPACE, {"status": {"conditions": [stuck]}}
    )
    assert newer.check_status() == (ServiceState.ERROR, "ProgressDeadlineExceeded: image pull")

    assert deployer.remove_servers() == 1
    for plural in ("deployments", "services", "horizontalpodautoscalers"):
        assert api_server.objects(plural) == [], plural
    assert deployer.servers() == []


def test_rollout_states_from_deployment_conditions():
    from stacks.bentoml_kubernetes.manifests import OWNER_ANNOTATION, rollout_state

    def deployment(status: dict, owner: str = "me", generation: int = 2) -> dict:
        meta = {"generation": generation, "annotations": {OWNER_ANNOTATION: owner}}
        return {"metadata": meta, "spec": {"replicas": 2}, "status": status}

    done = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}]}  # fmt: skip
    assert rollout_state(deployment(done), "me")[0] == "active"
    assert rollout_state(deployment({**done, "observedGeneration": 1}), "me")[0] == "pending"
    assert rollout_state(deployment({**done, "updatedReplicas": 1}), "me") == (
        "pending",
        "rolling out: 1 of 2 pods updated",
    )
    assert rollout_state(deployment({**done, "replicas": 3}), "me")[0] == "pending"  # old pod left
    assert rollout_state(deployment(done, owner="newer"), "me")[0] == "inactive"
    assert rollout_state(None, "me") == ("inactive", "no Deployment")


def test_the_bento_image_is_built_from_the_bentos_own_dockerfile(bentos, tmp_path: Path):
    """What the stack's image builder (Kaniko) is given; the build itself needs a cluster."""
    import tarfile

    from zenml.utils.archivable import ArchiveType

    from stacks.bentoml_kubernetes.deployer import bento_build_context

    archive = tmp_path / "context.tar.gz"
    with archive.open("wb") as out:
        bento_build_context(bentos[0]).write_archive(out, archive_type=ArchiveType.TAR_GZ)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile").read().decode()
    assert {"Dockerfile", "bento.yaml", "env/docker/entrypoint.sh"} <= names
    assert "src/serving/service.py" in names
    assert dockerfile == (Path(bentos[0].path) / "env/docker/Dockerfile").read_text()
