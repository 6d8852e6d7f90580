"""Reconciliation on a real Azurite container and PostgreSQL: a paged listing that goes on from its continuation
token, finds only the images no event, ledger entry or image-root file accounts for, and records each once."""

import time
import uuid

import pytest

from fer_platform.images.landings import reconcile as reconcile_module
from fer_platform.images.landings.event_log import blobs_to_land
from fer_platform.images.landings.intake import take_events
from fer_platform.images.landings.landing import record
from fer_platform.images.landings.queue import EventQueue
from fer_platform.images.landings.reconcile import ListingPass, reconcile_pages
from fer_platform.storage.location import StorageUnavailableError, open_location
from fer_platform_tests.support.event_messages import blob_event, message, sequencer


def test_a_pass_pages_across_ticks_and_finds_only_the_lost_images(azurite, monkeypatch, conn, tmp_path):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    monkeypatch.setattr(reconcile_module, "PAGE_SIZE", 2)
    location = open_location(f"az://src-{uuid.uuid4().hex[:10]}")
    location.ensure()
    names = ["announced", "lost1", "lost2", "ledger", "local"]
    for name in names:
        location.fs.pipe_file(location.path(f"train/happy/{name}.png"), b"image bytes")
    location.fs.pipe_file(location.path("other/x.png"), b"not under the split")
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "local.png").write_bytes(b"image bytes")  # the image root has it
    record(conn, {"train/happy/ledger.png"})  # uploaded from the image root, since deleted there
    queue = EventQueue(location.url, f"events-{uuid.uuid4().hex[:10]}")
    queue.ensure()
    queue.main.send_message(message(blob_event("train/happy/announced.png", sequencer(1), container=location.root)))
    take_events(queue, conn, location.root, "train")

    progress, ticks = ListingPass(), 0
    while not reconcile_pages(conn, location, tmp_path, "train", progress, deadline=0):  # one page a tick
        ticks += 1
        assert progress.token is not None
    assert ticks == 2 and progress.pages == 3 and progress.listed == 5 and progress.found == 2
    assert blobs_to_land(conn, "happy", None) == [f"train/happy/{n}.png" for n in ("announced", "lost1", "lost2")]
    again = ListingPass()
    assert reconcile_pages(conn, location, tmp_path, "train", again, deadline=time.monotonic() + 60)
    assert again.found == 0 and again.pages == 3


def test_a_missing_container_is_an_error_not_an_empty_listing(azurite, monkeypatch, conn, tmp_path):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    location = open_location(f"az://mistyped-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageUnavailableError, match="mistyped-"):
        reconcile_pages(conn, location, tmp_path, "train", ListingPass(), deadline=0)
    assert not location.fs.exists(location.root)
