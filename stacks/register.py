"""Registers the stacks in `stacks/*.yaml` idempotently and activates one.

`zenml stack import` prompts when a stack exists, so the YAML (same shape as `zenml stack
export`) is applied here through the client: components are created or updated in place.

    python -m stacks.register [--activate local] [FILE ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import string
from pathlib import Path
from typing import Any

import yaml

from project.paths import PROJECT_ROOT, STACKS_DIR

__all__ = ["STACKS_DIR", "load_stack_file", "register", "register_flavors"]

logger = logging.getLogger("stacks.register")
# custom flavors that stack files may use; registered before any stack
PROJECT_FLAVORS = {
    "orchestrator": "stacks.ray_orchestrator.RayOrchestratorFlavor",
    "alerter": "stacks.file_alerter.FileAlerterFlavor",
    "model_deployer": "stacks.bentoml_kubernetes.BentoMLKubernetesDeployerFlavor",
}


def load_stack_file(path: Path) -> dict[str, Any]:
    """Read a stack YAML with `${VAR}` expanded from the environment.

    `PROJECT_ROOT` is this checkout; `TAGGER_ARTIFACT_ROOT` defaults to `.artifacts` in it, so
    tests and benchmarks can point a stack at a throw-away directory; `RAY_ADDRESS` (Ray's own
    variable) defaults to `auto`, the cluster started on this machine.
    """
    values = {
        "PROJECT_ROOT": str(PROJECT_ROOT),
        "TAGGER_ARTIFACT_ROOT": str(PROJECT_ROOT / ".artifacts"),
        "RAY_ADDRESS": "auto",
        **os.environ,
    }
    try:
        text = string.Template(path.read_text()).substitute(values)
    except KeyError as exc:
        raise SystemExit(f"{path.name}: environment variable {exc} is not set") from exc
    return yaml.safe_load(text)


def register_flavors() -> None:
    """`zenml <type> flavor register` for the project's flavors, idempotently.

    A flavor is stored as an import path from the source root, so the root must be this
    project whichever script calls this (ZenML would take the script's own folder).
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.models import FlavorUpdate
    from zenml.stack.flavor import validate_flavor_source
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    client = Client()
    for type_name, source in PROJECT_FLAVORS.items():
        component_type = StackComponentType(type_name)
        _, flavor = validate_flavor_source(source=source, component_type=component_type)
        existing = client.list_flavors(name=flavor.name, type=component_type).items
        if existing:
            model = flavor.to_model(integration="custom", is_custom=True)
            update = FlavorUpdate(source=model.source, config_schema=model.config_schema)
            client.zen_store.update_flavor(existing[0].id, update)
        else:
            client.create_flavor(source=source, component_type=component_type)


def register(spec: dict[str, Any]) -> str:
    """Create or update the stack `spec` describes; the project's flavors are registered first."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    register_flavors()
    client = Client()
    components = {}
    for type_name, component in spec["components"].items():
        component_type = StackComponentType(type_name)
        name, config = component["name"], component.get("configuration") or {}
        existing = client.list_stack_components(type=component_type, name=name).items
        if not existing:
            client.create_stack_component(name, component["flavor"], component_type, config)
        elif existing[0].flavor_name != component["flavor"]:
            raise SystemExit(f"{type_name} {name!r} exists with flavor {existing[0].flavor_name!r}")
        elif existing[0].configuration != config:
            client.update_stack_component(name, component_type, configuration=config)
        components[component_type] = name
    stack_name = spec["stack_name"]
    if client.list_stacks(name=stack_name).items:
        client.update_stack(stack_name, component_updates=components)
    else:
        client.create_stack(stack_name, components=components)
    return stack_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="stack files (default: local.yaml)")
    parser.add_argument("--activate", help="stack to set active afterwards")
    args = parser.parse_args()
    from zenml.client import Client

    register_flavors()
    for path in args.files or [STACKS_DIR / "local.yaml", STACKS_DIR / "ray-local.yaml"]:
        name = register(load_stack_file(path))
        print(f"registered stack {name!r} from {path.name}")
    if args.activate:
        Client().activate_stack(args.activate)
        print(f"active stack: {args.activate}")


if __name__ == "__main__":
    main()
