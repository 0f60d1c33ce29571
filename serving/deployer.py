"""The stack's BentoML model deployer, as this project uses it: serve a Bento without refusing a
request on redeploy, list this model's servers, remove them.

Each Bento server is a record of the stack's BentoML model deployer, so `zenml model-deployer
models list`, `run.py serve-status` and `undeploy` see them. Locally (ZenML's `bentoml` flavor) a
server is a `BentoMLLocalDeploymentService` on a port of its own and the public port belongs to
`serving.front`, which forwards to the live one. On a cluster (`bentoml-kubernetes`, this
project's flavor) a server is a Deployment + Service that a redeploy patches (a rolling update).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bentoml

from project.waiting import answers_ok, port_is_free, wait_until
from serving import front as front_process
from serving.service import MODEL_NAME
from stacks.sandbox import free_port

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"


def start_server(
    bento: bentoml.Bento,
    port: int,
    timeout: int,
    model_version: int | None,
    working_dir: str,
    run: dict[str, str],
    check: Callable[[str], object] = lambda url: None,
) -> str:
    """Serve this Bento at `port`, replacing what served there without refusing a request.

    The new server starts on a free port and must pass `check(its URL)` before the front sends it
    traffic; the old servers are removed once the front has no request left in flight to them.
    A failed start or check leaves the old server serving and is an error with the reason.
    `run` names the pipeline, step and run that deploy (shown by `zenml model-deployer models`).
    """
    deployer = _deployer()
    if _on_kubernetes(deployer):
        return _roll_out(deployer, bento, timeout, model_version, run)
    front = find_front(port)
    if front is None:
        # servers from before the front, or behind a front that died, hold ports of their own
        remove_servers()
        wait_until(port_is_free(port), timeout, f"port {port}, still in use by another process")
    new = start_service(bento, free_port(), timeout, model_version, working_dir, run)
    backend = f"http://{HOST}:{new.config.port}"
    try:
        check(backend)
        if front is None:
            start_front(port, backend, timeout)
        else:
            front.switch(backend, timeout)
    except Exception:
        _remove_server(deployer, new)
        raise
    for old in servers():
        if old.uuid != new.uuid:
            logger.info("removing the replaced server %s", old.uuid)
            _remove_server(deployer, old)
    url = f"http://{HOST}:{port}"
    logger.info("serving %s at %s (server %s)", bento.tag, url, backend)
    return url


def _roll_out(deployer, bento, timeout: int, model_version: int | None, run: dict[str, str]) -> str:
    """A new record of the cluster deployer, whose objects replace the previous one's in place;
    the previous record goes once the rollout is complete (its objects now belong to the new one).

    No check before traffic here: each new pod takes traffic once its `/readyz` answers, and the
    deployment pipeline's smoke test runs against the Service after the rollout.
    """
    from project.zenml_internals import deploy_beside
    from stacks.bentoml_kubernetes.service import BentoMLKubernetesDeploymentService

    config = deployer.service_config(
        bento,
        model_name=MODEL_NAME,
        model_version=str(model_version) if model_version is not None else "",
        model_uri=bento.info.labels.get("model", ""),
        apis=["predict", "feedback", "metadata"],
        **run,
    )
    new = deploy_beside(deployer, config, BentoMLKubernetesDeploymentService.SERVICE_TYPE, timeout)
    if not new.is_running:
        raise RuntimeError(
            f"the rollout of {bento.tag} did not complete within {timeout}s: "
            f"{new.get_service_status_message()}"
        )
    for old in servers():
        if old.uuid != new.uuid:
            deployer.delete_model_server(old.uuid, force=True)
    return new.prediction_url


def start_service(
    bento: bentoml.Bento,
    port: int,
    timeout: int,
    model_version: int | None,
    working_dir: str,
    run: dict[str, str],
):
    """One Bento server as a record of the stack's deployer, on `port`, healthy or an error.

    Not `deployer.deploy_model`: it would hand back the running (or a stopped) server instead.
    """
    from zenml.integrations.bentoml.services.bentoml_local_deployment import (
        BentoMLLocalDeploymentConfig,
        BentoMLLocalDeploymentService,
    )

    from project.zenml_internals import deploy_beside

    deployer = _deployer()
    config = BentoMLLocalDeploymentConfig(
        model_name=MODEL_NAME,
        model_version=str(model_version) if model_version is not None else None,
        model_uri=bento.info.labels.get("model", ""),
        bento_tag=str(bento.tag),
        apis=["predict", "feedback", "metadata"],
        host=HOST,
        port=port,
        working_dir=working_dir,
        **run,
    )
    try:
        service = deploy_beside(
            deployer, config, BentoMLLocalDeploymentService.SERVICE_TYPE, timeout
        )
    except RuntimeError as exc:
        raise RuntimeError(f"the Bento server did not start within {timeout}s: {exc}") from exc
    if not service.is_running:
        logs = "".join(service.get_logs(tail=40))
        _remove_server(deployer, service)
        raise RuntimeError(f"the Bento server did not start within {timeout}s:\n{logs}")
    return service


@dataclass(frozen=True)
class Front:
    """A running `serving.front` process: its port, route file and what it reports."""

    port: int
    route: Path
    status: dict

    @property
    def pid(self) -> int:
        return self.status["pid"]

    def switch(self, backend: str, timeout: float) -> None:
        """Send new requests to `backend`; return once none is in flight to the old one."""
        import os
        import signal

        front_process.write_json(self.route, {"model": MODEL_NAME, "backend": backend})
        os.kill(self.pid, signal.SIGHUP)

        def switched() -> bool:
            status = _read_status(self.route)
            return status.get("backend") == backend and not status.get("draining")

        wait_until(switched, timeout, f"the front on port {self.port} to drain", interval=0.1)

    def stop(self) -> None:
        import psutil

        process = psutil.Process(self.pid)
        process.terminate()
        try:
            process.wait(timeout=30)
        except psutil.TimeoutExpired:
            process.kill()
        self.route.unlink(missing_ok=True)
        front_process.status_path(self.route).unlink(missing_ok=True)


def fronts() -> list[Front]:
    """This model's live fronts (a front whose process is gone is forgotten here); none on a
    cluster."""
    if _on_kubernetes(_deployer()):
        return []
    found = []
    for route in sorted(_fronts_dir().glob("*.route.json")):
        status = _read_status(route)
        if status and _is_front(status["pid"]):
            found.append(Front(int(status["port"]), route, status))
        else:
            route.unlink(missing_ok=True)
            front_process.status_path(route).unlink(missing_ok=True)
    return found


def find_front(port: int) -> Front | None:
    return next((f for f in fronts() if f.port == port), None)


def start_front(port: int, backend: str, timeout: float) -> Front:
    route = _fronts_dir() / f"{port}.route.json"
    front_process.write_json(route, {"model": MODEL_NAME, "backend": backend})
    log = route.with_name(f"{port}.log")
    command = [sys.executable, "-m", "serving.front", "--port", str(port), "--host", HOST]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--route", str(route)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(answers_ok(f"http://{HOST}:{port}/readyz"), timeout, "the front", process)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')[-2000:]}") from exc
    return Front(port, route, _read_status(route))


def servers() -> list:
    """The model servers of this model known to the active stack's BentoML deployer.

    Not `find_model_server(model_name=...)`: that narrows to the model's latest version, and a
    server of an older version (production is rarely the latest) would be missed.
    """
    deployer = _deployer()
    if _on_kubernetes(deployer):
        from stacks.bentoml_kubernetes.service import BentoMLKubernetesDeploymentService as Kind
    else:
        from zenml.integrations.bentoml.services.bentoml_local_deployment import (
            BentoMLLocalDeploymentService as Kind,
        )
    found = deployer.find_model_server(service_type=Kind.SERVICE_TYPE)
    return [service for service in found if service.config.model_name == MODEL_NAME]


def remove_servers() -> int:
    """Stop the fronts, then remove every server of this model; how many servers were removed."""
    for front in fronts():
        logger.info("stopping the front on port %s", front.port)
        front.stop()
    deployer = _deployer()
    found = servers()
    for old in found:
        logger.info("removing the server %s", old.uuid)
        _remove_server(deployer, old)
    return len(found)


def _remove_server(deployer, service) -> None:
    """Delete a server and every process it started.

    Stopping the zenml daemon leaves `bentoml serve`'s worker processes running (they keep
    the port), so they are collected first and ended after the daemon.
    """
    import psutil

    pid = getattr(service.status, "pid", None)
    children = []
    if pid and psutil.pid_exists(pid):
        children = psutil.Process(pid).children(recursive=True)
    deployer.delete_model_server(service.uuid, force=True)
    for child in children:
        if child.is_running():
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=30)
    for child in alive:
        child.kill()


def describe_servers() -> list[str]:
    """One line per front (public URL -> live server) and per server: id, state, URL, Bento,
    model version, and whether a front sends it traffic."""
    lines = []
    live = set()
    for front in fronts():
        live.add(front.status["backend"])
        lines.append(f"front  http://{HOST}:{front.port}  -> {front.status['backend']}")
    for service in servers():
        state = "running" if service.is_running else str(service.status.state.value)
        if _on_kubernetes(_deployer()):
            role = "live" if service.is_running else "idle"
        else:
            role = "live" if f"http://{HOST}:{service.config.port}" in live else "idle"
        lines.append(
            f"{service.uuid}  {state:<8}  {role}  {service.prediction_url or '-'}  "
            f"bento {service.config.bento_tag}  model version {service.config.model_version or '-'}"
        )
    return lines


def _deployer():
    from zenml.integrations.bentoml.model_deployers import BentoMLModelDeployer

    return BentoMLModelDeployer.get_active_model_deployer()


def _on_kubernetes(deployer) -> bool:
    from stacks.bentoml_kubernetes.deployer import BentoMLKubernetesModelDeployer

    return isinstance(deployer, BentoMLKubernetesModelDeployer)


def _fronts_dir() -> Path:
    directory = Path(_deployer().local_path) / "fronts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _read_status(route: Path) -> dict:
    try:
        return json.loads(front_process.status_path(route).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _is_front(pid: int) -> bool:
    import psutil

    try:
        return "serving.front" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False
