import struct

import numpy as np
import pytest

from rillet.summary import _png, _record

pywrap = pytest.importorskip("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", 0x0),
        (b"123456789", 0xE3069283),
        (b"\x00" * 32, 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
    ],
)
def test_crc32c_matches_published_check_values(data, expected):
    assert _record.crc32c(data) == expected  # RFC 3720 B.4 vectors


def test_masked_crc32c_matches_tensorboard_reference(rng):
    for size in (0, 1, 7, 100, 1000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert _record.masked_crc32c(data) == pywrap.masked_crc32c(data)


def test_frame_layout_is_length_crc_data_crc():
    record = _record.frame(b"abc")
    assert struct.unpack("<Q", record[:8]) == (3,)
    assert struct.unpack("<I", record[8:12])[0] == pywrap.masked_crc32c(record[:8])
    assert record[12:15] == b"abc"
    assert struct.unpack("<I", record[15:])[0] == pywrap.masked_crc32c(b"abc")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_zlib_png_encoder_round_trips_through_pillow(rng, channels):
    from io import BytesIO

    image_module = pytest.importorskip("PIL.Image")
    pixels = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    decoded = np.asarray(image_module.open(BytesIO(_png._encode_zlib(pixels))))
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)
