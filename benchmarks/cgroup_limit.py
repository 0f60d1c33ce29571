"""A memory limit per Ray worker process, enforced by the kernel: a cgroup (v1 memory controller)
of its own for each worker, joined by Ray's `worker_process_setup_hook` as the worker starts.

A worker that goes over the limit is killed by the kernel; Ray then retries the task or restarts
the actor, so a run can complete after kills: `peaks` counts them (`oom_kills`). No side effects
on import: Ray workers import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/memory/tagger-bench")
LIMIT_ENV = "TAGGER_BENCH_WORKER_LIMIT_BYTES"
HOOK = "benchmarks.cgroup_limit.join"


def available() -> bool:
    return ROOT.parent.is_dir() and os.access(ROOT.parent, os.W_OK)


def join() -> None:
    """Ray's setup hook: put this worker into a new group capped at the limit in the env."""
    limit = os.environ.get(LIMIT_ENV)
    if not limit:
        return
    group = ROOT / str(os.getpid())
    group.mkdir(parents=True, exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(limit)
    (group / "cgroup.procs").write_text(str(os.getpid()))


def peaks() -> dict[int, dict[str, int]]:
    """Per worker group: the most memory it was ever charged, how often it hit the limit (page
    cache is reclaimed there first), and how many times the kernel killed its process."""
    found = {}
    for group in ROOT.iterdir() if ROOT.is_dir() else ():
        if group.is_dir() and group.name.isdigit():
            found[int(group.name)] = {
                "max_usage_bytes": int((group / "memory.max_usage_in_bytes").read_text()),
                "limit_hits": int((group / "memory.failcnt").read_text()),
                "oom_kills": _oom_kills(group),
            }
    return found


def _oom_kills(group: Path) -> int:
    for line in (group / "memory.oom_control").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill":
            return int(value)
    return 0


def remove_empty_groups() -> None:
    """Groups of workers that have exited (a group with a live process cannot be removed), and
    the root group once it holds none."""
    if not ROOT.is_dir():
        return
    for group in ROOT.iterdir():
        if group.is_dir() and not (group / "cgroup.procs").read_text().strip():
            group.rmdir()
    if not any(g.is_dir() for g in ROOT.iterdir()):
        ROOT.rmdir()
