"""Materialization metadata helpers: what a person reads in the Dagster UI."""

from __future__ import annotations

from typing import Mapping

from dagster import MetadataValue

MAX_LISTED_FAILURES = 200


def failures_table(failures: Mapping[str, str]) -> MetadataValue:
    """A markdown table of failed files and their reasons (capped, with a count of the rest)."""
    if not failures:
        return MetadataValue.md("No failed files.")

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| file | reason |", "|---|---|"]
    lines += [
        f"| `{cell(path)}` | {cell(reason)} |"
        for path, reason in list(failures.items())[:MAX_LISTED_FAILURES]
    ]
    if len(failures) > MAX_LISTED_FAILURES:
        lines.append(f"| ... | {len(failures) - MAX_LISTED_FAILURES} more |")
    return MetadataValue.md("\n".join(lines))
