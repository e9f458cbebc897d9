"""Graph preprocessing: every accepted kind of image becomes the same uint8
grid, and every bad one gets one clear error naming it."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vision_caption import preprocess

SIZE = 16


def _png(array):
    return tf.io.encode_png(array).numpy()


def _pil(array, fmt):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def _decode(data, **kw):
    return preprocess.decode_image(tf.constant(data), SIZE, name="pic", **kw).numpy()


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 30, 3)).astype("uint8")


def test_formats_and_channels_give_rgb_pixels(rgb):
    gray = rgb[..., :1]
    cases = {
        "png": _png(rgb), "png gray": _png(gray), "png gray+alpha": _png(rgb[..., :2]),
        "png rgba": _png(np.concatenate([rgb, rgb[..., :1]], -1)),
        "png 16-bit": _png(rgb.astype("uint16") * 257),
        "jpeg": tf.io.encode_jpeg(rgb).numpy(), "jpeg gray": tf.io.encode_jpeg(gray).numpy(),
        "gif": _pil(rgb, "GIF"), "bmp": _pil(rgb, "BMP"), "webp": _pil(rgb, "WEBP"),
    }
    for name, data in cases.items():
        out = _decode(data)
        assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8, name
    # Gray is copied into the three channels.
    g = _decode(cases["png gray"])
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    # 16-bit and 8-bit versions of one image give the same pixels.
    np.testing.assert_array_equal(_decode(cases["png 16-bit"]), _decode(cases["png"]))
    # Lossless formats agree exactly with the PNG.
    np.testing.assert_array_equal(_decode(cases["bmp"]), _decode(cases["png"]))


def test_alpha_is_composited_over_white():
    rgba = np.zeros((20, 20, 4), "uint8")
    rgba[..., 0] = 255          # red, but fully transparent on the left half
    rgba[:, 10:, 3] = 255
    out = _decode(_png(rgba))
    assert out[:, :6].tolist() == np.full((SIZE, 6, 3), 255).tolist()
    assert out[:, -6:].tolist() == np.tile([255, 0, 0], (SIZE, 6, 1)).tolist()


def test_not_an_image_is_one_clear_error():
    for data in (b"hello, I am text", b"", b"\x89PN"):
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            _decode(data)
        assert ("pic: the bytes are not a JPEG, PNG, GIF, BMP or WebP image "
                "(unrecognised signature)") in e.value.message


def test_corrupt_image_is_an_error(rgb):
    jpeg = tf.io.encode_jpeg(rgb).numpy()
    # Cut short: refused by name before libjpeg sees it.
    for cut in (200, len(jpeg) - 10):
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            _decode(jpeg[:cut])
        assert ("pic: the JPEG data is truncated (no end-of-image marker); the file is "
                "incomplete or corrupt") in e.value.message
    # Garbage inside a complete-looking JPEG: libjpeg's own error.
    broken = jpeg[:100] + b"\xff\xff" * 200 + jpeg[500:]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid JPEG data|JPEG"):
        _decode(broken)


def test_size_limits(rgb):
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        _decode(_png(rgb[:5, :9]))
    assert ("pic: the image is 9x5 pixels (width x height); both sides must be at least "
            "16 pixels") in e.value.message
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        _decode(tf.io.encode_jpeg(rgb).numpy(), max_pixels=1000)
    assert "pic: the image is 30x40 pixels (width x height), more than the 1000 pixels" \
        in e.value.message
    # A PNG whose header claims 100000 x 100000 pixels is refused from its
    # header, before any decoding (its data is garbage).
    header = bytearray(_png(rgb))
    header[16:24] = (100000).to_bytes(4, "big") * 2
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        _decode(bytes(header))
    assert "the image is 100000x100000 pixels (width x height), more than the 40000000" \
        in e.value.message
    assert _decode(_png(rgb[:16, :16])).shape == (SIZE, SIZE, 3)


def test_image_format_signatures(rgb):
    fmt = lambda d: preprocess.image_format(tf.constant(d)).numpy().decode()  # noqa: E731
    assert fmt(_png(rgb)) == "png" and fmt(tf.io.encode_jpeg(rgb).numpy()) == "jpeg"
    assert fmt(_pil(rgb, "GIF")) == "gif" and fmt(_pil(rgb, "WEBP")) == "webp"
    assert fmt(b"BM") == "bmp" and fmt(b"GIF8") == "" and fmt(b"") == ""


def test_arrays_go_through_png(rgb):
    data = preprocess.array_to_png(rgb)
    np.testing.assert_array_equal(_decode(data), _decode(_png(rgb)))
    as_float = preprocess.array_to_png(rgb.astype("float32") / 255)
    np.testing.assert_array_equal(_decode(as_float), _decode(_png(rgb)))
    assert _decode(preprocess.array_to_png(rgb[..., 0])).shape == (SIZE, SIZE, 3)
    with pytest.raises(ValueError) as e:
        preprocess.array_to_png(np.zeros((4, 4, 5), "uint8"))
    assert str(e.value) == ("an image array must be [height, width] or [height, width, "
                            "channels] with 1 to 4 channels; got shape (4, 4, 5)")
    with pytest.raises(ValueError) as e:
        preprocess.array_to_png(np.full((4, 4), 2.0))
    assert str(e.value) == ("a float image array must hold values in [0, 1]; got values in "
                            "[2, 2] (pass uint8 for 0-255 pixels)")
    with pytest.raises(ValueError, match="must be uint8, uint16 or float in \\[0, 1\\]; got "
                                         "dtype int64"):
        preprocess.array_to_png(np.zeros((4, 4), "int64"))
    with pytest.raises(ValueError, match="contains NaN"):
        preprocess.array_to_png(np.full((4, 4), np.nan))


def test_validated_decode_gives_the_pixels_of_decode_image(rgb):
    # The stream of prepared shards decodes without the checks; the pixels
    # must be the checked decoder's, for every format and channel layout.
    cases = [_png(rgb), _png(rgb[..., :1]), _png(rgb[..., :2]),
             _png(np.concatenate([rgb, rgb[..., :1]], -1)), _png(rgb.astype("uint16") * 257),
             tf.io.encode_jpeg(rgb).numpy(), _pil(rgb, "GIF"), _pil(rgb, "BMP"),
             _pil(rgb, "WEBP"), _png(rgb[:SIZE, :SIZE])]
    for i, data in enumerate(cases):
        np.testing.assert_array_equal(
            preprocess.decode_validated(tf.constant(data), SIZE).numpy(), _decode(data),
            err_msg=f"case {i}")


def test_an_image_at_the_size_keeps_its_pixels(rgb):
    # Not resampled (resampling at scale 1 would give the same pixels).
    square = rgb[:SIZE, :SIZE]
    np.testing.assert_array_equal(_decode(_png(square)), square)
    np.testing.assert_array_equal(
        _decode(_png(square.astype("uint16") * 257)), square)
    # A different size is still resampled to the size.
    assert _decode(_png(rgb[:SIZE + 1, :SIZE])).shape == (SIZE, SIZE, 3)
