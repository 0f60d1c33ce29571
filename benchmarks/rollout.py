"""Redeploys under load (issue: rollouts): requests lost while a served model is replaced.

Both paths run in this process against the stack's BentoML model deployer (local stack,
throw-away store), each under `SteadyLoad` at concurrency 8 for the whole redeploy:

- front: `serving.deployer.start_server`, what `run.py deploy` runs (the new server starts on
  its own port, is checked, the front switches to it and drains the old one, the old one goes);
- remove-then-start: the previous way (remove the model's server, wait for the port, start the
  new one on it), with the same deployer calls;

and the price of the front: requests/s at concurrency 8 through it vs straight to the server.

    python -m benchmarks.rollout
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.env import PROJECT_ROOT, activate_local_stack, save_results
from benchmarks.serving import _load, _projects
from benchmarks.table import Row, compare, conditions, print_table
from stacks.sandbox import SteadyLoad, free_port

CONCURRENCY = 8
SETTLE_S = 5  # load before and after each redeploy
THROUGHPUT_REQUESTS = 1000


def _bento(classifier, version: int):
    from serving.package import build_bento, runtime_requirements, save_model

    return build_bento(save_model(classifier, zenml_version=version), runtime_requirements())


def _under_load(url: str, redeploy) -> dict:
    with SteadyLoad(f"{url}/predict", _projects(), CONCURRENCY) as load:
        time.sleep(SETTLE_S)
        started = time.perf_counter()
        redeploy()
        took = time.perf_counter() - started
        time.sleep(SETTLE_S)
    return {
        "redeploy_s": round(took, 1),
        "answered": load.ok,
        "failed": load.failed,
        "outage_s": round(load.outage_s, 1),
        "first_failures": load.reasons[:3],
    }


def main() -> None:
    activate_local_stack()
    from project.waiting import port_is_free, wait_until
    from serving import deployer
    from tagger.config import DEFAULT_BASE_MODEL
    from tagger.data import LABELS
    from tagger.model import TextClassifier

    classifier = TextClassifier.from_base(DEFAULT_BASE_MODEL, LABELS, 128)
    port, where = free_port(), str(PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    results: dict = {"concurrency": CONCURRENCY, "model": DEFAULT_BASE_MODEL, "backend": "torch"}
    try:
        deployer.start_server(_bento(classifier, 1), port, 300, 1, where, {})
        second = _bento(classifier, 2)
        results["front"] = _under_load(
            url, lambda: deployer.start_server(second, port, 300, 2, where, {})
        )
        backend = f"http://127.0.0.1:{deployer.servers()[0].config.port}"
        projects = _projects()
        asyncio.run(_load(f"{backend}/predict", projects, CONCURRENCY, 200))  # warm-up
        results["throughput"] = {
            "through_front": asyncio.run(
                _load(f"{url}/predict", projects, CONCURRENCY, THROUGHPUT_REQUESTS)
            ),
            "straight_to_server": asyncio.run(
                _load(f"{backend}/predict", projects, CONCURRENCY, THROUGHPUT_REQUESTS)
            ),
        }
        deployer.remove_servers()

        deployer.start_service(second, port, 300, 2, where, {})
        third = _bento(classifier, 3)

        def remove_then_start() -> None:
            deployer.remove_servers()
            wait_until(port_is_free(port), 60, f"port {port}")
            deployer.start_service(third, port, 300, 3, where, {})

        results["remove_then_start"] = _under_load(url, remove_then_start)
    finally:
        deployer.remove_servers()
    save_results("rollout", results)
    print_table(rows(results))


def rows(results: dict) -> list[Row]:
    """The README's rows of `results/rollout.json`."""
    front, old = results["front"], results["remove_then_start"]
    rps = results["throughput"]
    c = results["concurrency"]
    return [
        Row(
            f"failed requests during a redeploy under load at concurrency {c} "
            f"(`python -m benchmarks.rollout`, {results['backend']} Bento): front switch "
            f"({front['redeploy_s']} s redeploy, {front['answered']:,} answered) vs the previous "
            f"remove-then-start ({old['outage_s']} s without answers, {old['answered']:,} "
            f"answered{conditions(results)})",
            f"{front['failed']:,}",
            f"{old['failed']:,}",
        ),
        compare(
            f"served requests/s at concurrency {c} through the front vs straight to the Bento "
            "server, same run",
            rps["through_front"]["rps"],
            rps["straight_to_server"]["rps"],
            digits=2,
        ),
    ]


if __name__ == "__main__":
    main()
