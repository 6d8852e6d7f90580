"""Copies of a face among faces: a re-encoded, shifted, brightened or mirrored copy is confirmed, a distinct face
is not; copies form groups, a chain of look-alikes does not; the validation split keeps a copy on its face's
side."""

import io

import numpy as np
import torch
from PIL import Image

from fer_platform.models.copies import copy_groups, near_copies
from fer_platform.models.faces import FaceSet, validation_split
from fer_platform_tests.support.textures import textures


def jpeg(pixels: np.ndarray, quality: int = 60) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.array(Image.open(buffer))


def test_copies_are_confirmed_and_distinct_faces_are_not():
    pool = np.stack(textures(30, seed=1))
    queries = np.stack([
        jpeg(pool[3]),
        np.roll(pool[7], (2, -1), axis=(0, 1)),
        np.ascontiguousarray(jpeg(pool[9])[:, ::-1]),
        *textures(10, seed=2),
    ])
    found = {i: (j, score) for i, j, score in near_copies(queries, pool)}
    assert {i: j for i, (j, _) in found.items()} == {0: 3, 1: 7, 2: 9}
    assert min(score for _, score in found.values()) > 0.95


def test_copies_inside_one_set_form_groups_and_a_face_never_copies_itself():
    faces = np.stack([*textures(40, seed=3), jpeg(textures(40, seed=3)[5]), textures(40, seed=3)[8][:, ::-1]])
    assert {(i, j) for i, j, _ in near_copies(faces, faces, itself=True)} == {(5, 40), (40, 5), (8, 41), (41, 8)}
    groups = copy_groups(faces)
    assert groups[5] == groups[40] and groups[8] == groups[41] and len(set(groups.tolist())) == 40


def test_a_chain_of_look_alikes_keeps_groups_of_its_own():
    base = textures(1, seed=4)[0].astype(np.int16)
    rng = np.random.default_rng(0)
    alike = np.stack([np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8) for _ in range(30)])
    assert np.bincount(copy_groups(alike)).max() <= 2  # the cap at 30 faces: no chain joins them all


def test_the_validation_split_keeps_a_re_encoded_copy_on_its_face_s_side():
    pixels = np.stack(textures(80, seed=5))
    labels = torch.tensor([0, 1] * 40)
    plain = FaceSet(torch.from_numpy(pixels), labels, ["a", "b"], [f"f{i}" for i in range(80)], "x", {})
    train, validation = validation_split(plain, 0.1)
    face, other = int(validation[0]), int(train[0])
    grown_pixels = np.concatenate([pixels, np.stack([jpeg(pixels[face]), np.roll(pixels[other], 1, axis=1)])])
    grown = FaceSet(torch.from_numpy(grown_pixels), torch.cat([labels, labels[[face, other]]]), ["a", "b"],
                    plain.files + ["copy_of_face", "copy_of_other"], "x", {})
    grown_train, grown_validation = validation_split(grown, 0.1)
    assert {face, 80} <= set(grown_validation.tolist()) and {other, 81} <= set(grown_train.tolist())


def test_groups_are_remembered_by_the_pixels_not_by_the_array():
    faces = np.random.default_rng(4).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    first = copy_groups(faces)
    first[:] = -1  # the caller's copy: the remembered answer stays right
    assert copy_groups(faces.copy()).tolist() == list(range(6))
    faces[0] = faces[1]
    assert copy_groups(faces)[0] == copy_groups(faces)[1]  # other pixels, another answer
