"""Incremental planning: which files of a partition need embedding, which rows go away.

Pure logic over two small tables, so it is unit-tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class EmbeddingPlan:
    """The files of one partition sorted by what a materialization must do with them."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    model_changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    undecodable: dict[str, str] = field(default_factory=dict)

    @property
    def to_embed(self) -> list[str]:
        """Files whose vector must be computed now."""
        return self.new + self.changed + self.model_changed


def plan_partition(manifest: pl.DataFrame, stored: pl.DataFrame, model_id: str) -> EmbeddingPlan:
    """Compare the manifest with the stored ``filepath, sha256, model_id`` rows.

    Undecodable files are never embedded and their stored rows (if any) are kept:
    bad input must not destroy what was already stored. Stored rows whose file
    is gone from the folder are removed.
    """
    marked = stored.with_columns(pl.lit(True).alias("is_stored"))
    joined = manifest.join(marked, on="filepath", how="left", suffix="_stored")
    ok = joined.filter(pl.col("error").is_null())
    bad = joined.filter(pl.col("error").is_not_null())
    is_new = pl.col("is_stored").is_null()
    is_changed = ~is_new & (pl.col("sha256") != pl.col("sha256_stored")).fill_null(True)
    is_model_changed = ~is_new & ~is_changed & (pl.col("model_id") != model_id).fill_null(True)

    def paths(frame: pl.DataFrame) -> list[str]:
        return frame.get_column("filepath").to_list()

    return EmbeddingPlan(
        new=paths(ok.filter(is_new)),
        changed=paths(ok.filter(is_changed)),
        model_changed=paths(ok.filter(is_model_changed)),
        unchanged=paths(ok.filter(~is_new & ~is_changed & ~is_model_changed)),
        removed=paths(stored.join(manifest, on="filepath", how="anti")),
        undecodable=dict(zip(bad.get_column("filepath").to_list(), bad.get_column("error").to_list())),
    )
