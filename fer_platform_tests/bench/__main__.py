"""Benchmarks: ``python -m fer_platform_tests.bench <name> [options]``; figures go into BENCHMARKS.md."""

import sys

from fer_platform_tests.bench import (
    api,
    copies,
    driver_memory,
    embeddings,
    emotion_model,
    events,
    expression,
    lake,
    landing,
    lr_range,
    on_ray,
    page,
    quality,
    real_faces,
    replica,
    scale,
    search,
    sensor,
    service,
    store,
)

BENCHMARKS = {
    "embeddings": embeddings.main,
    "replica": replica.main,
    "lake": lake.main,
    "landing": landing.main,
    "sensor": sensor.main,
    "events": events.main,
    "search": search.main,
    "store": store.main,
    "emotion_model": emotion_model.main,
    "service": service.main,
    "ray": on_ray.main,
    "quality": quality.main,
    "page": page.main,
    "api": api.main,
    "expression": expression.main,
    "driver_memory": driver_memory.main,
    "scale": scale.main,
    "real_faces": real_faces.main,
    "copies": copies.main,
    "lr_range": lr_range.main,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: python -m fer_platform_tests.bench {{{','.join(BENCHMARKS)}}} [options]")
    BENCHMARKS[sys.argv[1]](sys.argv[2:])
