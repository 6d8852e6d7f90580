"""Settings given to ``build_definitions`` reach what each ``defs/<stage>/`` folder builds for itself (the demo
passes settings that differ from the environment), and each folder gives its assets their group once."""

import re
from pathlib import Path

from dagster import AutomationConditionSensorDefinition

import fer_platform.defs
from fer_platform.definitions import build_definitions
from fer_platform.settings import load_settings


def test_settings_given_to_build_definitions_reach_every_folder(fer_env):
    settings = load_settings().model_copy(
        update={"train_budget_minutes": 7.0, "ef_search": 33, "sensor_interval_s": 11, "events_queue": None}
    )
    defs = build_definitions(settings)
    assert defs.resources["emotion_model_settings"].budget_minutes == 7.0  # defs/models/resources.py
    assert defs.resources["search"].ef_search == 33  # defs/search/resources.py
    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert sensors["new_images_sensor"].minimum_interval_seconds == 11  # defs/images/sensors.py
    automation = sensors["search_index_automation"]
    assert isinstance(automation, AutomationConditionSensorDefinition) and automation.minimum_interval_seconds == 11
    again = build_definitions(load_settings())  # and a later load sees the environment again
    assert again.resources["emotion_model_settings"].budget_minutes == load_settings().train_budget_minutes


def test_the_group_is_written_once_per_folder_in_its_defs_yaml():
    root = Path(fer_platform.defs.__file__).parent
    for module in root.rglob("*.py"):
        assert "group_name" not in module.read_text(), f"{module}: the folder's defs.yaml gives the group"
    for folder in (p for p in root.iterdir() if p.is_dir() and (p / "assets.py").exists()):
        assert re.search(rf"group_name: {folder.name}\n", (folder / "defs.yaml").read_text()), folder
