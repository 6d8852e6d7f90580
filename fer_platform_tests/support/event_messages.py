"""Blob events in the shapes Event Grid delivers to a Storage Queue (Azurite has no Event Grid: tests publish
what it would)."""

from __future__ import annotations

import base64
import json
import uuid

SOURCE = "origen"  # the source container of these events


def blob_event(
    path: str, sequencer: str, kind: str = "BlobCreated", container: str = SOURCE, cloud: bool = False
) -> dict:
    """One event for blob ``<container>/<path>`` in the Event Grid schema (or CloudEvents 1.0 with ``cloud``)."""
    data = {
        "api": "PutBlob" if kind == "BlobCreated" else "DeleteBlob",
        "eTag": f"0x8D{uuid.uuid4().hex[:12].upper()}",
        "url": f"https://account.blob.core.windows.net/{container}/{path}",
        "sequencer": sequencer,
        "blobType": "BlockBlob",
    }
    common = {"id": str(uuid.uuid4()), "subject": f"/blobServices/default/containers/{container}/blobs/{path}"}
    if cloud:
        return common | {"specversion": "1.0", "type": f"Microsoft.Storage.{kind}", "source": "/x", "data": data}
    return common | {"eventType": f"Microsoft.Storage.{kind}", "dataVersion": "", "data": data}


def message(*events: dict, encoded: bool = False) -> str:
    """A queue message holding one event (or a list), as JSON text or base64-encoded JSON."""
    text = json.dumps(events[0] if len(events) == 1 else list(events))
    return base64.b64encode(text.encode()).decode() if encoded else text


def sequencer(n: int) -> str:
    """Azure's sequencer shape: fixed-width hex, ordered as strings."""
    return f"{n:032x}"
