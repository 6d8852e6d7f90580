"""The definitions' public names (a contract checked from outside) equal the committed snapshot.

A rename, a lost check or a sensor that no longer loads from ``defs/`` fails here.
Update ``snapshots/definitions.json`` only for a deliberate change of the contract.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import Definitions

from fer_platform import definitions as definitions_module
from fer_platform.definitions import build_definitions
from fer_platform.settings import load_settings

TESTS = Path(__file__).parent
SNAPSHOT = TESTS / "snapshots" / "definitions.json"


def public_names(defs: Definitions) -> dict:
    """Asset keys, asset checks (and which block), jobs, sensors, schedules and resource keys, sorted; each asset's group."""
    graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
        "groups": {key.to_user_string(): graph.get(key).group_name for key in sorted(graph.get_all_asset_keys())},
        "asset_checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys),
        # Blocking is part of the contract: a check that stopped blocking would let what it guards through.
        "blocking_checks": sorted(
            f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys if graph.get_check_spec(c).blocking
        ),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "sensors": sorted(sensor.name for sensor in defs.sensors),
        "schedules": sorted(schedule.name for schedule in defs.schedules),
        "resources": sorted(defs.resources),
    }


def test_public_names_equal_the_snapshot(fer_env):
    assert public_names(build_definitions(load_settings())) == json.loads(SNAPSHOT.read_text())


def test_every_stage_has_one_name(fer_env):
    """A stage's defs/ folder, its asset group, its domain package and its test folder share one name."""
    graph = build_definitions(load_settings()).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        module = node.assets_def.op.compute_fn.decorated_fn.__module__  # fer_platform.defs.<stage>.<module>
        stage = module.split(".")[2]
        assert node.group_name == stage, f"{key.to_user_string()} is in group {node.group_name}, folder {stage}"
        assert importlib.util.find_spec(f"fer_platform.{stage}") is not None, stage
        assert (TESTS / stage).is_dir() and (TESTS / "defs" / stage).is_dir(), stage


# Run in a copy of the project: the asset keys its definitions load, and where fer_platform was imported from.
LIST_KEYS = """
import json, fer_platform
from fer_platform import definitions as definitions_module
from fer_platform.definitions import build_definitions
from fer_platform.settings import load_settings
graph = build_definitions(load_settings()).resolve_asset_graph()
print(json.dumps({"package": fer_platform.__file__, "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys())}))
"""


@pytest.mark.slow  # a copy of the package loaded in a fresh interpreter
def test_a_module_dropped_into_defs_is_loaded_with_no_other_edit(fer_env, tmp_path):
    """A copy of the project (its package and pyproject.toml) under tmp_path gets a new defs/ module; a fresh
    process that imports the copy loads it. Nothing is written into the source tree."""
    source = Path(definitions_module.__file__).parent
    project = tmp_path / "project"
    shutil.copytree(source, project / "fer_platform", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(source.parent / "pyproject.toml", project / "pyproject.toml")
    stage = project / "fer_platform" / "defs" / "zz_snapshot_probe"
    stage.mkdir()
    (stage / "__init__.py").write_text("")
    (stage / "assets.py").write_text("import dagster as dg\n\n\n@dg.asset\ndef probe_asset() -> int:\n    return 1\n")
    before = tree_state(source)
    env = os.environ | {"PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", LIST_KEYS],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(loaded["package"]).is_relative_to(project)  # the copy, not the source tree
    assert "probe_asset" in loaded["assets"]
    assert "probe_asset" not in public_names(build_definitions(load_settings()))["assets"]
    assert tree_state(source) == before  # the source tree is as it was


def tree_state(root: Path) -> dict[str, int]:
    """Every file under ``root`` (caches aside) with its modification time."""
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
