"""The ray-cloud stack and the cluster definitions, checked as far as this machine allows.

A real remote Ray cluster cannot exist here: the stack is registered and validated in the
throw-away store, the submission is refused for the reason a user without a ZenML server would
see, and the cluster files are checked against Ray's cluster-launcher schema and the Kubernetes
schemas (the RayCluster's pod templates; the CRD itself has no schema offline).
"""

from __future__ import annotations

import copy

import pytest
import yaml

from stacks.register import STACKS_DIR, load_stack_file, register, register_flavors
from tests.helpers import create_example_secrets, slack_checks_answered

pytestmark = pytest.mark.ray
CLUSTERS = STACKS_DIR / "clusters"


@pytest.fixture
def ray_cloud(zenml_stack, monkeypatch):
    from zenml.client import Client

    monkeypatch.setenv("TAGGER_RAY_ADDRESS", "http://ray-head.example:8265")
    monkeypatch.setenv("TAGGER_S3_PATH", "s3://tagger-artifacts/runs")
    monkeypatch.setenv("TAGGER_S3_ENDPOINT", "http://minio.example:9000")
    monkeypatch.setenv("TAGGER_MLFLOW_URI", "http://mlflow.example:5000")
    register_flavors()
    create_example_secrets()
    client = Client()
    with slack_checks_answered():
        name = register(load_stack_file(STACKS_DIR / "ray-cloud.yaml"))
    client.activate_stack(name)
    yield client.active_stack
    client.activate_stack(zenml_stack.name)


def test_stack_registers_with_the_ray_flavor_and_refuses_a_local_store(ray_cloud):
    from stacks.ray_orchestrator import RayOrchestratorConfig

    orchestrator = ray_cloud.orchestrator
    assert isinstance(orchestrator.config, RayOrchestratorConfig)
    assert orchestrator.config.address == "http://ray-head.example:8265"
    assert orchestrator.config.uses_jobs_api and orchestrator.config.is_remote
    assert orchestrator.config.shares_files is False
    assert ray_cloud.artifact_store.flavor == "s3"
    assert ray_cloud.experiment_tracker.config.tracking_uri == "http://mlflow.example:5000"
    assert ray_cloud.alerter.flavor == "slack"
    assert ray_cloud.alerter.config.slack_token == "xoxb-example"
    ray_cloud.validate(fail_if_secrets_missing=True)
    assert ray_cloud.requires_remote_server
    with pytest.raises(RuntimeError, match="require a remote ZenML server"):
        ray_cloud.prepare_pipeline_submission(snapshot=None)


def test_local_addresses_are_local_and_others_remote():
    from stacks.ray_orchestrator import RayOrchestratorConfig

    def config(address: str) -> RayOrchestratorConfig:
        return RayOrchestratorConfig(address=address)

    for address in ("auto", "127.0.0.1:6379", "http://localhost:8265", "ray://127.0.0.1:10001"):
        assert config(address).is_local and not config(address).is_remote, address
    for address in ("ray://head.example:10001", "http://10.0.0.5:8265"):
        assert config(address).is_remote, address
    # a remote cluster through a port-forward: local address, nothing shared
    forwarded = RayOrchestratorConfig(address="http://127.0.0.1:8265", shares_files=False)
    assert forwarded.is_remote and not forwarded.on_shared_files


def test_the_node_image_has_the_clients_ray():
    import ray

    dockerfile = (CLUSTERS / "Dockerfile.ray").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-py311" in dockerfile


def test_cluster_launcher_config_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTERS / "ray-aws.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    config["available_node_types"]["head"]["instance"] = "typo"
    with pytest.raises(Exception, match="Additional properties are not allowed"):
        validate_config(prepare_config(config))


def test_kuberay_pod_templates_pass_the_kubernetes_schemas():
    import kubernetes_validate
    import ray

    cluster = yaml.safe_load((CLUSTERS / "raycluster.yaml").read_text())
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    assert cluster["spec"]["rayVersion"] == ray.__version__, "the cluster runs the client's Ray"
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    for index, group in enumerate(groups):
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"group-{index}"},
            "template": group["template"],
        }
        kubernetes_validate.validate(template, "1.35.0", strict=True)
    images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert len(images) == 1, "head and workers must run the same image"
