"""The definitions load as users load them: module import, `dagster asset materialize`, workspace."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from fer_platform.definitions import ALL_STAGES, build_definitions
from fer_platform.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_defs_load_with_partitions_from_the_folders(fer_env, image_root):
    defs = build_definitions(load_settings())
    job = defs.resolve_job_def("embed_images")
    assert job.partitions_def.get_partition_keys() == ["angry", "happy", "sad"]
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == set(ALL_STAGES)
    (image_root / "train" / "joy").mkdir()
    keys = (
        build_definitions(load_settings()).resolve_job_def("embed_images").partitions_def.get_partition_keys()
    )
    assert "joy" in keys


def test_module_defs_loads_on_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FER_")} | {"FER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", "from fer_platform.definitions import defs; print(type(defs).__name__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "Definitions"


def test_dagster_cli_materializes_a_partition_on_a_fresh_home(fer_env, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = os.environ | {"DAGSTER_HOME": str(home)}
    cmd = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "fer_platform.definitions",
        "--select",
        "raw_images,embeddings_table",
        "--partition",
        "sad",
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with psycopg.connect(fer_env["FER_PG_DSN"]) as conn:
        assert conn.execute("SELECT count(*) FROM imagenes_fer WHERE emotion = 'sad'").fetchone()[0] == 4


def test_workspace_and_dg_config_load(fer_env):
    for cmd in (
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        [str(BIN / "dg"), "check", "defs"],
    ):
        proc = subprocess.run(
            cmd, env=dict(os.environ), cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
