"""The admission bound: ``workers`` at a time, ``queue`` waiting, the next one refused with Retry-After."""

import asyncio

import pytest
from fastapi import HTTPException

from fer_platform.service.admission import Admission


def test_work_beyond_workers_and_queue_is_refused_with_retry_after():
    async def scenario():
        admission = Admission(workers=2, queue=1)
        running, release = [], asyncio.Event()

        async def job(i: int):
            async with admission.slot():
                running.append(i)
                await release.wait()

        tasks = [asyncio.create_task(job(i)) for i in range(3)]
        await asyncio.sleep(0.05)
        assert running == [0, 1]  # two work, one waits
        with pytest.raises(HTTPException) as refused:
            async with admission.slot():
                pass
        release.set()
        await asyncio.gather(*tasks)
        async with admission.slot():  # room again
            pass
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status_code == 503 and refused.headers == {"Retry-After": "1"}
