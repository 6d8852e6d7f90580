"""The platform's Dagster definitions (``defs``), loaded by ``dg dev`` / ``dagster dev`` / the CLI.

Every asset, check, job, sensor and stage-own resource lives in a module under
``fer_platform/defs/<stage>/`` and is found by ``load_from_defs_folder``: a module
dropped there is loaded with no other edit, and each folder's ``defs.yaml`` gives
its assets their group (the folder's name). This file adds what two or more stages
share: the shared resources (``orchestration.resources.shared_resources``) and the
in-process executor. The folders build their own resources and sensors for the
same settings (``orchestration.loading``). Partitions are the emotion folders
(dynamic: registered when the definitions load and by ``new_images_sensor`` as
folders appear).
"""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, in_process_executor, load_from_defs_folder

from fer_platform.factory import Platform
from fer_platform.orchestration.loading import loading_for
from fer_platform.orchestration.partitions import register_folders_on_load
from fer_platform.orchestration.resources import shared_resources
from fer_platform.settings import FerSettings, load_settings


def build_definitions(settings: FerSettings) -> Definitions:
    """Everything under ``defs/``, built for ``settings``, with the shared resources."""
    platform = Platform(settings)
    with loading_for(platform):
        stages = load_from_defs_folder(path_within_project=Path(__file__).parent)
    return Definitions.merge(
        stages, Definitions(resources=shared_resources(platform), executor=in_process_executor)
    )


def load_defs() -> Definitions:
    """The definitions of the current environment, with its emotion folders registered as partitions."""
    settings = load_settings()
    register_folders_on_load(settings.resolved_image_root, settings.split)
    return build_definitions(settings)


defs = load_defs()
