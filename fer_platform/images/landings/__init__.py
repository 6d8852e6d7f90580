"""Images that land in the source container: Event Grid messages (``events``), the Storage Queue and its poison
queue (``queue``), the ledger ``fer_landing_events`` (``event_log``), a tick's intake (``intake``) and the copy into
the image root (``landing``)."""
