"""The definitions' public names (a contract checked from outside) equal the committed snapshot.

A rename, a lost check or a sensor that no longer loads from ``defs/`` fails here.
Update ``snapshots/definitions.json`` only for a deliberate change of the contract.
"""

import importlib.util
import json
from pathlib import Path

from dagster import Definitions

from fer_platform.definitions import build_definitions
from fer_platform.settings import load_settings

TESTS = Path(__file__).parent
SNAPSHOT = TESTS / "snapshots" / "definitions.json"


def public_names(defs: Definitions) -> dict:
    """Asset keys, asset checks, jobs, sensors and resource keys, sorted; each asset's group."""
    graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
        "groups": {key.to_user_string(): graph.get(key).group_name for key in sorted(graph.get_all_asset_keys())},
        "asset_checks": sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "sensors": sorted(sensor.name for sensor in defs.sensors),
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


def test_a_module_dropped_into_defs_is_loaded_with_no_other_edit(fer_env, tmp_path, monkeypatch):
    from fer_platform import defs as defs_package

    stage = Path(defs_package.__file__).parent / "zz_snapshot_probe"
    stage.mkdir()
    try:
        (stage / "__init__.py").write_text("")
        (stage / "assets.py").write_text(
            "import dagster as dg\n\n\n@dg.asset\ndef probe_asset() -> int:\n    return 1\n"
        )
        keys = {
            k.to_user_string() for k in build_definitions(load_settings()).resolve_asset_graph().get_all_asset_keys()
        }
    finally:
        for path in sorted(stage.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        stage.rmdir()
    assert "probe_asset" in keys
