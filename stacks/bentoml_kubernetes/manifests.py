"""The Kubernetes objects that serve a Bento: a Deployment, a Service and, optionally, a
HorizontalPodAutoscaler, as plain dicts (the JSON the API server receives). No zenml import.

Redeploys are rolling updates that never go below the wanted replicas (`maxUnavailable: 0`): a
new pod takes traffic only once BentoML's `/readyz` answers (its model is loaded), and an old
pod goes only after a new one is ready. `/livez` restarts a pod whose server hangs.
"""

from __future__ import annotations

from typing import Any

API_PORT_NAME = "http"
# the record of the stack's deployer that owns the objects: the newest deploy of the model
OWNER_ANNOTATION = "tagger.zenml.io/service-id"
BENTO_ANNOTATION = "tagger.zenml.io/bento"
# where the pods record their answers (serving.records), on a claim the monitoring pods mount too
RECORDS_PATH = "/var/lib/tagger/records"


def _metadata(name: str, namespace: str, labels: dict[str, str], owner: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": {OWNER_ANNOTATION: owner},
    }


def deployment(
    name: str,
    namespace: str,
    image: str,
    bento: str,
    owner: str,
    port: int,
    replicas: int | None,
    resources: dict[str, dict[str, str]],
    image_pull_secrets: list[str],
    service_account: str | None = None,
    records_claim: str | None = None,
) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": name}
    labels = {**selector, "app.kubernetes.io/managed-by": "zenml"}

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": API_PORT_NAME},
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": failures,
        }

    container = {
        "name": "bento",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # the Bento image's entrypoint serves the Bento on $BENTOML_PORT
        "env": [{"name": "BENTOML_PORT", "value": str(port)}],
        "ports": [{"name": API_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "resources": resources,
        # a model takes a while to load: up to 5 minutes before liveness counts
        "startupProbe": probe("/livez", 5, 60),
        "readinessProbe": probe("/readyz", 5, 3),
        "livenessProbe": probe("/livez", 10, 3),
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "imagePullSecrets": [{"name": secret} for secret in image_pull_secrets],
        "terminationGracePeriodSeconds": 60,
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if records_claim:
        # every replica writes files of its own (the writer id carries the pod's name)
        pod_spec["volumes"] = [
            {"name": "records", "persistentVolumeClaim": {"claimName": records_claim}}
        ]
        container["volumeMounts"] = [{"name": "records", "mountPath": RECORDS_PATH}]
        container["env"].append({"name": "TAGGER_RECORD_DIRECTORY", "value": RECORDS_PATH})
    scale = {} if replicas is None else {"replicas": replicas}  # None: an autoscaler's to set
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels, owner),
        "spec": {
            **scale,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "minReadySeconds": 5,
            "progressDeadlineSeconds": 600,
            "template": {
                # a new Bento changes the template, which is what starts a rolling update
                "metadata": {"labels": labels, "annotations": {BENTO_ANNOTATION: bento}},
                "spec": pod_spec,
            },
        },
    }


def service(name: str, namespace: str, owner: str, port: int, service_type: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, {"app.kubernetes.io/name": name}, owner),
        "spec": {
            "type": service_type,
            "selector": {"app.kubernetes.io/name": name},
            "ports": [
                {
                    "name": API_PORT_NAME,
                    "port": port,
                    "targetPort": API_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def autoscaler(
    name: str, namespace: str, owner: str, min_replicas: int, max_replicas: int, cpu_percent: int
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, namespace, {"app.kubernetes.io/name": name}, owner),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_percent},
                    },
                }
            ],
        },
    }


def rollout_state(deployment: dict[str, Any] | None, owner: str) -> tuple[str, str]:
    """(state, message) of a Deployment as the stack's deployer reports it: `active`, `pending`,
    `error` or `inactive` (absent, or now owned by a newer deploy)."""
    if deployment is None:
        return "inactive", "no Deployment"
    current = deployment["metadata"].get("annotations", {}).get(OWNER_ANNOTATION)
    if current != owner:
        return "inactive", f"replaced by the deploy {current}"
    generation = deployment["metadata"].get("generation")
    status = deployment.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing", {})
    if progressing.get("status") == "False":
        return "error", f"{progressing.get('reason')}: {progressing.get('message', '')}"
    if generation and status.get("observedGeneration", 0) < generation:
        return "pending", "the controller has not seen this version yet"
    wanted = deployment["spec"].get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < wanted:
        return "pending", f"rolling out: {updated} of {wanted} pods updated"
    if conditions.get("Available", {}).get("status") != "True" or available < wanted:
        return "pending", f"{available} of {wanted} pods available"
    if status.get("replicas", 0) > updated:
        return "pending", f"{status['replicas'] - updated} old pod(s) still terminating"
    return "active", f"{available} of {wanted} pods available"
