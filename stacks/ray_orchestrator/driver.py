"""Runs a `RunPlan` on the connected Ray cluster: each step a Ray task, in DAG order, independent
steps at the same time.

Ray never retries a step (`max_retries=0`): ZenML owns retries, inside the step process.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import multiprocessing
import multiprocessing.process
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import ray

from stacks.ray_orchestrator.plan import RunPlan, StepTask

logger = logging.getLogger(__name__)
_TAIL_LINES = 40
_GRACE_S = 5
HOST_NAMESPACE = "tagger-ray-orchestrator"
HOST_IDLE_S = 900.0  # a step host with no step running for this long exits
HOST_ATTEMPTS = 5


class StepFailedError(RuntimeError):
    """A step's process exited non-zero; carries the end of its output."""


class RunFailedError(RuntimeError):
    def __init__(self, failed: dict[str, str], skipped: list[str]):
        self.failed, self.skipped = failed, skipped
        lines = [f"step {name!r} failed:\n{reason}" for name, reason in failed.items()]
        if skipped:
            lines.append(f"not started because of the failure: {', '.join(skipped)}")
        super().__init__("\n".join(lines))


class RunStoppedError(RuntimeError):
    pass


class HostClosingError(RuntimeError):
    """A step host refused a step: it is exiting after its idle time."""


def _step_process_main(arguments: list[str], env: dict[str, str], code_dir: str, log: str) -> None:
    """A step process, forked from a step host's forkserver with zenml already imported: its
    output goes to `log`, its environment is its task's and the step's, its ZenML singletons
    start empty."""
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.clear()
    os.environ.update(env)
    # the client that submitted the run has brought a SQL store's schema up to date already; a
    # step process checking it again costs a second and must never migrate a shared database
    os.environ.setdefault("DISABLE_DATABASE_MIGRATION", "true")
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    sys.argv = ["zenml-step", *arguments]
    from zenml.entrypoints.entrypoint import main

    from project.zenml_internals import reset_client_singletons

    reset_client_singletons()
    try:
        main()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _with_code_on_path(environ: dict[str, str], code_dir: str) -> dict[str, str]:
    """The project importable in the forkserver (its preload) and in whatever a step starts."""
    path = os.pathsep.join(p for p in (code_dir, environ.get("PYTHONPATH")) if p)
    return {**environ, "PYTHONPATH": path}


@ray.remote(num_cpus=0, max_restarts=0, max_concurrency=256)
class StepHost:
    """Forks a node's step processes from one forkserver that outlives the runs.

    Ray gives every job (every run) workers of its own, so a forkserver started in a step's
    worker would pay zenml's import (`preload`, about 5 s) once per run. A host is a detached
    actor per node and Python environment: the first run starts it, later runs fork from it at
    once. It takes no CPU; the step's Ray task holds the step's resources while it waits. It
    exits after `HOST_IDLE_S` with no step running. Threaded: each step waits in its own call.
    """

    def __init__(self, code_dir: str) -> None:
        os.environ.update(_with_code_on_path(dict(os.environ), code_dir))
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["stacks.ray_orchestrator.preload", __name__])
        self.processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self.idle_since = time.monotonic()
        self.closing = False
        self.lock = threading.Lock()  # no step starts once the host has decided to exit
        threading.Thread(target=self._exit_when_idle, daemon=True).start()

    def start(
        self, name: str, arguments: list[str], env: dict[str, str], code_dir: str, log: str
    ) -> int:
        with self.lock:
            if self.closing:
                raise HostClosingError("this step host is exiting; start the step on a new one")
            process = self.context.Process(
                target=_step_process_main, args=(arguments, env, code_dir, log), name=name
            )
            process.start()
            self.processes[process.pid] = process
        return process.pid

    def wait(self, pid: int) -> int:
        """The step process's exit code, once it has exited."""
        process = self.processes[pid]
        process.join()
        with self.lock:
            del self.processes[pid]
            self.idle_since = time.monotonic()
        return process.exitcode

    def stop(self, pid: int) -> None:
        """End a step that was cancelled, forcefully if it lingers."""
        process = self.processes.get(pid)
        if process is None:
            return
        process.terminate()
        process.join(_GRACE_S)
        if process.is_alive():
            process.kill()

    def _exit_when_idle(self) -> None:
        while True:
            time.sleep(min(HOST_IDLE_S, 30))
            with self.lock:
                if not self.processes and time.monotonic() - self.idle_since >= HOST_IDLE_S:
                    self.closing = True
                    break
        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


@functools.cache
def _host_version() -> str:
    """This Python environment and this version of the driver and its preload."""
    version = hashlib.sha256(sys.executable.encode())
    for module in (__file__, Path(__file__).with_name("preload.py")):
        version.update(Path(module).read_bytes())
    return version.hexdigest()[:12]


def _step_host(code_dir: str) -> ray.actor.ActorHandle:
    """This node's step host for this Python environment and this version of the driver."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return StepHost.options(
        name=f"tagger-step-host-{node[:12]}-{_host_version()}",
        namespace=HOST_NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote(code_dir)


@ray.remote(max_retries=0)
def run_step(name: str, arguments: list[str], env: dict[str, str]) -> str:
    """Run one step's zenml entrypoint in a process of its own, forked for it by the node's
    step host, with this task's environment (the run's runtime env, the devices Ray gave it).

    A process per step: a step must not inherit another step's imports, global ZenML client
    or environment. Its output goes to the worker log (and so to the driver), the end of it
    into the error.
    """
    code_dir = str(Path.cwd())
    with tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False) as file:
        log = file.name
    step_env = {**_with_code_on_path(dict(os.environ), code_dir), **env}
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    done = threading.Event()

    def pump() -> None:
        with open(log, errors="replace") as lines:  # noqa: PTH123
            while True:
                line = lines.readline()
                if line:
                    print(line, end="", flush=True)
                    tail.append(line)
                elif done.is_set():
                    return
                else:
                    time.sleep(0.1)

    # the output is followed on a thread, and the exit waited for with short ray.wait calls:
    # ray.cancel's KeyboardInterrupt reaches this one only while it runs Python code
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    host = pid = None
    try:
        host, pid = _start_on_host(code_dir, name, arguments, step_env, log)
        exited = host.wait.remote(pid)
        while not ray.wait([exited], timeout=0)[0]:
            time.sleep(0.1)
        exitcode = ray.get(exited)
    except KeyboardInterrupt:  # ray.cancel
        if pid is not None:
            ray.get(host.stop.remote(pid))
        raise
    finally:
        done.set()
        reader.join(_GRACE_S)
        Path(log).unlink(missing_ok=True)
    if exitcode != 0:
        raise StepFailedError(f"exit code {exitcode}; last lines:\n{''.join(tail)}")
    return name


def _start_on_host(
    code_dir: str, name: str, arguments: list[str], env: dict[str, str], log: str
) -> tuple[ray.actor.ActorHandle, int]:
    """The host and the step's pid. A host found as it exits idle refuses the step; once it
    is gone (its name is free again) a new one is started."""
    for attempt in itertools.count(1):
        host = _step_host(code_dir)
        try:
            return host, ray.get(host.start.remote(name, arguments, env, code_dir, log))
        except (ray.exceptions.RayActorError, HostClosingError):
            if attempt == HOST_ATTEMPTS:
                raise
            time.sleep(1.0)


def _task_options(plan: RunPlan, step: StepTask) -> dict:
    return {"name": plan.task_name(step.name), **step.options}


def run_dag(plan: RunPlan, stop_requested: Callable[[], bool] = lambda: False) -> list[str]:
    """Execute the plan; returns the finished steps in completion order.

    `fail_fast` and `stop_on_failure` start nothing new after a failure (running steps finish);
    `continue_on_failure` still runs every step whose upstream steps all succeeded. Steps
    downstream of a failure never start. `stop_requested` is polled while steps run.
    """
    waiting = {step.name: step for step in plan.steps}
    running: dict[ray.ObjectRef, str] = {}
    finished: list[str] = []
    failed: dict[str, str] = {}
    blocked: list[str] = []
    keep_going = plan.execution_mode == "continue_on_failure"

    while waiting or running:
        if keep_going or not failed:
            for name, step in list(waiting.items()):
                if any(up in failed or up in blocked for up in step.upstream):
                    blocked.append(name)
                    del waiting[name]
                elif all(up in finished for up in step.upstream):
                    ref = run_step.options(**_task_options(plan, step)).remote(
                        name, step.arguments, step.env
                    )
                    running[ref] = name
                    del waiting[name]
                    logger.info("started step %s", name)
        if not running:
            if not failed:
                raise RuntimeError(f"steps with unknown upstream steps: {sorted(waiting)}")
            blocked += list(waiting)
            break
        ready, _ = ray.wait(list(running), num_returns=1, timeout=plan.poll_interval_s)
        for ref in ready:
            name = running.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, StepFailedError) else exc
                failed[name] = str(cause)
                logger.error("step %s failed", name)
            else:
                finished.append(name)
                logger.info("finished step %s", name)
        if running and stop_requested():
            for ref in running:
                ray.cancel(ref)
            ray.wait(list(running), num_returns=len(running), timeout=60)
            raise RunStoppedError(f"stopped; interrupted steps: {', '.join(running.values())}")

    if failed:
        raise RunFailedError(failed, blocked)
    return finished
