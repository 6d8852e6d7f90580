"""The platform's Dagster definitions (``defs``), loaded by ``dg dev`` / ``dagster dev`` / the CLI.

Every asset, check, job and sensor lives in a module under ``fer_platform/defs/<stage>/``
and is found by ``load_from_defs_folder``: a module dropped there is loaded with no
other edit. This file adds what is not a stage: the resources (``lib.from_settings``,
the one place settings become resources) and the in-process executor. Partitions are
the emotion folders (dynamic: registered when the definitions load and by
``new_images_sensor`` as folders appear).
"""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, in_process_executor, load_from_defs_folder

from fer_platform.lib.from_settings import build_resources
from fer_platform.lib.partitions import register_folders_on_load
from fer_platform.settings import FerSettings, load_settings


def build_definitions(settings: FerSettings) -> Definitions:
    """Everything under ``defs/``, with the resources of ``settings``."""
    return Definitions.merge(
        load_from_defs_folder(path_within_project=Path(__file__).parent),
        Definitions(resources=build_resources(settings), executor=in_process_executor),
    )


def load_defs() -> Definitions:
    """The definitions of the current environment, with its emotion folders registered as partitions."""
    settings = load_settings()
    register_folders_on_load(settings.resolved_image_root, settings.split)
    return build_definitions(settings)


defs = load_defs()
