"""The definitions load as users load them: module import, `dagster asset materialize`, workspace."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions, load_defs
from fer_platform.orchestration.names import PIPELINE_STAGES
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_defs_hold_the_stages_the_sensor_and_dynamic_emotion_partitions(fer_env):
    defs = build_definitions(load_settings())
    assert defs.resolve_job_def("embed_images").partitions_def == EMOTION_PARTITIONS
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    models = {"emotion_classifier", "emotion_model", "expression_vectors", "split_overlap", "label_issues"}
    assert keys == {*PIPELINE_STAGES, "vector_index", *models}
    assert [s.name for s in defs.sensors] == ["new_images_sensor", "landing_events_sensor", "search_index_automation"]


def test_loading_registers_the_emotion_folders_in_dagster_home(fer_env, image_root, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    load_defs()
    (image_root / "train" / "joy").mkdir()
    load_defs()
    with DagsterInstance.get() as instance:
        assert sorted(instance.get_dynamic_partitions("emotion")) == ["angry", "happy", "joy", "sad"]


@pytest.mark.slow  # a fresh interpreter loads the definitions
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


@pytest.mark.slow  # Dagster CLI subprocesses
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


@pytest.mark.slow  # Dagster CLI subprocesses
def test_workspace_and_dg_config_load(fer_env, tmp_path):
    # As the README says: a DAGSTER_HOME of one's own (the repository's dagster.yaml is the deployment's).
    env = os.environ | {"DAGSTER_HOME": str(tmp_path)}
    for cmd in (
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        [str(BIN / "dg"), "check", "defs"],
    ):
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])


@pytest.mark.slow  # Dagster CLI subprocesses
def test_dg_list_defs_lists_every_definition_of_the_snapshot(fer_env, tmp_path):
    env = os.environ | {"DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(BIN / "dg"), "list", "defs", "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(proc.stdout)
    snapshot = json.loads((REPO / "fer_platform_tests" / "snapshots" / "definitions.json").read_text())
    assert sorted(a["asset_key"] for a in listed["assets"]) == snapshot["assets"]
    assert sorted(c["key"] for c in listed["asset_checks"]) == snapshot["asset_checks"]
    assert sorted(j["name"] for j in listed["jobs"]) == snapshot["jobs"]
    assert sorted(s["name"] for s in listed["sensors"]) == snapshot["sensors"]
    assert sorted(r["name"] for r in listed["resources"]) == snapshot["resources"]
