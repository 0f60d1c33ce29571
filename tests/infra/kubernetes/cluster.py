"""A stand-in for a Kubernetes cluster on this machine, for the kubernetes tier.

No Kubernetes can run here (no container runtime, no kube-apiserver or kubelet binaries), so:

- `FakeApiServer`: kmock's stateful emulator on a localhost port, plus what a real API server adds
  and the tests rely on: the built-in kinds (an empty list, not a 404, before the first object),
  uid and creationTimestamp on create (and a Job's defaults), `metadata.generation` on a
  Deployment's spec change, label and field selectors on lists, and pod logs (from the kubelet).
  It still does not authenticate, authorize (RBAC), default or validate objects, or watch
  selectively.
- `FakeKubelet`: a node's kubelet plus the two controllers the project's pods need (Job and
  Deployment). It polls the API server like a controller, creates each Job's pod and each
  Deployment's pods, runs every pod's container as a local process and writes their status back
  (phase, container state, exit code, readiness from the readiness probe), then the Job's
  conditions and the Deployment's rollout status, as the cluster's controllers would.

What stands in for what, per pod:
- the image: images cannot be pulled, so `Image` says what one holds in this machine's files:
  this venv's interpreter and packages (what `pip install .` puts in the image), the project
  checkout at the image's WORKDIR, and for a Bento's image the Bento from a Bento store that the
  pods share (where Kaniko would have built it into the image); an unknown image fails to pull;
- the container: a mount namespace (`unshare`) whose root is a fresh tmpfs with this machine's
  system directories bound in, the client's files (checkout, temp dir, home, this session's stores)
  hidden, the pod's name as hostname, its own /root and /tmp, empty directories for its volumes;
- the pod network: each pod gets a loopback address of its own (127.1.x.y), and /etc/hosts maps
  each Service's cluster DNS name to a ready pod it selects (kube-dns and kube-proxy);
- in-cluster API access: the kubeconfig (KUBECONFIG), not a mounted service-account token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml

from project.paths import PROJECT_ROOT
from project.waiting import answers_ok
from stacks.sandbox import hidden_paths


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(obj: dict[str, Any], selector: str | None, fields: bool) -> bool:
    """Equality-based label or field selectors (`a=b,c!=d`), as the API server applies them."""
    for term in filter(None, (selector or "").split(",")):
        negate = "!=" in term
        key, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        if fields:
            found: Any = obj
            for part in key.split("."):
                found = found.get(part) if isinstance(found, dict) else None
        else:
            found = (obj.get("metadata", {}).get("labels") or {}).get(key)
        if not value and not fields:
            if (found is None) != negate:  # `key` / `!key` existence terms
                return False
        elif (found == value) == negate:
            return False
    return True


def _defaults(obj: dict[str, Any], plural: str, namespace: str | None) -> None:
    """What the API server sets on create and the official client needs: a uid, a creation time,
    and for a Job an empty status and, in its podFailurePolicy rules, empty `onPodConditions`
    (kubernetes 25.x's client requires the field) and a pattern's `status` ("True", the API's
    default)."""
    meta = obj.setdefault("metadata", {})
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", _now())
    if namespace:
        meta.setdefault("namespace", namespace)
    if plural != "jobs":
        return
    obj.setdefault("status", {})
    for rule in (obj.get("spec", {}).get("podFailurePolicy") or {}).get("rules", []):
        for pattern in rule.setdefault("onPodConditions", []):
            pattern.setdefault("status", "True")


class ApiServerEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus what a real API server does that the tests rely on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pod_logs: dict[tuple[str, str], Path] = {}  # (namespace, pod) -> the kubelet's log

    async def _handle(self, request):
        if request.subresource == "log" and request.resource.plural == "pods":
            log = self.pod_logs.get((request.namespace, request.name))
            if log is None:
                return aiohttp.web.json_response(
                    {"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"},
                    status=404,
                )
            return aiohttp.web.Response(text=log.read_text(errors="replace"))
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            _defaults(request.data, request.resource.plural, request.namespace)
        response = await super()._handle(request)
        path = request.url.path
        spec_change = (
            request.method.name in ("POST", "PATCH")
            and "/deployments" in path
            and not path.endswith("/status")
            and isinstance(request.data, dict)
        )
        if spec_change:
            name = request.data.get("metadata", {}).get("name") or path.rsplit("/", 1)[-1]
            for key, obj in self.objects.items():
                if key[0].plural == "deployments" and key[2] == name and not obj.deleted:
                    generation = obj.raw.get("metadata", {}).get("generation") or 0
                    obj.patch({"metadata": {"generation": generation + 1}})
        return response

    async def _serve_list(self, request):
        listing = await super()._serve_list(request)
        labels, fields = request.params.get("labelSelector"), request.params.get("fieldSelector")
        listing["items"] = [
            item
            for item in listing["items"]
            if _matches(item, labels, fields=False) and _matches(item, fields, fields=True)
        ]
        return listing


class FakeApiServer:
    """The emulator on a localhost port, served from its own thread."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        async with ApiServerEmulator() as emulator, kmock.Server(emulator) as server:
            emulator.resources.load_bundled()  # the built-in kinds: a list of none is empty
            self.emulator, self.url = emulator, str(server.url).rstrip("/")
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        assert self._ready.wait(30), "kmock did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """What the server holds of a resource kind, as stored (the client's JSON)."""
        return [
            dict(obj.raw)
            for key, obj in self.emulator.objects.items()
            if key[0].plural == plural and not obj.deleted
        ]


def write_kubeconfig(path: Path, server: str, context: str, namespace: str) -> Path:
    """A kubeconfig whose one context points at `server`."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": context,
                        "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                    }
                ],
                "current-context": context,
            }
        )
    )
    return path


@dataclass(frozen=True)
class Image:
    """What an image holds, in this machine's files.

    `code`: a directory the image carries at its WORKDIR (`/app`); `entrypoint`: the image's
    ENTRYPOINT, from the pod and the container's environment (for containers naming no command);
    `env`: the image's ENV; `paths`: other paths of this machine the image carries as they are.
    """

    code: Path | None = None
    entrypoint: Callable[[dict[str, Any], dict[str, str]], list[str]] | None = None
    env: dict[str, str] = field(default_factory=dict)
    paths: tuple[Path, ...] = ()


def pipeline_image(bento_store: Path, paths: tuple[Path, ...] = ()) -> Image:
    """The project's image as zenml's build makes it (configs/*.yaml, Docker settings): the
    code at /app with a ZenML repository there, the project's packages (this venv).

    Its Bentos go to `bento_store`, which the Bento images read: the stand-in for Kaniko building
    a Bento's image and the registry the cluster pulls it from."""
    bento_store.mkdir(parents=True, exist_ok=True)
    return Image(
        code=PROJECT_ROOT,
        env={
            "ZENML_CONFIG_PATH": "/app/.zenconfig",
            "ZENML_REPOSITORY_PATH": "/app",
            "ZENML_ENABLE_REPO_INIT_WARNINGS": "False",
            "BENTOML_HOME": str(bento_store),
        },
        paths=(bento_store, *paths),
    )


def bento_image(bento_store: Path) -> Image:
    """A Bento's image (BentoML's Dockerfile): its entrypoint serves the Bento on $BENTOML_PORT.
    Which Bento: the one the pod template names (the deployer's annotation), from `bento_store`
    (see `pipeline_image`)."""
    from stacks.bentoml_kubernetes.manifests import BENTO_ANNOTATION

    def serve(pod: dict[str, Any], env: dict[str, str]) -> list[str]:
        bento = pod["metadata"]["annotations"][BENTO_ANNOTATION]
        return [
            str(Path(sys.executable).with_name("bentoml")), "serve", bento,
            "--host", pod["status"]["podIP"], "--port", env["BENTOML_PORT"],
        ]  # fmt: skip

    return Image(entrypoint=serve, env={"BENTOML_HOME": str(bento_store)}, paths=(bento_store,))


@dataclass
class _Container:
    process: subprocess.Popen
    log: Path
    ip: str
    ready: bool = False
    probe_at: float = 0.0


class FakeKubelet:
    """One node's kubelet and the Job and Deployment controllers, polling the API server."""

    def __init__(
        self,
        kubeconfig: Path,
        context: str,
        namespace: str,
        api_server: FakeApiServer,
        images: dict[str, Image],
        work_dir: Path,
        interval_s: float = 0.3,
    ) -> None:
        self.kubeconfig, self.context, self.namespace = kubeconfig, context, namespace
        self.api_server, self.images, self.work_dir = api_server, images, work_dir
        self.interval_s = interval_s
        self.containers: dict[str, _Container] = {}
        self.unpulled: set[str] = set()  # pods waiting for an image no registry here has
        self.started: list[str] = []  # pod names, in the order their containers started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    # --- the loop ---

    def __enter__(self) -> FakeKubelet:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)
        self.core, self.batch, self.apps = (
            client.CoreV1Api(api),
            client.BatchV1Api(api),
            client.AppsV1Api(api),
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        for name in list(self.containers):
            self._kill(name)

    def _run(self) -> None:
        import traceback

        while not self._stop.wait(self.interval_s):
            try:
                self._sync()
            except Exception:  # noqa: BLE001  # a controller's loop goes on; the test reads these
                self.errors.append(traceback.format_exc())
                if len(self.errors) > 50:
                    self.errors.pop(0)

    def _list(self, api: Any, kind: str) -> list[dict[str, Any]]:
        """The objects as JSON (the client's models refuse some that servers return)."""
        listing = getattr(api, f"list_namespaced_{kind}")(self.namespace, _preload_content=False)
        return json.loads(listing.data)["items"]

    def _sync(self) -> None:
        pods = self._list(self.core, "pod")
        self._jobs(self._list(self.batch, "job"), pods)
        self._deployments(self._list(self.apps, "deployment"), pods)
        self._kubelet(self._list(self.core, "pod"))

    # --- the Job controller ---

    def _jobs(self, jobs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        names = {job["metadata"]["name"] for job in jobs}
        for pod in pods:  # the garbage collector: a deleted Job's pods go with it
            owner = pod["metadata"].get("labels", {}).get("job-name")
            if owner is not None and owner not in names:
                self._delete_pod(pod["metadata"]["name"])
        for job in jobs:
            status = job.get("status") or {}
            if any(c.get("status") == "True" for c in status.get("conditions") or []):
                continue
            name = job["metadata"]["name"]
            mine = [p for p in pods if p["metadata"].get("labels", {}).get("job-name") == name]
            phases = [(p.get("status") or {}).get("phase") for p in mine]
            failed, succeeded = phases.count("Failed"), phases.count("Succeeded")
            active = len(mine) - failed - succeeded
            if succeeded:
                self._finish_job(name, "Complete", "Completed", "", succeeded, failed)
            elif failed > job["spec"].get("backoffLimit", 6):
                message = "Job has reached the specified backoff limit"
                self._finish_job(name, "Failed", "BackoffLimitExceeded", message, 0, failed)
            elif active == 0:
                self._create_job_pod(job)
            if active and not status.get("startTime"):
                self.batch.patch_namespaced_job_status(
                    name, self.namespace, {"status": {"active": active, "startTime": _now()}}
                )

    def _finish_job(
        self, name: str, kind: str, reason: str, message: str, succeeded: int, failed: int
    ) -> None:
        condition = {"type": kind, "status": "True", "reason": reason, "message": message}
        condition |= {"lastTransitionTime": _now(), "lastProbeTime": _now()}
        status = {"conditions": [condition], "succeeded": succeeded, "failed": failed, "active": 0}
        if kind == "Complete":
            status["completionTime"] = _now()
        self.batch.patch_namespaced_job_status(name, self.namespace, {"status": status})

    def _create_job_pod(self, job: dict[str, Any]) -> None:
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        labels = {"job-name": name, "batch.kubernetes.io/job-name": name, "controller-uid": uid}
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}
        self._create_pod(job["spec"]["template"], name, labels, owner)

    def _create_pod(
        self, template: dict[str, Any], prefix: str, labels: dict[str, str], owner: dict[str, Any]
    ) -> None:
        meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{prefix}-{uuid.uuid4().hex[:5]}",
                "namespace": self.namespace,
                "labels": {**(meta.get("labels") or {}), **labels},
                "annotations": meta.get("annotations") or {},
                "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }
        self.core.create_namespaced_pod(self.namespace, pod)

    # --- the Deployment controller (a rolling update without ReplicaSets) ---

    def _deployments(self, deployments: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        names = {d["metadata"]["name"] for d in deployments}
        for pod in pods:
            owner = pod["metadata"].get("labels", {}).get("tagger.test/deployment")
            if owner is not None and owner not in names:
                self._delete_pod(pod["metadata"]["name"])
        for deployment in deployments:
            name, generation = deployment["metadata"]["name"], deployment["metadata"]["generation"]
            template = deployment["spec"]["template"]
            revision = str(generation)
            mine = [
                p
                for p in pods
                if p["metadata"].get("labels", {}).get("tagger.test/deployment") == name
            ]
            new = [p for p in mine if p["metadata"]["labels"]["tagger.test/revision"] == revision]
            old = [p for p in mine if p not in new]
            wanted = deployment["spec"].get("replicas") or 1
            if len(new) < wanted:
                labels = {"tagger.test/deployment": name, "tagger.test/revision": revision}
                owner = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name,
                    "uid": deployment["metadata"]["uid"],
                }
                self._create_pod(template, f"{name}-{revision}", labels, owner)
            ready = [p for p in new if _is_ready(p)]
            if len(ready) >= wanted:  # maxUnavailable 0: the old pods go once the new are ready
                for pod in old:
                    self._delete_pod(pod["metadata"]["name"])
                old = []
            self._rollout_status(deployment, len(new) + len(old), len(new), len(ready))

    def _rollout_status(self, deployment: dict[str, Any], total: int, new: int, ready: int) -> None:
        meta = deployment["metadata"]
        done = ready >= (deployment["spec"].get("replicas") or 1) and total == new
        available = {"type": "Available", "status": "True" if ready else "False"}
        available["reason"] = "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable"
        progressing = {"type": "Progressing", "status": "True"}
        progressing["reason"] = "NewReplicaSetAvailable" if done else "ReplicaSetUpdated"
        status = {
            "observedGeneration": meta["generation"],
            "replicas": total,
            "updatedReplicas": new,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [available, progressing],
        }
        if {k: (deployment.get("status") or {}).get(k) for k in status} != status:
            self.apps.patch_namespaced_deployment_status(
                meta["name"], self.namespace, {"status": status}
            )

    # --- the kubelet ---

    def _kubelet(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            name = pod["metadata"]["name"]
            phase = (pod.get("status") or {}).get("phase")
            if name not in self.containers and name not in self.unpulled and phase == "Pending":
                self._start(pod)
            elif name in self.containers and phase == "Running":
                self._watch(pod, self.containers[name])

    def _start(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        (container,) = pod["spec"]["containers"]
        image = self.images.get(container["image"])
        if image is None:
            waiting = {"reason": "ErrImagePull", "message": f"{container['image']}: not found"}
            self._pod_status(name, "Pending", {"waiting": waiting}, container["name"])
            self.unpulled.add(name)
            return
        ip = f"127.1.{len(self.started) // 250}.{len(self.started) % 250 + 1}"
        env = {
            "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "HOSTNAME": name,
            "LANG": "C.UTF-8",
            "KUBECONFIG": str(self.kubeconfig),
            **image.env,
        }
        try:
            env |= self._env(pod, container)
        except LookupError as exc:  # retried at the next sync, as a kubelet does
            waiting = {"reason": "CreateContainerConfigError", "message": str(exc)}
            self._pod_status(name, "Pending", {"waiting": waiting}, container["name"])
            return
        pod.setdefault("status", {})["podIP"] = ip
        command = container.get("command") or []
        if not command:
            if image.entrypoint is None:
                raise ValueError(f"pod {name}: no command and the image has no entrypoint")
            command = image.entrypoint(pod, env)
        command = [*command, *(container.get("args") or [])]
        log = self.work_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self._sandbox(pod, container, image, command),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd="/",
            )
        self.api_server.emulator.pod_logs[(self.namespace, name)] = log
        self.containers[name] = _Container(process, log, ip)
        self.started.append(name)
        self.core.patch_namespaced_pod_status(
            name,
            self.namespace,
            {
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "startTime": _now(),
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [_container_status(container, {"running": {}}, False)],
                }
            },
        )

    def _env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            source = item.get("valueFrom")
            if source is None:
                env[item["name"]] = item.get("value", "")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secrets = {s["metadata"]["name"]: s for s in self._list(self.core, "secret")}
                data = (secrets.get(ref["name"]) or {}).get("data") or {}
                if ref["key"] not in data:
                    raise LookupError(f"secret {ref['name']!r} or its key {ref['key']!r} not found")
                env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
            elif source.get("fieldRef", {}).get("fieldPath") in (
                "metadata.name",
                "metadata.namespace",
            ):
                env[item["name"]] = pod["metadata"][source["fieldRef"]["fieldPath"].split(".")[1]]
            else:
                raise ValueError(f"pod {pod['metadata']['name']}: env source {source} not emulated")
        return env

    def _sandbox(
        self, pod: dict[str, Any], container: dict[str, Any], image: Image, command: list[str]
    ) -> list[str]:
        """The container: `command` in a mount and UTS namespace of its own (see the module)."""
        q = shlex.quote
        root = "/srv"
        fresh = {"proc", "srv", "root", "tmp", "app"}
        lines = ["set -e", f"mount -t tmpfs pod {root}"]
        for entry in sorted(os.scandir("/"), key=lambda e: e.name):
            if entry.name in fresh or entry.name.startswith("lost+found"):
                continue
            if entry.is_symlink():
                lines.append(f"ln -s {q(str(Path(entry.path).readlink()))} {root}/{q(entry.name)}")
            elif entry.is_dir():
                lines += [
                    f"mkdir {root}/{q(entry.name)}",
                    f"mount --rbind /{q(entry.name)} {root}/{q(entry.name)}",
                ]
        lines += [
            f"mkdir {root}/proc {root}/root {root}/tmp {root}/app",
            f"mount --rbind /proc {root}/proc",
        ]
        for path in hidden_paths():
            # what lies under a fresh directory (a checkout in /tmp, say) is hidden already
            if path.is_dir() and not any(path.is_relative_to(f"/{name}") for name in fresh):
                lines.append(f"mount -t tmpfs hidden {root}{q(str(path))}")
        # the image's packages and files, and the API server's address (see the module)
        keep = [Path(sys.prefix), Path(sys.base_prefix), *image.paths, self.kubeconfig]
        for path in (p.resolve() for p in keep):
            target = f"{root}{q(str(path))}"
            if path.is_dir():
                lines.append(f"mkdir -p {target}")
            else:
                lines += [f"mkdir -p {root}{q(str(path.parent))}", f"touch {target}"]
            lines.append(f"mount --bind {q(str(path))} {target}")
        if image.code is not None:
            for entry in sorted(os.scandir(image.code), key=lambda e: e.name):
                if entry.name.startswith(".") or entry.name.endswith(".egg-info"):
                    continue
                target = f"{root}/app/{q(entry.name)}"
                make = f"mkdir {target}" if entry.is_dir() else f"touch {target}"
                lines += [make, f"mount --bind {q(entry.path)} {target}"]
            lines.append(f"mkdir {root}/app/.zen")
        for mount in container.get("volumeMounts") or []:
            lines.append(f"mkdir -p {root}{q(mount['mountPath'])}")
        hosts = self._hosts(pod["metadata"]["name"])
        lines += [
            f"mount --bind {q(str(hosts))} {root}/etc/hosts",
            f"hostname {q(pod['metadata']['name'])}",
        ]
        workdir = container.get("workingDir") or ("/app" if image.code is not None else "/")
        inner = f"cd {q(workdir)} && exec {shlex.join(command)}"
        lines.append(f"exec chroot {root} /bin/sh -c {q(inner)}")
        return ["unshare", "--mount", "--uts", "--map-root-user", "sh", "-c", "\n".join(lines)]

    def _hosts(self, pod_name: str) -> Path:
        """/etc/hosts of a pod: localhost, itself, and each Service's name at a ready pod of it."""
        lines = ["127.0.0.1 localhost"]
        services = self._list(self.core, "service")
        pods = self._list(self.core, "pod")
        for service in services:
            selector = service["spec"].get("selector") or {}
            for pod in pods:
                labels = pod["metadata"].get("labels") or {}
                if _is_ready(pod) and selector.items() <= labels.items():
                    svc, ns = service["metadata"]["name"], self.namespace
                    lines.append(f"{pod['status']['podIP']} {svc}.{ns}.svc.cluster.local {svc}")
                    break
        path = self.work_dir / f"{pod_name}.hosts"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _watch(self, pod: dict[str, Any], running: _Container) -> None:
        name = pod["metadata"]["name"]
        (container,) = pod["spec"]["containers"]
        code = running.process.poll()
        if code is not None:
            terminated = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "finishedAt": _now(),
            }
            phase = "Succeeded" if code == 0 else "Failed"
            self._pod_status(name, phase, {"terminated": terminated}, container["name"])
            return
        probe = container.get("readinessProbe")
        if probe is None or time.monotonic() < running.probe_at:
            if probe is None and not running.ready:
                running.ready = True
                self._set_ready(name, container, True)
            return
        running.probe_at = time.monotonic() + 1.0
        ready = answers_ok(
            f"http://{running.ip}:{_port(container, probe)}{probe['httpGet']['path']}"
        )()
        if ready != running.ready:
            running.ready = ready
            self._set_ready(name, container, ready)

    def _set_ready(self, name: str, container: dict[str, Any], ready: bool) -> None:
        flag = "True" if ready else "False"
        self.core.patch_namespaced_pod_status(
            name,
            self.namespace,
            {
                "status": {
                    "conditions": [{"type": "Ready", "status": flag}],
                    "containerStatuses": [_container_status(container, {"running": {}}, ready)],
                }
            },
        )

    def _pod_status(self, name: str, phase: str, state: dict[str, Any], container: str) -> None:
        status = {"name": container, "ready": False, "restartCount": 0, "state": state}
        status |= {"image": "", "imageID": ""}
        self.core.patch_namespaced_pod_status(
            name,
            self.namespace,
            {"status": {"phase": phase, "containerStatuses": [status]}},
        )

    def _delete_pod(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        self._kill(name)
        try:
            self.core.delete_namespaced_pod(name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _kill(self, name: str) -> None:
        running = self.containers.get(name)
        if running is None or running.process.poll() is not None:
            return
        os.killpg(running.process.pid, signal.SIGTERM)
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()

    def failures(self, tail: int = 4000) -> str:
        """The end of the log of every container that exited with an error: for a test's message."""
        failed = [
            f"--- pod {name}, exit code {c.process.returncode}:\n"
            + c.log.read_text(errors="replace")[-tail:]
            for name, c in self.containers.items()
            if c.process.poll() not in (None, 0)
        ]
        return "\n".join(failed)


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _container_status(container: dict[str, Any], state: dict[str, Any], ready: bool) -> dict:
    return {
        "name": container["name"],
        "ready": ready,
        "restartCount": 0,
        "state": state,
        "image": container["image"],
        "imageID": "",
    }


def _port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port)
