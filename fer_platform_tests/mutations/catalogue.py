"""The mutations: for each claim of the README's "What the suite runs against, and what it proves", a small
change that breaks it, and the tests that must then fail.

Each mutation replaces one exact snippet of one product file (it must occur exactly once: a refactoring that
moves the snippet makes ``test_mutations.py`` fail, so the catalogue cannot silently stop applying).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    claim: str
    path: str  # product file, relative to the repository
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (files or single tests) that must fail


HARDENING = "fer_platform_tests/service/test_hardening.py"
SNAPSHOT = "fer_platform_tests/test_definitions_snapshot.py::test_public_names_equal_the_snapshot"


def blocking(check: str, path: str, old: str, behaviour: tuple[str, ...] = ()) -> Mutation:
    """``check`` declared non-blocking: its failure would no longer stop what is downstream."""
    return Mutation(
        f"{check} not blocking",
        f"blocking check {check}",
        path,
        old,
        old.replace("blocking=True", "blocking=False"),
        (*behaviour, SNAPSHOT),  # the behaviour first: with -x the first failing test is what caught it
    )


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "guard reads the body before the key",
        "auth before body",
        "fer_platform/service/guard.py",
        '        headers = dict(scope["headers"])\n',
        '        headers = dict(scope["headers"])\n'
        '        if scope["method"] == "POST":\n'
        "            receive = replay(await self.read_body(receive) or b\"\", receive)\n",
        (HARDENING,),
    ),
    Mutation(
        "declared Content-Length not checked",
        "size before body",
        "fer_platform/service/guard.py",
        "if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):",
        "if declared is not None and not declared.isdigit():",
        (HARDENING,),
    ),
    Mutation(
        "pixel bound 64 times larger",
        "decode bound",
        "fer_platform/images/decode.py",
        "            if width * height > MAX_PIXELS:",
        "            if width * height > MAX_PIXELS * 64:",
        (HARDENING, "fer_platform_tests/images/test_decode.py"),
    ),
    Mutation(
        "admission never refuses",
        "admission",
        "fer_platform/service/admission.py",
        "        if self.inside >= self.limit:",
        "        if False:",
        (HARDENING, "fer_platform_tests/service/test_admission.py"),
    ),
    Mutation(
        "local lake write straight to the final path",
        "atomic lake write",
        "fer_platform/storage/location.py",
        '        try:\n            with open(temporary, "wb") as out:\n                out.write(data)\n'
        "                out.flush()\n                os.fsync(out.fileno())\n"
        "            os.replace(temporary, target)\n        finally:\n            temporary.unlink(missing_ok=True)\n",
        '        with open(target, "wb") as out:\n            out.write(data)\n',
        ("fer_platform_tests/storage/test_location.py",),
    ),
    Mutation(
        "Azure lake write deletes the old blob first",
        "atomic lake write",
        "fer_platform/storage/location.py",
        "        if not self.is_local:\n            self.fs.pipe_file(target, data)\n",
        "        if not self.is_local:\n            if self.fs.exists(target):\n"
        "                self.fs.rm_file(target)\n            self.fs.pipe_file(target, data)\n",
        ("fer_platform_tests/storage/test_location.py",),
    ),
    Mutation(
        "a version claimed without O_EXCL",
        "registry exclusivity",
        "fer_platform/storage/location.py",
        '                with open(target, "xb") as out:',
        '                with open(target, "wb") as out:',
        ("fer_platform_tests/models/lifecycle/test_registry.py",),
    ),
    Mutation(
        "an Azure version claim overwrites",
        "registry exclusivity",
        "fer_platform/storage/location.py",
        "upload_blob(data, overwrite=False)",
        "upload_blob(data, overwrite=True)",
        ("fer_platform_tests/models/lifecycle/test_registry.py",),
    ),
    Mutation(
        "a claimed version listed before its metrics exist",
        "registry: a killed registration is invisible",
        "fer_platform/models/lifecycle/registry.py",
        "self._numbers(complete=True)",
        "self._numbers(complete=False)",
        ("fer_platform_tests/models/lifecycle/test_registry.py",),
    ),
    Mutation(
        "the vector store ignored on resume",
        "resume from the store",
        "fer_platform/embeddings/cached.py",
        "    out = StoredEmbedding(held=store.held(list(files)))",
        "    out = StoredEmbedding(held=set())",
        ("fer_platform_tests/embeddings/test_vector_store.py",),
    ),
    Mutation(
        "replica partition replaced statement by statement",
        "replica sync transaction",
        "fer_platform/replica/sync.py",
        "    with source.transaction(), replica.transaction():",
        "    replica.autocommit = True\n    with source.transaction():",
        ("fer_platform_tests/defs/replica/test_assets.py",),
    ),
    Mutation(
        "a run key per tick",
        "run-key dedup",
        "fer_platform/images/changes.py",
        'return f"{emotion}@{mtime_ns}" + (f"~{mark.marked_at_ns}" if again else "")',
        'return f"{emotion}@{mtime_ns}:{id(object())}" + (f"~{mark.marked_at_ns}" if again else "")',
        ("fer_platform_tests/defs/images/test_sensors.py::test_a_repeated_evaluation_repeats_the_run_key",),
    ),
    Mutation(
        "a pin naming no version accepted",
        "pin refusal",
        "fer_platform/service/served_model.py",
        "            registry.require(pinned)  # a pin naming no version: refuse to start",
        "            pass",
        ("fer_platform_tests/test_cli.py::test_serve_refuses_a_pin_naming_no_version",),
    ),
    Mutation(
        "served assets automated without their upstream checks",
        "automation waits for the blocking checks",
        "fer_platform/orchestration/automation.py",
        '        & ~dep_not_checked.with_label("any_dep_partition_not_checked")\n',
        "",
        ("fer_platform_tests/defs/models/test_expression_automation.py",),
    ),
    Mutation(
        "/metrics public by default",
        "/metrics behind the key",
        "fer_platform/service/guard.py",
        "    return not (public_metrics and path == METRICS_PATH)",
        "    return path != METRICS_PATH",
        ("fer_platform_tests/service/test_metrics.py::test_metrics_need_the_key_unless_public",),
    ),
    blocking(
        "recall_at_10",
        "fer_platform/defs/search/checks.py",
        "@asset_check(asset=names.VECTOR_INDEX, blocking=True)",
        ("fer_platform_tests/defs/search/test_checks.py",),
    ),
    blocking(
        "not_worse_than_served",
        "fer_platform/defs/models/checks.py",
        "@asset_check(asset=names.EMOTION_MODEL, name=names.NOT_WORSE_THAN_SERVED, blocking=True)",
        ("fer_platform_tests/defs/models/test_assets.py",),
    ),
    blocking(
        "expression_vectors_complete",
        "fer_platform/defs/models/expression_checks.py",
        "    blocking=True,\n    partitions_def=EMOTION_PARTITIONS,\n)\ndef expression_vectors_complete(",
    ),
    blocking(
        "rows_match_manifest",
        "fer_platform/defs/embeddings/checks.py",
        "    asset=names.EMBEDDINGS_TABLE,\n    blocking=True,\n",
    ),
    blocking(
        "filepaths_unique",
        "fer_platform/defs/embeddings/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef filepaths_unique(",
    ),
    blocking(
        "vectors_valid",
        "fer_platform/defs/embeddings/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef vectors_valid(",
    ),
    blocking(
        "replica_rows_match_source",
        "fer_platform/defs/replica/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef replica_rows_match_source(",
    ),
    blocking(
        "replica_content_matches_source",
        "fer_platform/defs/replica/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef replica_content_matches_source(",
    ),
    blocking(
        "lake_image_count_matches_raw",
        "fer_platform/defs/lake/checks.py",
        "    asset=names.LAKEHOUSE_IMAGES,\n    blocking=True,\n",
    ),
    blocking(
        "parquet_rows_match_replica",
        "fer_platform/defs/lake/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef parquet_rows_match_replica(",
    ),
    blocking(
        "lake_paths_integrity",
        "fer_platform/defs/lake/checks.py",
        "blocking=True, partitions_def=EMOTION_PARTITIONS)\ndef lake_paths_integrity(",
    ),
)
