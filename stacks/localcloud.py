"""A cloud-shaped localhost for the cloud stacks, every part a real server on a free port:
S3 (moto's server), a ZenML server (with logins, as deployed), an MLflow tracking server that keeps
its artifacts in that S3, and for the ray-cloud stack a Ray head that sees none of the client's
files (`isolated_command`).

A client of it is a process with `LocalCloud.env`: its own ZenML config, connected to the server
with a service account's API key (ZENML_STORE_URL, ZENML_STORE_API_KEY), and the stack's file
(`stacks/ray-cloud.yaml`, or `stacks/kubernetes.yaml` beside a cluster the caller provides)
registered from those endpoints and active. Tests and benchmarks use it; nothing else.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from project.paths import PROJECT_ROOT, STACKS_DIR
from stacks.sandbox import RayHead, background_server, free_port, start_ray_head, throwaway_env

BUCKET = "tagger"
ZENML_PREFIX = "zenml"  # the artifact store's path in the bucket
MLFLOW_PREFIX = "mlflow"  # the MLflow server's artifact destination in the bucket
# moto takes any credentials; they reach the steps only through the `tagger_s3` secret
S3_KEY, S3_SECRET = "tagger-key", "tagger-secret"
_BIN = Path(sys.executable).parent


class CloudUnavailableError(RuntimeError):
    """A part of the local cloud cannot start on this machine; the message says which and why."""


@dataclass(frozen=True)
class LocalCloud:
    env: dict[str, str]
    s3_endpoint: str
    zenml_url: str
    mlflow_url: str
    ray: RayHead | None  # only for a stack with the Ray orchestrator

    def zenml_api(self, path: str, **params: Any) -> Any:
        """GET on the ZenML server's REST API, logged in with the client's API key."""
        import requests

        login = requests.post(
            f"{self.zenml_url}/api/v1/login",
            data={"grant_type": "zenml-api-key", "password": self.env["ZENML_STORE_API_KEY"]},
            timeout=30,
        )
        login.raise_for_status()
        response = requests.get(
            f"{self.zenml_url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )

    def objects(self, prefix: str = "") -> dict[str, int]:
        """Every object under `prefix` in the bucket, with its size in bytes."""
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """A command of this project's, run from the checkout as this cloud's client."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def check_isolation_available() -> None:
    try:
        subprocess.run(
            ["unshare", "--mount", "--map-root-user", "true"],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CloudUnavailableError(
            f"the Ray head cannot be isolated from the client's files: `unshare --mount "
            f"--map-root-user` fails here ({exc})"
        ) from exc


@contextmanager
def local_cloud(
    root: Path,
    image: Sequence[Path] = (),
    num_cpus: int = 4,
    stack_name: str = "ray-cloud",
    env: dict[str, str] | None = None,
    components: dict[str, dict[str, Any]] | None = None,
) -> Iterator[LocalCloud]:
    """The servers, stopped in reverse order when the block ends, also on failure.

    `image`: paths the cluster image would carry besides its packages (a base model's weights).
    `stack_name`: the stack file registered (`stacks/<stack_name>.yaml`); a Ray head only if its
    orchestrator is Ray. `env`: the client's values for the file's other variables (a cluster's
    context and namespace). `components`: configuration values that replace the file's, by
    component type (a prebuilt image for the model deployer).
    """
    check_isolation_available()
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise CloudUnavailableError(f"moto[server] is not installed: {exc}") from exc
    root.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        s3_port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        s3_endpoint = f"http://127.0.0.1:{s3_port}"

        mlflow_url = stack.enter_context(_mlflow_server(root, s3_endpoint))
        server = stack.enter_context(_zenml_server(root))
        client_env = {
            **os.environ,
            **throwaway_env(root / "client"),
            **server,
            "TAGGER_S3_PATH": f"s3://{BUCKET}/{ZENML_PREFIX}",
            "TAGGER_S3_ENDPOINT": s3_endpoint,
            "TAGGER_MLFLOW_URI": mlflow_url,
            **(env or {}),
        }
        spec = _stack_file(stack_name, components or {})
        head = None
        if spec["components"]["orchestrator"]["flavor"] == "ray":
            head = stack.enter_context(start_ray_head(root / "ray", num_cpus=num_cpus, image=image))
            client_env["TAGGER_RAY_ADDRESS"] = head.dashboard
        cloud = LocalCloud(
            env=client_env,
            s3_endpoint=s3_endpoint,
            zenml_url=server["ZENML_STORE_URL"],
            mlflow_url=mlflow_url,
            ray=head,
        )
        cloud.s3().create_bucket(Bucket=BUCKET)
        _setup_client(cloud, root, spec)
        yield cloud


@contextmanager
def _mlflow_server(root: Path, s3_endpoint: str) -> Iterator[str]:
    """`mlflow server` proxying artifacts to S3: clients need only its URL, never S3 credentials."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", f"s3://{BUCKET}/{MLFLOW_PREFIX}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # its job runners: three idle processes
    }
    with background_server(command, f"{url}/health", root / "mlflow.log", "mlflow server", env):
        yield url


@contextmanager
def _zenml_server(root: Path) -> Iterator[dict[str, str]]:
    """A ZenML server as one is deployed (its own SQL store, OAuth2 logins) and what a client
    elsewhere needs to reach it: its URL and a service account's API key.

    Not `zenml login --local`: that server takes no logins, and ZenML treats it as the client's
    own (its id is the client's user id), refusing remote stacks; a cloud has neither.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    password = secrets.token_hex(16)
    server_env = {
        **os.environ,
        "ZENML_SERVER": "true",
        "ZENML_CONFIG_PATH": str(root / "zenml-server"),
        "ZENML_STORE_TYPE": "sql",
        "ZENML_STORE_URL": f"sqlite:///{root / 'zenml-server.db'}",
        "ZENML_SERVER_AUTH_SCHEME": "OAUTH2_PASSWORD_BEARER",
        "ZENML_SERVER_JWT_SECRET_KEY": secrets.token_hex(32),
        "ZENML_SERVER_DEPLOYMENT_TYPE": "other",
        "ZENML_SERVER_AUTO_ACTIVATE": "true",
        "ZENML_DEFAULT_USER_PASSWORD": password,
    }
    command = [
        str(_BIN / "uvicorn"), "zenml.zen_server.zen_server_api:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with background_server(
        command, f"{url}/health", root / "zenml-server.log", "zenml server", server_env
    ):
        admin_env = {
            **os.environ,
            **throwaway_env(root / "zenml-admin"),
            "ZENML_STORE_URL": url,
            "ZENML_STORE_USERNAME": "default",
            "ZENML_STORE_PASSWORD": password,
        }
        done = subprocess.run(
            [sys.executable, "-c", _CREATE_API_KEY],
            env=admin_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"no API key from the ZenML server:\n{done.stderr[-3000:]}")
        yield {"ZENML_STORE_URL": url, "ZENML_STORE_API_KEY": done.stdout.strip().splitlines()[-1]}


_CREATE_API_KEY = """
from zenml.client import Client
client = Client()
client.create_service_account(name="tagger-client")
print(client.create_api_key("tagger-client", name="client").key)
"""


def _stack_file(name: str, components: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`stacks/<name>.yaml` as shipped but for its alerter and the `components` values: ZenML
    checks a Slack alerter's token with Slack's API when it is registered, and Slack cannot be
    reached from here, so the local stacks' file alerter stands in for it."""
    import yaml

    stack = yaml.safe_load((STACKS_DIR / f"{name}.yaml").read_text())
    stack["components"]["alerter"] = {
        "name": "file-alerts",
        "flavor": "file",
        "configuration": {"path": "${TAGGER_ARTIFACT_ROOT}/alerts.jsonl"},
    }
    for kind, values in components.items():
        stack["components"][kind]["configuration"].update(values)
    return stack


def _setup_client(cloud: LocalCloud, root: Path, stack: dict[str, Any]) -> None:
    """As a user would: the stack's secrets, then the stack from its file, active."""
    import yaml

    path = root / f"{stack['stack_name']}.yaml"
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    commands = [
        [str(_BIN / "zenml"), "secret", "create", "tagger_s3",
         f"--aws_access_key_id={S3_KEY}", f"--aws_secret_access_key={S3_SECRET}"],
        # the MLflow server here has no auth: any username and password pass
        [str(_BIN / "zenml"), "secret", "create", "tagger_mlflow",
         "--username=tagger", "--password=unused"],
        [sys.executable, "-m", "stacks.register", str(path), "--activate", stack["stack_name"]],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=cloud.env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
