import polars as pl

from fer_platform.embeddings.plan import plan_partition
from fer_platform.images.manifest import MANIFEST_SCHEMA

MODEL = "resnet18/m1"


def manifest(*rows):
    return pl.DataFrame(
        [
            {
                "filepath": p,
                "emotion": "happy",
                "size_bytes": 1,
                "sha256": h,
                "width": 48,
                "height": 48,
                "error": e,
            }
            for p, h, e in rows
        ],
        schema=MANIFEST_SCHEMA,
    )


def stored(*rows):
    return pl.DataFrame(rows, schema={"filepath": pl.String, "sha256": pl.String, "model_id": pl.String}, orient="row")


def test_sorts_files_by_what_must_happen():
    plan = plan_partition(
        manifest(
            ("a", "h1", None),
            ("b", "h2", None),
            ("c", "NEW", None),
            ("d", "h4", None),
            ("e", "h5", "corrupt"),
        ),
        stored(
            ("a", "h1", MODEL),
            ("b", "h2", "old-model"),
            ("c", "h3", MODEL),
            ("e", "h5", MODEL),
            ("gone", "h", MODEL),
        ),
        MODEL,
    )
    assert plan.unchanged == ["a"]
    assert plan.model_changed == ["b"]
    assert plan.changed == ["c"]
    assert plan.new == ["d"]
    assert plan.removed == ["gone"]
    assert plan.undecodable == {"e": "corrupt"}
    assert plan.to_embed == ["d", "c", "b"]


def test_seed_rows_without_hash_are_reembedded():
    plan = plan_partition(manifest(("a", "h1", None)), stored(("a", None, None)), MODEL)
    assert plan.changed == ["a"] and plan.new == []


def test_nothing_to_do_when_nothing_changed():
    plan = plan_partition(manifest(("a", "h1", None)), stored(("a", "h1", MODEL)), MODEL)
    assert plan.to_embed == [] and plan.removed == [] and plan.unchanged == ["a"]


def test_undecodable_file_keeps_its_stored_row():
    plan = plan_partition(manifest(("a", "h2", "truncated")), stored(("a", "h1", MODEL)), MODEL)
    assert plan.removed == [] and plan.to_embed == []
