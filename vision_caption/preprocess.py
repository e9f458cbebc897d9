"""Graph-only image preprocessing: encoded bytes (or an array) -> the model's
`uint8 [size, size, 3]` pixels.

The same functions run in `tf.data` while training, eagerly in
`Captioner.caption`, and inside the exported SavedModel, so a served caption
cannot differ from an in-memory one because of preprocessing.

What is accepted, and what happens to it:

- Formats: JPEG, PNG, GIF (first frame), BMP and WebP, recognised by their
  signature (the first bytes), not by a file name. Anything else is refused
  with "... is not a JPEG, PNG, GIF, BMP or WebP image".
- Channels: grayscale is copied to RGB; an alpha channel (gray+alpha, RGBA)
  is composited over a white background, so transparent areas do not turn
  into whatever colour happens to be stored under them.
- Bit depth: 8- and 16-bit images are both scaled to [0, 1] first, so a
  16-bit PNG gives the same pixels as its 8-bit version (up to rounding).
- Size: an image with a side below `min_side` pixels is refused (there is too
  little to caption), as is one with more than `max_pixels` pixels. For PNG
  and JPEG the size is read from the header *before* decoding, so a huge
  image is refused without being decoded into memory.
- Every image is resized (bilinear, antialiased when shrinking) to a square
  `size x size`, ignoring its aspect ratio, and rounded to uint8 (one
  already that size is not resampled: resampling it would give back the
  same pixels).

Example:

>>> import numpy as np
>>> png = tf.io.encode_png(np.full((40, 30, 1), 200, "uint8"))  # grayscale
>>> pixels = decode_image(png, size=16)
>>> pixels.shape, pixels.dtype.name, int(pixels[0, 0, 2])
(TensorShape([16, 16, 3]), 'uint8', 200)
"""

import os
import re

import tensorflow as tf

FORMATS = "JPEG, PNG, GIF, BMP or WebP"
DEFAULT_MIN_SIDE = 16
DEFAULT_MAX_PIXELS = 40_000_000

_PNG = b"\x89PNG\r\n\x1a\n"
# The message of a failed `tf.debugging.Assert` in an InvalidArgumentError.
_ASSERT = re.compile(r"assertion failed: \[(.*?)\]\s*(?:\n|\[\[|$)", re.S)
_JPEG = b"\xff\xd8\xff"


def image_format(data):
    """The format of encoded image bytes from their signature: a string
    scalar, one of "jpeg", "png", "gif", "bmp", "webp", or "" if unknown.

    Example:

    >>> image_format(tf.constant(b"GIF89a...")).numpy()
    b'gif'
    >>> image_format(tf.constant(b"hello")).numpy()
    b''
    """
    data = tf.convert_to_tensor(data, tf.string)
    # Padded, so that short inputs compare as "unknown" instead of failing.
    head = tf.strings.join([tf.strings.substr(data, 0, 12), b"\0" * 12])

    def starts(prefix):
        return tf.equal(tf.strings.substr(head, 0, len(prefix)), prefix)

    webp = tf.logical_and(starts(b"RIFF"), tf.equal(tf.strings.substr(head, 8, 4), b"WEBP"))
    fmt = tf.constant("")
    # Later entries win; the signatures do not overlap.
    for name, test in (("bmp", starts(b"BM")),
                       ("gif", tf.logical_or(starts(b"GIF87a"), starts(b"GIF89a"))),
                       ("webp", webp), ("jpeg", starts(_JPEG)), ("png", starts(_PNG))):
        fmt = tf.where(test, tf.constant(name), fmt)
    return fmt


def _big_endian_uint32(data, offset):
    raw = tf.io.decode_raw(tf.strings.substr(data, offset, 4), tf.uint8)
    b = tf.cast(raw, tf.int64)
    return ((b[0] * 256 + b[1]) * 256 + b[2]) * 256 + b[3]


def header_size(data, fmt):
    """`(height, width)` int64 from a PNG or JPEG header without decoding;
    `(-1, -1)` for other formats (and for a PNG too short to hold a header,
    which then fails to decode with its own message)."""

    def png():
        ok = tf.strings.length(data) >= 24

        def read():
            return _big_endian_uint32(data, 20), _big_endian_uint32(data, 16)

        def unknown():
            return tf.constant(-1, tf.int64), tf.constant(-1, tf.int64)

        return tf.cond(ok, read, unknown)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0], shape[1]

    def other():
        return tf.constant(-1, tf.int64), tf.constant(-1, tf.int64)

    return tf.case([(tf.equal(fmt, "png"), png), (tf.equal(fmt, "jpeg"), jpeg)],
                   default=other, exclusive=True)


def jpeg_is_complete(data):
    """True unless `data` is a JPEG cut short: a JPEG ends with the
    end-of-image marker FF D9 (looked for in its last 64 bytes, which allows
    for padding after it). Other formats: True.

    Example:

    >>> import numpy as np
    >>> jpeg = tf.io.encode_jpeg(np.zeros((8, 8, 3), "uint8"))
    >>> bool(jpeg_is_complete(jpeg)), bool(jpeg_is_complete(tf.strings.substr(jpeg, 0, 300)))
    (True, False)
    """
    data = tf.convert_to_tensor(data, tf.string)
    length = tf.strings.length(data)
    tail = tf.io.decode_raw(tf.strings.substr(data, tf.maximum(0, length - 64), 64), tf.uint8)
    marker = tf.logical_and(tf.equal(tail[:-1], 0xFF), tf.equal(tail[1:], 0xD9))
    return tf.logical_or(tf.not_equal(image_format(data), "jpeg"), tf.reduce_any(marker))


def _size_checks(name, height, width, min_side, max_pixels):
    """Asserts that an image of `height x width` may be captioned."""
    size = tf.strings.format("{}x{}", (width, height))
    too_small = tf.debugging.Assert(
        tf.logical_or(height < 0, tf.minimum(height, width) >= min_side),
        [tf.strings.join([name, ": the image is ", size, " pixels (width x height); both "
                          f"sides must be at least {min_side} pixels"])])
    too_big = tf.debugging.Assert(
        height * width <= max_pixels,
        [tf.strings.join([name, ": the image is ", size, " pixels (width x height), more "
                          f"than the {max_pixels} pixels accepted"])])
    return [too_small, too_big]


def to_rgb(image):
    """float `[h, w, c]` in [0, 1] with c in 1..4 -> float `[h, w, 3]`.

    Gray is repeated into three channels; alpha is composited over white.

    Example:

    >>> rgba = tf.constant([[[1.0, 0.0, 0.0, 0.5]]])   # half-transparent red
    >>> to_rgb(rgba).numpy().tolist()
    [[[1.0, 0.5, 0.5]]]
    """
    image = tf.convert_to_tensor(image, tf.float32)
    channels = tf.shape(image)[-1]
    colour = tf.cond(channels >= 3, lambda: image[..., :3],
                     lambda: tf.repeat(image[..., :1], 3, axis=-1))
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    alpha = tf.cond(has_alpha, lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1]))
    return colour * alpha + (1.0 - alpha)


def resize_to_pixels(rgb, size):
    """float RGB `[h, w, 3]` in [0, 1] -> uint8 `[size, size, 3]`."""
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    shape = tf.shape(rgb)
    # An image already `size x size` is not resampled: bilinear resampling
    # at scale 1 gives back every pixel exactly, so skipping it changes no
    # pixel and saves most of the decode time of such images (generated
    # scenes, corpora stored at the model's size).
    resized = tf.cond(
        tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size)),
        lambda: rgb,
        lambda: tf.image.resize(rgb[None], [size, size], method="bilinear",
                                antialias=True)[0])
    resized = tf.ensure_shape(resized, [size, size, 3])
    # Rounded to uint8: the pixels cached for training are then bit-identical
    # to the ones computed while serving.
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 1.0) * 255.0), tf.uint8)


def _decode_float(data, is_png):
    """Encoded bytes -> float `[h, w, c]` in [0, 1] (c as stored)."""
    image = tf.cond(
        is_png,
        # PNG may hold 16 bits per channel; the other formats hold 8 (and
        # the WebP decoder only gives uint8).
        lambda: tf.image.convert_image_dtype(
            tf.io.decode_png(data, channels=0, dtype=tf.uint16), tf.float32),
        lambda: tf.image.convert_image_dtype(
            tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False),
            tf.float32))
    image.set_shape([None, None, None])
    return image


def decode_validated(data, size):
    """Encoded image bytes that have passed `decode_image`'s checks before
    -> the very pixels `decode_image` makes of them, without checking them
    again.

    For the images of prepared shards: `pipelines prepare vision_caption`
    decoded every one with the same size limits (training refuses shards
    prepared with other limits), and TFRecord's per-record checksums guard
    the bytes since, so the stream skips the header parsing and size checks,
    which cost more than decoding a small image. Anything else goes through
    `decode_image`.

    Args:
        data: the encoded image (a string scalar).
        size: side of the square output.

    Example:

    >>> import numpy as np
    >>> png = tf.io.encode_png(np.full((40, 30, 1), 200, "uint8"))
    >>> bool(tf.reduce_all(decode_validated(png, 16) == decode_image(png, 16)))
    True
    """
    data = tf.convert_to_tensor(data, tf.string)
    is_png = tf.equal(tf.strings.substr(data, 0, len(_PNG)), _PNG)
    return resize_to_pixels(to_rgb(_decode_float(data, is_png)), size)


def decode_image(data, size, min_side=DEFAULT_MIN_SIDE, max_pixels=DEFAULT_MAX_PIXELS,
                 name="image"):
    """Encoded image bytes (a string scalar) -> uint8 `[size, size, 3]`.

    Args:
        data: the encoded image (JPEG, PNG, GIF, BMP or WebP).
        size: side of the square output.
        min_side, max_pixels: the size limits (see the module docstring).
        name: what to call the image in error messages (a string scalar,
            e.g. "image_bytes[3]").

    Raises:
        tf.errors.InvalidArgumentError: for bytes that are not an image of a
            known format, a corrupt image, or an image outside the size
            limits; the message starts with `name`.
    """
    data = tf.convert_to_tensor(data, tf.string)
    name = tf.convert_to_tensor(name, tf.string)
    fmt = image_format(data)
    known = tf.debugging.Assert(
        tf.not_equal(fmt, ""),
        [tf.strings.join([name, f": the bytes are not a {FORMATS} image (unrecognised "
                                "signature)"])])
    # A truncated JPEG is refused by name before libjpeg sees it (it would
    # fail with an anonymous "Invalid JPEG data" and a native log line).
    complete = tf.debugging.Assert(
        jpeg_is_complete(data),
        [tf.strings.join([name, ": the JPEG data is truncated (no end-of-image marker); "
                                "the file is incomplete or corrupt"])])
    with tf.control_dependencies([known, complete]):
        height, width = header_size(data, fmt)
    with tf.control_dependencies(_size_checks(name, height, width, min_side, max_pixels)):
        image = _decode_float(data, tf.equal(fmt, "png"))
    shape = tf.shape(image, out_type=tf.int64)
    with tf.control_dependencies(_size_checks(name, shape[0], shape[1], min_side,
                                              max_pixels)):
        rgb = to_rgb(tf.identity(image))
    return resize_to_pixels(rgb, size)


def array_to_png(array):
    """A numpy image -> PNG bytes, validated in Python.

    Arrays are `[h, w]` or `[h, w, c]` with c in 1..4 (gray, gray+alpha, RGB,
    RGBA), of dtype uint8, uint16, or float in [0, 1] (stored as 16-bit).
    Captioning an array goes through its lossless PNG encoding and then the
    very same `decode_image` as encoded bytes, so an array and its PNG file
    always get the same caption.

    Raises:
        ValueError: naming the shape, dtype or value range that is wrong.

    Example:

    >>> import numpy as np
    >>> array_to_png(np.zeros((4, 5, 3), "uint8"))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import numpy as np

    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ValueError(
            "an image array must be [height, width] or [height, width, channels] with "
            f"1 to 4 channels; got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image array contains NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"a float image array must hold values in [0, 1]; got values in "
                f"[{array.min():g}, {array.max():g}] (pass uint8 for 0-255 pixels)")
        array = np.round(array * 65535.0).astype(np.uint16)
    elif array.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"an image array must be uint8, uint16 or float in [0, 1]; got dtype {array.dtype}")
    return tf.io.encode_png(array).numpy()


def make_decoder(size, min_side=DEFAULT_MIN_SIDE, max_pixels=DEFAULT_MAX_PIXELS):
    """`decode(data, name)`: `decode_image` traced once for string scalars
    (what `Captioner.pixels` and `prepare` run on every image)."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)])
    def decode(data, name):
        return decode_image(data, size, min_side, max_pixels, name)

    return decode


def error_detail(message):
    """The line of a TensorFlow error that says what went wrong: the last
    one before the `[[{{node ...}}]]` trailer (the ones above are "Graph
    execution error:" and where the node was defined)."""
    for line in reversed(message.splitlines()):
        line = re.sub(r"\{\{[^}]*\}\}", "", line)
        line = re.sub(r"\s*\[Op:\w+\].*$", "", line).strip()
        if line and not line.startswith("[["):
            return line
    return "unknown error"


def checked_pixels(decode, data, where):
    """`decode(data, where)` (a `make_decoder` function) as numpy uint8
    pixels, or a ValueError with one line naming `where` and what is wrong:
    the message the captioner gives (and logs when it skips the image), and
    the reason `prepare` records for an image it skips.

    Raises:
        ValueError: the image is not a usable image.
    """
    try:
        return decode(tf.constant(data), tf.constant(where)).numpy()
    except tf.errors.InvalidArgumentError as e:
        found = _ASSERT.search(e.message)
        if found:
            raise ValueError(found.group(1) + ".") from None
        raise ValueError(f"{where}: cannot decode the image "
                         f"({error_detail(e.message)}).") from None


def read_image_file(path, where="image"):
    """The bytes of the image file `path`.

    Raises:
        ValueError: naming `where` when there is no such file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such image file.")
    with open(path, "rb") as f:
        return f.read()
