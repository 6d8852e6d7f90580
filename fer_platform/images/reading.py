"""Reading images where they are, a batch at a time: the work of Ray Data's read tasks. A location is a path every
node sees or an fsspec URL (``az://container/path``, read with the worker's own credentials); a file that cannot be
read or decoded carries its reason. The images stage's own tasks (a scan's hashing and decoding, landing from the
source container) are here too. Only the embedding reads' batched resize imports torch, inside its function, so the
other tasks' worker processes start light."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np

from fer_platform.images.batched_resize import CROP_SIDE, seed_crops
from fer_platform.images.decode import ImageDecodeError, decode_image
from fer_platform.images.face import FER_SIZE, face_pixels
from fer_platform.images.manifest import describe_columns


def read_bytes(location: str) -> bytes:
    """A file's bytes from a path or an fsspec URL (``az://container/path`` with the worker's credentials)."""
    if "://" not in location:
        return Path(location).read_bytes()
    from fer_platform.storage.location import open_location

    root, name = location.rsplit("/", 1)
    return open_location(root).read(name)


def read_seed_crops(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Read and decode a batch of files to 8-bit grayscale (exactly what the seed transform's ``Grayscale(3)``
    makes of any mode, one channel of its three), then resize and center-crop them batched, as the seed's
    ``Resize(256)`` and ``CenterCrop(224)`` do (``batched_resize.seed_crops``): (N, 224, 224) uint8 crops, an
    error column (a file that fails carries its reason and a blank crop) and the index.

    Why here: the read tasks scale with the cluster's CPUs while a model actor holds one thread (or a GPU), so the
    per-image work happens where it is cheap and in batches; the actor is left one fused normalize and the forward
    pass. This task imports torch (for ``F.interpolate``) inside ``seed_crops``, which makes its worker heavier;
    acceptable for the embedding reads, and the images stage's other tasks never load it."""
    gray: list[np.ndarray] = []
    errors: list[str] = []
    for location in batch["location"]:
        try:
            gray.append(np.asarray(decode_image(read_bytes(str(location))).convert("L")))
            errors.append("")
        except (ImageDecodeError, OSError) as exc:
            errors.append(str(exc) or type(exc).__name__)
    crops = np.zeros((len(errors), CROP_SIDE, CROP_SIDE), np.uint8)
    good = [k for k, error in enumerate(errors) if not error]
    if good:
        crops[good] = seed_crops(gray)
    return {"index": batch["index"], "crop": crops, "error": np.array(errors)}


def read_faces(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each file's sha256 and 48x48 face; a file whose bytes equal its row's ``stored`` digest is marked unchanged
    and never decoded."""
    faces, digests, states = [], [], []
    for location, known in zip(batch["location"], batch["stored"]):
        face, state = np.zeros((FER_SIZE, FER_SIZE), np.uint8), "ok"
        try:
            data = read_bytes(str(location))
            digest = hashlib.sha256(data).hexdigest()
            if known == digest:
                state = "unchanged"
            else:
                face = face_pixels(decode_image(data))
        except (ImageDecodeError, OSError) as exc:
            digest, state = "", f"error: {exc}"
        faces.append(face)
        digests.append(digest)
        states.append(state)
    return {"index": batch["index"], "face": np.stack(faces), "digest": np.array(digests), "state": np.array(states)}


def on_this_node(image_root: str) -> Path:
    """The image root as this node sees it; a node that does not mount it fails the task, saying so."""
    root = Path(image_root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"FER_IMAGE_ROOT={image_root!r} is not a folder on Ray node {socket.gethostname()}: "
            f"mount the image root at the same path on every node"
        )
    return root


def describe_batch(batch: dict[str, np.ndarray], image_root: str, emotion: str) -> dict[str, np.ndarray]:
    """Manifest rows (size, sha256, decodability) of a batch of file paths relative to the image root, as the
    numpy columns of ``manifest.describe_columns`` (the form the in-process scan makes too): the hashing and
    decoding of a scan, done where the files are, and no per-row objects for the driver to parse."""
    return describe_columns(batch["filepath"], on_this_node(image_root), emotion)


def land_batch(batch: dict[str, np.ndarray], source_url: str, image_root: str) -> dict[str, np.ndarray]:
    """Copy a batch of blobs from the source container into the image root on this node, each file written whole,
    with this node's credentials; a blob deleted since the listing is answered as gone."""
    from fer_platform.storage.location import open_location

    root = open_location(str(on_this_node(image_root)))
    try:
        source = open_location(source_url)
    except ValueError as exc:  # no credentials on this node: say which settings it lacks
        raise PermissionError(f"Ray node {socket.gethostname()} cannot open FER_SOURCE_URL: {exc}") from None
    gone = []
    for name in batch["name"]:
        try:
            root.write_atomic(str(name), source.read(str(name)))
            gone.append(False)
        except FileNotFoundError:
            gone.append(True)
    return {"name": batch["name"], "gone": np.array(gone)}
