"""A resource's key says what it is: its class's name in snake case, without ``Resource`` (the replica being the
second ``PostgresResource``, an IO manager ``<name>_io_manager``)."""

import re

from fer_platform.definitions import build_definitions
from fer_platform.settings import load_settings

ROLES = {"replica": "PostgresResource"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_resource_key_names_its_class(fer_env):
    for key, resource in build_definitions(load_settings()).resources.items():
        cls = type(resource).__name__
        if key in ROLES:
            assert cls == ROLES[key], key
        else:
            expected = snake(cls.removesuffix("Resource")).replace("pg_vector", "pgvector").replace("i_o_", "io_")
            assert key == expected, f"resource {key!r} is a {cls}"
