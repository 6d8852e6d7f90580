"""Which platform a definitions load is for, so that every ``defs/<stage>/`` folder builds its own resources and
sensors from the same settings as ``definitions.py`` builds the shared ones.

``build_definitions(settings)`` loads the ``defs/`` folder inside ``loading_for(Platform(settings))``; a folder's
``@dg.definitions`` function asks ``loading_platform()``. Outside such a load (a tool that loads a folder on its
own) the platform is the environment's, as ``dagster dev`` would see it. A context variable rather than a module
global: two loads in two threads (a test and the webserver) never see each other's settings.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from fer_platform.factory import Platform
from fer_platform.settings import load_settings

_LOADING: ContextVar[Optional[Platform]] = ContextVar("fer_platform_loading", default=None)


@contextmanager
def loading_for(platform: Platform) -> Iterator[None]:
    """Definitions loaded inside the block are built for ``platform``."""
    token = _LOADING.set(platform)
    try:
        yield
    finally:
        _LOADING.reset(token)


def loading_platform() -> Platform:
    """The platform of the load under way (``loading_for``), else the current environment's."""
    return _LOADING.get() or Platform(load_settings())
