import numpy as np
import pytest
from PIL import Image

from fer_platform.images.decode import ImageDecodeError, decode_image, to_8bit
from fer_platform_tests.support.bad_images import write_bad_files, write_unusual_good_files


def test_every_bad_file_raises_with_its_reason(tmp_path):
    for name, word in write_bad_files(tmp_path).items():
        with pytest.raises(ImageDecodeError, match=word):
            decode_image((tmp_path / name).read_bytes())


def test_unusual_modes_and_names_decode(tmp_path):
    for name in write_unusual_good_files(tmp_path):
        img = decode_image((tmp_path / name).read_bytes())
        assert img.size == (48, 48)
        assert img.mode in ("L", "RGB", "RGBA", "P")


def test_16bit_is_scaled_not_clipped():
    arr = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    out = np.asarray(to_8bit(Image.fromarray(arr)))
    assert out.tolist() == [[0, 100, 255]]
