"""Which emotion folders of the image root changed since a run last read them, from folder mtimes alone.

A tick must cost what arrived, not what is stored, so it never lists a folder: it stats each emotion folder
(one ``stat`` per emotion). Creating, renaming into or deleting a file changes its folder's mtime; the scan of
``raw_images`` stores the folder mtime it saw before listing (``FolderMark``, ``fer_image_folders``), so a
folder whose mtime equals its mark holds nothing a run has not read (what a landing downloaded into it
included: no echo run). A file rewritten in place keeps its folder's mtime; ``verify_images`` finds that.

A folder changed less than ``settle_s`` ago waits for a later tick. When the run found a file modified less
than ``settle_s`` before it looked (perhaps still being written), the mark says so, and the folder is asked for
again once that file is ``settle_s`` old: it is read again once it has settled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fer_platform.images.folders import discover_emotions
from fer_platform.images.scan import FolderMark


def folder_mtimes(image_root: Path, split: str) -> dict[str, int]:
    """mtime (ns) of every emotion folder of the split: one ``stat`` per folder, none per file."""
    mtimes = {}
    for emotion in discover_emotions(image_root, split):
        try:
            mtimes[emotion] = os.stat(image_root / split / emotion).st_mtime_ns
        except FileNotFoundError:  # removed since the split folder was listed
            continue
    return mtimes


@dataclass(frozen=True)
class FolderChanges:
    """The run key for each folder to read now, the folders still settling, those that vanished."""

    runs: dict[str, str] = field(default_factory=dict)  # emotion -> run key
    settling: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)


def run_key(emotion: str, mtime_ns: int, mark: FolderMark | None) -> str:
    """Names the folder state to read; a second look at an unsettled state is a new key (after the mark)."""
    again = mark is not None and mark.mtime_ns == mtime_ns
    return f"{emotion}@{mtime_ns}" + (f"~{mark.marked_at_ns}" if again else "")


# A landing's folder mtimes: just before its first write, just after its last (None: still copying).
LandingSpan = tuple[int | None, int | None]


def being_landed(
    changes: FolderChanges, mtimes: dict[str, int], marks: dict[str, FolderMark], landings: dict[str, LandingSpan]
) -> FolderChanges:
    """``changes`` less the folders whose change is a landing still in flight (``landings``: emotion -> the
    span of the newest landing recorded in it, by a run not finished yet): it started at the folder's mark and
    ends at the folder's mtime now (or has not ended), so that run reads it; no second run. They wait as
    settling."""
    runs, settling = dict(changes.runs), list(changes.settling)
    for emotion, (before, after) in landings.items():
        mark = marks.get(emotion)
        started_at_mark = mark is not None and before == mark.mtime_ns
        if emotion in runs and started_at_mark and after in (None, mtimes.get(emotion)):
            del runs[emotion]
            settling.append(emotion)
    return FolderChanges(runs, sorted(settling), changes.vanished)


def folder_changes(
    mtimes: dict[str, int], marks: dict[str, FolderMark], settle_s: float, now_ns: int
) -> FolderChanges:
    """Compare the folders' mtimes with the marks the runs stored: what to read, what waits."""
    changes, settle_ns = FolderChanges(), int(settle_s * 1e9)
    for emotion, mtime in sorted(mtimes.items()):
        mark = marks.get(emotion)
        if mark is not None and mark.mtime_ns == mtime and mark.settled(settle_s):
            continue
        since = mark.newest_file_ns if mark is not None and mark.mtime_ns == mtime else mtime
        if now_ns - since < settle_ns:
            changes.settling.append(emotion)
        else:
            changes.runs[emotion] = run_key(emotion, mtime, mark)
    changes.vanished.extend(sorted(set(marks) - set(mtimes)))
    return changes
