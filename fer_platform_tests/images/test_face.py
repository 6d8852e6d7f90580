"""Query photos become 48x48 grayscale face crops, like the stored FER images."""

import numpy as np
from PIL import Image

from fer_platform.images.face import to_fer_face
from fer_platform.sample_data import write_sample_dataset


def test_a_fer_image_is_used_as_it_is(tmp_path):
    write_sample_dataset(tmp_path, per_class=1, test_per_class=0, emotions=("happy",))
    face = to_fer_face(Image.open(tmp_path / "train" / "happy" / "im0.png"))
    assert face.method == "as-is" and face.image.size == (48, 48) and face.image.mode == "L"


def test_a_face_in_a_large_photo_is_found_and_cropped(tmp_path):
    write_sample_dataset(tmp_path, per_class=1, test_per_class=0, emotions=("happy",))
    small = Image.open(tmp_path / "train" / "happy" / "im0.png").convert("RGB")
    photo = Image.new("RGB", (640, 480), (90, 120, 150))
    photo.paste(small.resize((240, 240), Image.Resampling.BICUBIC), (360, 200))
    face = to_fer_face(photo)
    assert face.method == "detected" and face.image.size == (48, 48)
    x, y, w, h = face.box
    assert 330 <= x + w / 2 <= 510 and 170 <= y + h / 2 <= 470  # inside the pasted face


def test_no_face_falls_back_to_the_centre_square():
    photo = Image.fromarray(np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (100, 1)))
    face = to_fer_face(photo)
    assert face.method == "centre-crop" and face.box is None and face.image.size == (48, 48)
