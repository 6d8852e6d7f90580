"""Smoke test of the Dagster UI: headless Chromium renders the asset graph of the definitions."""

import shutil
import subprocess
from pathlib import Path

import pytest

from fer_platform_tests.support.servers.deployment import free_port, running_webserver

pytestmark = pytest.mark.slow  # the Dagster webserver and Chromium

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
    "--virtual-time-budget=20000",
]


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed (bin/setup installs Debian's chromium)")
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.timeout(300)
def test_asset_graph_page_shows_the_stage_groups(fer_env, tmp_path):
    port = free_port()
    with running_webserver(fer_env, port, tmp_path) as base_url:
        page = f"{base_url}/asset-groups"
        dom = chromium(["--dump-dom", page], tmp_path / "profile").stdout
        screenshot = tmp_path / "asset_graph.png"
        chromium([f"--screenshot={screenshot}", page], tmp_path / "profile")
    for group in ("images", "embeddings", "replica", "lake", "models", "search"):
        assert f">{group}<" in dom, group
    assert screenshot.stat().st_size > 20_000
