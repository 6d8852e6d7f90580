"""A bound on the decode + model work running at once, with a short queue: beyond it, 503 + ``Retry-After``.

Decoding an upload and running the models costs far more memory and CPU than the
rest of a request; without a bound, 16 worst-case uploads at once took the
server from 1.2 GB to 6.3 GB. ``workers`` requests do that work at a time,
``queue`` more wait for a turn, and the next one is told to come back.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import HTTPException

RETRY_AFTER_S = 1


class Admission:
    def __init__(self, workers: int, queue: int):
        self.workers, self.limit = asyncio.Semaphore(workers), workers + queue
        self.inside = 0  # holding a slot or waiting for one
        self.working = 0  # holding a slot

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the worker slots; 503 at once when every slot and every queue place is taken."""
        if self.inside >= self.limit:
            raise HTTPException(503, "the service is busy: retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)})
        self.inside += 1
        try:
            async with self.workers:
                self.working += 1
                try:
                    yield
                finally:
                    self.working -= 1
        finally:
            self.inside -= 1
