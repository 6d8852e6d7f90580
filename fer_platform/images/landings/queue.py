"""The Storage Queue that Event Grid fills with the source container's blob events (FER_EVENTS_QUEUE), and its
poison queue ``<name>-poison`` for messages that cannot be used.

The queue lives in the source container's account and is opened with the same credentials as the container
(``location.azure_credentials``: the environment only). Requests retry briefly (1, 2, 4 s) and a queue that
cannot be reached is a ``QueueUnavailableError`` naming the account and the queue, never a key: a sensor tick
fails with it and the next tick tries again.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import ExponentialRetry, QueueClient

from fer_platform.storage.location import PROBE_RETRY, azure_credentials

MAX_PER_RECEIVE = 32  # the service's limit per request
DELETE_CONCURRENCY = 32


class QueueUnavailableError(ConnectionError):
    """The queue cannot be reached or used; the message names the account and the queue."""


@dataclass(frozen=True)
class QueueMessage:
    """One received message: its text, how often it was delivered, and what deleting it needs."""

    id: str
    pop_receipt: str
    body: str
    dequeue_count: int


def queue_client(source_url: str, name: str) -> tuple[QueueClient, str]:
    """A client of queue ``name`` in the account of ``source_url`` (az:// or abfss://), and the account's name."""
    parts = urlsplit(source_url)
    account = parts.netloc.partition("@")[2].split(".")[0] if "@" in parts.netloc else None
    _, sdk = azure_credentials(account)
    options = {"retry_policy": ExponentialRetry(**PROBE_RETRY), "connection_timeout": 5, "read_timeout": 30}
    if "conn_str" in sdk:
        found = re.search(r"AccountName=([^;]+)", sdk["conn_str"])
        return QueueClient.from_connection_string(sdk["conn_str"], name, **options), found.group(1) if found else "?"
    url = sdk["account_url"].replace(".blob.", ".queue.")
    return QueueClient(url, name, credential=sdk["credential"], **options), account or "?"


class EventQueue:
    """Receive, delete and set aside messages of one queue; every Azure error says which account and queue."""

    def __init__(self, source_url: str, name: str):
        self.name = name
        self.main, self.account = queue_client(source_url, name)
        self.poison, _ = queue_client(source_url, f"{name}-poison")

    def failed(self, exc: Exception, doing: str) -> QueueUnavailableError:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return QueueUnavailableError(
            f"cannot {doing} Storage Queue {self.name!r} of account {self.account!r}: {first}. Check that the "
            f"account is up and reachable and that FER_EVENTS_QUEUE names a queue of FER_SOURCE_URL's account"
        )

    def ensure(self) -> None:
        """Create the queue and its poison queue when missing (Event Grid needs the queue to exist)."""
        for client in (self.main, self.poison):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise self.failed(exc, "create") from None

    def receive(self, limit: int, visibility_s: int) -> list[QueueMessage]:
        """Up to ``limit`` messages, each hidden from other readers for ``visibility_s`` seconds."""
        out: list[QueueMessage] = []
        try:
            while len(out) < limit:
                page = self.main.receive_messages(
                    messages_per_page=min(MAX_PER_RECEIVE, limit - len(out)), visibility_timeout=visibility_s,
                    max_messages=min(MAX_PER_RECEIVE, limit - len(out)),
                )
                got = [QueueMessage(m.id, m.pop_receipt, m.content or "", m.dequeue_count or 1) for m in page]
                if not got:
                    break
                out.extend(got)
        except AzureError as exc:
            raise self.failed(exc, "receive from") from None
        return out

    def delete(self, messages: list[QueueMessage]) -> None:
        """Delete the messages, ``DELETE_CONCURRENCY`` requests at a time (the Queue service has no batch delete,
        and one at a time a bulk upload's thousands of messages outlast a tick)."""
        if not messages:
            return
        try:
            with ThreadPoolExecutor(max_workers=min(DELETE_CONCURRENCY, len(messages))) as pool:
                list(pool.map(lambda m: self.main.delete_message(m.id, m.pop_receipt), messages))
        except AzureError as exc:
            raise self.failed(exc, "delete from") from None

    def set_aside(self, message: QueueMessage) -> None:
        """Move a message to ``<queue>-poison`` (copied first, then deleted: a crash between leaves a copy)."""
        try:
            self.poison.send_message(message.body)
        except AzureError as exc:
            raise self.failed(exc, "write to the poison queue of") from None
        self.delete([message])

    def replay_poison(self, limit: int) -> int:
        """Move up to ``limit`` messages from ``<queue>-poison`` back to the queue (sent first, then deleted: a
        crash between leaves a copy, and recording an event twice changes nothing); how many moved."""
        moved = 0
        try:
            while moved < limit:
                page = list(self.poison.receive_messages(max_messages=min(MAX_PER_RECEIVE, limit - moved)))
                if not page:
                    break
                for message in page:
                    self.main.send_message(message.content or "")
                    self.poison.delete_message(message.id, message.pop_receipt)
                moved += len(page)
        except AzureError as exc:
            raise self.failed(exc, "replay the poison queue of") from None
        return moved

    def poison_count(self) -> int:
        """Messages waiting in the poison queue (the service's approximate count)."""
        try:
            return int(self.poison.get_queue_properties().approximate_message_count or 0)
        except AzureError as exc:
            raise self.failed(exc, "read the poison queue of") from None
