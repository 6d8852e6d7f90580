"""Blob events as Event Grid delivers them to a Storage Queue, read into what the images stage needs.

A message holds one event (or a list of them) in the Event Grid schema (``eventType``, ``subject``, ``data``)
or the CloudEvents 1.0 schema (``type``, ``subject``, ``data``), as JSON text or base64-encoded JSON (Azure
delivers both). The blob is named by ``subject`` (``/blobServices/default/containers/<c>/blobs/<path>``),
the same on Azure and Azurite; ``data.sequencer`` orders the events of one blob (Azure: compare as strings).
A message that is not such JSON, is larger than a queue message can be, or lacks those fields is
``UndecodableMessage`` (the sensor sets it aside in the poison queue). An event for another container, split
or path shape, or an ADLS Gen2 ``CreateFile`` (the file is finished at ``FlushWithClose``), is kept with the
reason it is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import unquote

from fer_platform.images.folders import is_valid_partition_key
from fer_platform.images.manifest import is_image_candidate

MAX_MESSAGE_BYTES = 64 * 1024  # a Storage Queue message is at most 64 KiB
KINDS = {"Microsoft.Storage.BlobCreated": "created", "Microsoft.Storage.BlobDeleted": "deleted"}
SUBJECT_PREFIX = "/blobServices/default/containers/"
# ADLS Gen2 (hierarchical namespace) sends BlobCreated for CreateFile, an empty file the writer then appends to;
# the file is finished at the BlobCreated of FlushWithClose (or of PutBlob/PutBlockList/CopyBlob on Blob APIs).
UNFINISHED_APIS = frozenset({"CreateFile"})


class UndecodableMessage(ValueError):
    """A message the sensor cannot use; the text says why."""


@dataclass(frozen=True)
class BlobEvent:
    """One blob event: ``blob`` is ``<container>/<path>``; ``filepath`` (``<split>/<emotion>/<file>``) and
    ``emotion`` are set when the event is ours, else ``ignored`` says why not."""

    blob: str
    url: str
    etag: str | None
    sequencer: str
    kind: str
    filepath: str | None = None
    emotion: str | None = None
    ignored: str | None = None


def message_events(body: str) -> list[dict]:
    """The event objects of one message body, plain or base64-encoded JSON."""
    if len(body.encode("utf-8", "surrogateescape")) > MAX_MESSAGE_BYTES:
        raise UndecodableMessage(f"message of more than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        try:
            data = json.loads(base64.b64decode(body, validate=True))
        except (ValueError, binascii.Error):
            raise UndecodableMessage("neither JSON nor base64-encoded JSON (truncated?)") from None
    events = data if isinstance(data, list) else [data]
    if not events or not all(isinstance(event, dict) for event in events):
        raise UndecodableMessage("JSON that is not an event object or a list of them")
    return events


def field(event: dict, *path: str) -> str:
    value: object = event
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise UndecodableMessage(f"event without {'.'.join(path)}")
    return value


def ours(relative: str, split: str) -> tuple[str | None, str | None]:
    """``(emotion, None)`` for a ``<split>/<emotion>/<image>`` path, else ``(None, the reason it is not)``."""
    parts = relative.split("/")
    if len(parts) != 3:
        return None, f"not <split>/<emotion>/<file>: {relative!r}"
    if parts[0] != split:
        return None, f"split {parts[0]!r} is not FER_SPLIT={split!r}"
    if not is_valid_partition_key(parts[1]):
        return None, f"emotion folder {parts[1]!r} is not a valid partition name"
    if not is_image_candidate(parts[2]):
        return None, f"{parts[2]!r} is hidden or a partial file"
    return parts[1], None


def parse_event(event: dict, source_root: str, split: str) -> BlobEvent:
    """One event object, for the source container root ``source_root`` (``<container>[/<prefix>]``)."""
    event_type = event.get("eventType") or event.get("type")
    subject = field(event, "subject")
    if not subject.startswith(SUBJECT_PREFIX) or "/blobs/" not in subject:
        raise UndecodableMessage(f"subject {subject[:200]!r} does not name a blob")
    container, _, path = subject[len(SUBJECT_PREFIX) :].partition("/blobs/")
    blob = f"{container}/{unquote(path)}"
    sequencer, url = field(event, "data", "sequencer"), field(event, "data", "url")
    etag = (event.get("data") or {}).get("eTag")
    if event_type not in KINDS:
        return BlobEvent(blob, url, etag, sequencer, str(event_type), ignored=f"event type {event_type!r}")
    kind = KINDS[event_type]
    api = (event.get("data") or {}).get("api")
    if kind == "created" and api in UNFINISHED_APIS:
        return BlobEvent(blob, url, etag, sequencer, kind, ignored=f"ADLS Gen2 {api}: not written yet (FlushWithClose)")
    if not blob.startswith(source_root.rstrip("/") + "/"):
        return BlobEvent(blob, url, etag, sequencer, kind, ignored=f"not under the source container {source_root!r}")
    relative = blob[len(source_root.rstrip("/")) + 1 :]
    emotion, reason = ours(relative, split)
    return BlobEvent(blob, url, etag, sequencer, kind, relative if emotion else None, emotion, reason)
