"""The platform's Dagster services, started exactly as docker-compose.yml starts them.

The commands are read from docker-compose.yml (``${VAR:-default}`` filled in from
the given environment, as compose does), so the tests and the benchmark run the
very processes a deployment runs: the code location, the webserver and the daemon.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("code", "webserver", "daemon")
VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}")


def compose_file() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def substitute(match: re.Match) -> str:
        name, kind, arg = match.groups()
        if env.get(name):
            return env[name]
        if kind == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return VARIABLE.sub(substitute, text)


def service_command(service: str, env: Mapping[str, str]) -> list[str]:
    return [interpolate(str(arg), env) for arg in compose_file()["services"][service]["command"]]


def service_env_names(service: str) -> set[str]:
    return set(compose_file()["services"][service]["environment"])


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s") from None
            time.sleep(0.5)


def start(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """A service process in a session of its own (so ``stop`` reaches its children), output into ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, env=dict(env), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (runs launched by the code server included), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def instance_home(folder: Path) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.yaml, as the Docker image does."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", folder / "dagster.yaml")
    return folder


@contextmanager
def running_platform(env: Mapping[str, str], logs: Path) -> Iterator[str]:
    """Start code location, webserver and daemon with ``env``; yield the GraphQL URL; stop them all."""
    env = dict(env) | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        for service in SERVICES:
            procs.append(start(service_command(service, env), env, logs / f"{service}.log"))
            if service == "code":
                wait_for_port(int(env["FER_CODE_PORT"]), procs[0], timeout=120)
        wait_for_port(int(env["FER_UI_PORT"]), procs[1], timeout=120)
        yield f"http://127.0.0.1:{env['FER_UI_PORT']}/graphql"
    finally:
        for proc in reversed(procs):
            stop(proc)


def graphql(url: str, query: str, **variables) -> dict:
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


SENSOR_RUNS = """
query($trigger: String!) { runsOrError(filter: {tags: [{key: "fer/trigger", value: $trigger}]}) {
  ... on Runs { results { runId status startTime endTime tags { key value } } } } }
"""


def sensor_runs(url: str, trigger: str = "new_images_sensor") -> list[dict]:
    """Runs requested by the sensor ``trigger`` (the new-images sensor by default), newest first."""
    return graphql(url, SENSOR_RUNS, trigger=trigger)["runsOrError"]["results"]


def wait_for_runs(
    url: str, known: set[str], count: int, timeout: float, trigger: str = "new_images_sensor"
) -> list[dict]:
    """Wait until ``count`` runs of the sensor ``trigger`` not in ``known`` have finished; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [r for r in sensor_runs(url, trigger) if r["runId"] not in known]
        if len(new) >= count and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in new):
            return new
        time.sleep(1)
    raise TimeoutError(f"no {count} finished sensor run(s) after {timeout:.0f} s: {sensor_runs(url)}")


SENSOR_STATE = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState {
  typeSpecificData { ... on SensorData { lastCursor } } ticks(limit: 50) { tickId status runKeys runIds } } } } }
"""
SET_CURSOR = """
mutation($selector: SensorSelector!, $cursor: String) {
  setSensorCursor(sensorSelector: $selector, cursor: $cursor) { __typename } }
"""
REPOSITORIES = "query { repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


def sensor_selector(url: str, sensor: str = "new_images_sensor") -> dict:
    [repository] = graphql(url, REPOSITORIES)["repositoriesOrError"]["nodes"]
    return {
        "repositoryName": repository["name"],
        "repositoryLocationName": repository["location"]["name"],
        "sensorName": sensor,
    }


def sensor_state(url: str) -> tuple[str | None, list[dict]]:
    """(the sensor's stored cursor, its latest ticks, newest first) as the daemon recorded them."""
    state = graphql(url, SENSOR_STATE, selector=sensor_selector(url))["sensorOrError"]["sensorState"]
    return state["typeSpecificData"]["lastCursor"], state["ticks"]


def set_sensor_cursor(url: str, cursor: str | None) -> None:
    """What an operator does from the UI's sensor page ("Set cursor value")."""
    answer = graphql(url, SET_CURSOR, selector=sensor_selector(url), cursor=cursor)["setSensorCursor"]
    assert answer["__typename"] == "Sensor", answer


@contextmanager
def running_webserver(env: Mapping[str, str], port: int, folder: Path) -> Iterator[str]:
    """Only the webserver, loading workspace.yaml on a fresh SQLite DAGSTER_HOME; yields its base URL."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(env) | {"DAGSTER_HOME": str(home)}
    command = [
        str(Path(sys.executable).parent / "dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "workspace.yaml",
    ]
    proc = start(command, env, folder / "webserver.log")
    try:
        wait_for_port(port, proc, timeout=120)
        wait_for_code_location(f"http://127.0.0.1:{port}/graphql", timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


LOCATIONS = "query { workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"


def wait_for_code_location(url: str, timeout: float) -> None:
    """The webserver answers before its code location has loaded; wait for that too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the code location did not load in {timeout:.0f} s")


def platform_env(azure_env: dict, dagster_pg_url: str, tmp_path) -> dict:
    """The compose services' environment on this machine: test databases, Azurite, fast sensor ticks; embedding in
    the code location's processes (``FER_RAY_ADDRESS`` empty: the Ray cluster is tested in embeddings/)."""
    return dict(azure_env) | {
        "FER_RAY_ADDRESS": "",
        "FER_RAY_ACTORS": "1,4",
        "FER_EVENTS_QUEUE": "",  # new images by listing; the events test sets a queue
        "FER_RECONCILE_HOURS": "24",
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "DAGSTER_HOME": str(instance_home(tmp_path / "dagster_home")),
        "DAGSTER_PG_URL": dagster_pg_url,
        "FER_SENSOR_INTERVAL_S": "2",
        "FER_SETTLE_S": "1",
    } | loopback_ports()


def loopback_ports() -> dict[str, str]:
    """The code location and the webserver on free loopback ports (never the compose file's 0.0.0.0)."""
    return {
        "FER_CODE_BIND": "127.0.0.1",
        "FER_CODE_HOST": "127.0.0.1",
        "FER_CODE_PORT": str(free_port()),
        "FER_UI_BIND": "127.0.0.1",
        "FER_UI_PORT": str(free_port()),
    }
