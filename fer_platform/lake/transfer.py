"""Incremental, concurrent object transfer: only what is missing or different is sent.

Objects are compared by size and content MD5 (Azure stores the MD5 of every
single-shot upload; local files are hashed). Transfers run in chunks of
concurrent requests (fsspec's async batching for Azure, threads for local
folders) with progress reported after each chunk; the Azure SDK retries
throttling and 5xx answers with exponential backoff underneath.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from fer_platform.storage.location import DEFAULT_CONCURRENCY, Listing, Location

Progress = Callable[[int, int], None]


@dataclass
class TransferReport:
    """What one incremental transfer did."""

    sent: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes_sent: int = 0


def needs_transfer(source: Listing, target: Listing) -> list[str]:
    """Names whose target object is missing, of another size, or of another known MD5 (sorted)."""
    stale = []
    for name, (size, md5) in sorted(source.items()):
        have = target.get(name)
        if have is None or have[0] != size or (md5 and have[1] and md5 != have[1]):
            stale.append(name)
    return stale


def chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def put_objects(dst: Location, payloads: Mapping[str, bytes], concurrency: int) -> None:
    """Write ``name -> bytes`` concurrently under ``dst``, each object whole or not at all (a local file is
    renamed into place; a blob upload commits when complete)."""
    if dst.is_local:
        with ThreadPoolExecutor(max_workers=min(concurrency, 8)) as pool:
            list(pool.map(lambda kv: dst.write_atomic(kv[0], kv[1]), payloads.items()))
    else:
        dst.fs.pipe({dst.path(name): data for name, data in payloads.items()}, batch_size=concurrency)


def copy_objects(
    src: Location,
    src_names: Sequence[str],
    dst: Location,
    rename: Callable[[str], str],
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Optional[Progress] = None,
) -> tuple[list[str], int]:
    """Copy objects; server-side when both sides are the same Azure account, else read and write. An object
    gone from ``src`` meanwhile is skipped. Answers the names copied and the bytes that went through this
    process (none for server-side copies)."""
    done, copied, moved = 0, [], 0
    for group in chunks(list(src_names), concurrency * 4):
        if not dst.is_local and src.fs is dst.fs:
            dst.fs.copy(
                [src.path(n) for n in group], [dst.path(rename(n)) for n in group], batch_size=concurrency,
                on_error="ignore",
            )
            copied.extend(group)
        else:
            data = src.fs.cat([src.path(n) for n in group], batch_size=concurrency, on_error="omit")
            present = [n for n in group if src.path(n) in data]
            put_objects(dst, {rename(n): data[src.path(n)] for n in present}, concurrency)
            copied.extend(present)
            moved += sum(len(data[src.path(n)]) for n in present)
        done += len(group)
        if progress:
            progress(done, len(src_names))
    return copied, moved


def sync_prefix(
    src: Location,
    src_prefix: str,
    dst: Location,
    dst_prefix: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Optional[Progress] = None,
    only: Optional[set[str]] = None,
) -> TransferReport:
    """Make ``dst/dst_prefix`` a mirror of ``src/src_prefix``: send what differs, delete what vanished.

    ``only`` restricts the source to those names (relative to ``src_prefix``).
    """
    src.ensure(create=False)  # a wrong or missing source must never mirror as "everything was deleted"
    dst.ensure()
    source = {n[len(src_prefix) :]: v for n, v in src.listing(src_prefix).items()}
    if only is not None:
        source = {n: v for n, v in source.items() if n in only}
    target = {n[len(dst_prefix) :]: v for n, v in dst.listing(dst_prefix).items()}
    stale = needs_transfer(source, target)
    copied, _ = copy_objects(
        src,
        [src_prefix + n for n in stale],
        dst,
        lambda n: dst_prefix + n[len(src_prefix) :],
        concurrency,
        progress,
    )
    sent = [n[len(src_prefix) :] for n in copied]
    vanished = sorted(set(target) - set(source))
    if vanished:
        dst.fs.rm([dst.path(dst_prefix + n) for n in vanished])
    return TransferReport(
        sent=sent,
        deleted=vanished,
        unchanged=len(source) - len(stale),
        bytes_sent=sum(source[n][0] for n in sent),
    )
