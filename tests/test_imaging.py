"""faceprint.imaging: decoding every common format to HxWx3 uint8 RGB, limits, and clear errors, on real photos."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import FaceprintError, ImageError, ImageTooLargeError
from faceprint.imaging import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageLimits,
    decode_bytes,
    describe,
    load_image,
    read_bytes,
    read_source,
)

OBAMA = Path("samples/people/obama/obama.jpg")
APPLEDOUBLE = [
    Path("celebrity-faces-31/train/Charlize Theron/._Charlize Theron_0_face1.jpg"),
    Path("celebrity-faces-31/train/Kashyap/._Kashyap_25_face1.jpg"),
]
W, H = 120, 150  # the small, non-square working copy of the real photo (width x height)


@pytest.fixture(scope="session")
def obama_path(datasets):
    path = datasets / OBAMA
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def photo(obama_path):
    """The real photo as a small RGB Pillow image, so that every conversion below stays quick."""
    with Image.open(obama_path) as image:
        return image.convert("RGB").resize((W, H), Image.Resampling.LANCZOS)


@pytest.fixture(scope="session")
def gray(photo):
    return np.asarray(photo.convert("L"))


def _save(image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def _check_rgb(result, height=H, width=W):
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.uint8
    assert result.shape == (height, width, 3)
    assert result.flags["C_CONTIGUOUS"]


def _mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _bomb_png(width, height, color_type, with_pixels=True):
    """A valid 1-bit PNG of width x height pixels (grayscale or palette) that is tiny on disk."""
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, color_type, 0, 0, 0))]
    if color_type == 3:
        chunks.append(_png_chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255])))
    if with_pixels:
        row = bytes(1 + (width + 7) // 8)  # filter byte 0 + packed 1-bit pixels, all zero
        compressor = zlib.compressobj(9)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        idat = b"not a zlib stream"  # decoding it would fail: only the header may be read
    chunks.append(_png_chunk(b"IDAT", idat))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


# --- real files from the datasets ------------------------------------------------------------------------------


def test_real_photo_decodes_to_rgb(obama_path):
    result = load_image(obama_path)
    with Image.open(obama_path) as image:
        expected = np.asarray(image.convert("RGB"))
        width, height = image.size
    _check_rgb(result, height, width)
    np.testing.assert_array_equal(result, expected)


def test_real_grayscale_pgm_from_orl(datasets):
    path = datasets / "orl-faces" / "s1" / "1.pgm"
    with Image.open(path) as image:
        assert image.mode == "L"
        expected = np.asarray(image)
    result = load_image(path)
    _check_rgb(result, 112, 92)
    for channel in range(3):
        np.testing.assert_array_equal(result[:, :, channel], expected)


def test_real_lfw_and_celebrity_jpegs(datasets):
    lfw = min((datasets / "lfw" / "images").glob("*/*.jpg"))
    celebrity = min(
        p for p in (datasets / "celebrity-faces-31" / "train").glob("*/*.jpg") if not p.name.startswith("._")
    )
    _check_rgb(load_image(lfw), 250, 250)
    with Image.open(celebrity) as image:
        width, height = image.size
    _check_rgb(load_image(celebrity), height, width)


# --- formats ----------------------------------------------------------------------------------------------------

# name, file suffix, mode the photo is converted to before saving, save options, largest mean difference allowed
FORMATS = [
    ("jpeg", ".jpg", "RGB", {"quality": 95}, 4.0),
    ("png", ".png", "RGB", {}, 0.0),
    ("webp-lossy", ".webp", "RGB", {"quality": 90}, 6.0),
    ("webp-lossless", ".webp", "RGB", {"lossless": True}, 0.0),
    ("bmp", ".bmp", "RGB", {}, 0.0),
    ("pgm-gray", ".pgm", "L", {}, 0.0),
    ("ppm", ".ppm", "RGB", {}, 0.0),
    ("tiff", ".tif", "RGB", {}, 0.0),
    ("gif", ".gif", "P", {}, 0.0),
    ("png-gray", ".png", "L", {}, 0.0),
    ("png-1bit", ".png", "1", {}, 0.0),
    ("png-palette", ".png", "P", {}, 0.0),
    ("jpeg-gray", ".jpg", "L", {"quality": 95}, 4.0),
    ("jpeg-cmyk", ".jpg", "CMYK", {"quality": 95}, 6.0),
]
SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".pgm": "PPM",
    ".ppm": "PPM",
    ".tif": "TIFF",
    ".gif": "GIF",
}


@pytest.mark.parametrize(
    ("suffix", "mode", "options", "tolerance"), [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS]
)
def test_formats_decode_to_rgb(photo, tmp_path, suffix, mode, options, tolerance):
    converted = photo.convert(mode)
    path = _save(converted, tmp_path / f"photo{suffix}", **options)
    with Image.open(path) as written:
        assert written.format == SUFFIX_FORMATS[suffix] and written.size == (W, H)
    result = load_image(path)
    _check_rgb(result)
    expected = np.asarray(converted.convert("RGB"))
    if tolerance == 0.0:
        np.testing.assert_array_equal(result, expected)
    else:
        assert _mean_abs_diff(result, expected) <= tolerance
    if mode in ("L", "1"):
        assert (result[:, :, 0] == result[:, :, 1]).all() and (result[:, :, 1] == result[:, :, 2]).all()


def test_animated_gif_returns_first_frame(tmp_path):
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    blue = Image.new("RGB", (40, 30), (0, 0, 255))
    path = _save(red, tmp_path / "animated.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    with Image.open(path) as written:
        assert written.n_frames == 2
        written.seek(1)
        assert written.convert("RGB").getpixel((0, 0)) == (0, 0, 255)
    result = load_image(path)
    _check_rgb(result, 30, 40)
    assert (result == np.array([255, 0, 0], dtype=np.uint8)).all()


@pytest.mark.parametrize("suffix", [".png", ".tif", ".pgm"])
@pytest.mark.parametrize("darken", [1, 4], ids=["full-range", "dark"])
def test_16bit_grayscale_keeps_its_brightness(gray, tmp_path, suffix, darken):
    """A 16-bit file decodes like the same picture at 8 bits: samples are scaled from 0..65535, not stretched."""
    picture = gray // darken
    path = _save(Image.fromarray(picture.astype(np.uint16) * 257), tmp_path / f"gray16{suffix}")
    with Image.open(path) as written:
        assert written.mode in ("I;16", "I;16B", "I")  # really 16 bits per sample
        assert np.asarray(written).max() > 255
    result = load_image(path)
    _check_rgb(result)
    for channel in range(3):
        assert np.abs(result[:, :, channel].astype(int) - picture).max() <= 1
    eight_bit = load_image(_save(Image.fromarray(picture), tmp_path / "gray8.png"))
    assert np.abs(result.astype(int) - eight_bit).max() <= 1


def test_palette_png_with_transparency_is_white_where_transparent(photo, tmp_path):
    indexed = photo.quantize(colors=15)  # palette indices 0..14
    pixels = np.asarray(indexed).copy()
    pixels[:40, :50] = 15  # a block of the transparent index, whose colour is black
    palette = [*indexed.getpalette()[: 15 * 3], 0, 0, 0]
    image = Image.fromarray(pixels, mode="P")
    image.putpalette(palette)
    path = _save(image, tmp_path / "palette.png", transparency=15)
    with Image.open(path) as written:
        assert written.mode == "P" and "transparency" in written.info
    result = load_image(path)
    _check_rgb(result)
    assert (result[:40, :50] == 255).all()
    opaque = np.asarray(indexed.convert("RGB"))
    np.testing.assert_array_equal(result[40:], opaque[40:])
    np.testing.assert_array_equal(result[:, 50:], opaque[:, 50:])


def test_rgba_png_transparent_pixels_become_white(photo, tmp_path):
    rgb = np.asarray(photo)
    alpha = np.full((H, W), 255, dtype=np.uint8)
    alpha[:40, :50] = 0  # fully transparent over the photo's own colours
    alpha[100:, :] = 128  # half transparent
    rgba = np.dstack([rgb, alpha])
    rgba[:40, :50, :3] = 0  # hidden black, as many editors store it
    path = _save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "rgba.png")
    result = load_image(path)
    _check_rgb(result)
    assert (result[:40, :50] == 255).all()
    np.testing.assert_array_equal(result[40:100], rgb[40:100])
    half = (rgb[100:].astype(np.float64) * 128 + 255 * 127) / 255
    assert np.abs(result[100:].astype(np.float64) - half).max() <= 1.0


def test_la_png_transparent_pixels_become_white(gray, tmp_path):
    alpha = np.full((H, W), 255, dtype=np.uint8)
    alpha[:, : W // 2] = 0
    path = _save(Image.fromarray(np.dstack([gray, alpha]), mode="LA"), tmp_path / "la.png")
    with Image.open(path) as written:
        assert written.mode == "LA"
    result = load_image(path)
    _check_rgb(result)
    assert (result[:, : W // 2] == 255).all()
    for channel in range(3):
        np.testing.assert_array_equal(result[:, W // 2 :, channel], gray[:, W // 2 :])


# --- EXIF orientation -------------------------------------------------------------------------------------------


def _jpeg_with_orientation(photo, path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(photo, path, quality=95, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "rotate", "swapped"),
    [
        (6, lambda a: np.rot90(a, k=-1), True),
        (8, lambda a: np.rot90(a, k=1), True),
        (3, lambda a: a[::-1, ::-1], False),
    ],
    ids=["6-rotate-cw", "8-rotate-ccw", "3-rotate-180"],
)
def test_exif_orientation_is_applied(photo, tmp_path, orientation, rotate, swapped):
    upright = load_image(_jpeg_with_orientation(photo, tmp_path / "upright.jpg", 1))
    path = _jpeg_with_orientation(photo, tmp_path / f"orientation{orientation}.jpg", orientation)
    with Image.open(path) as written:
        assert written.size == (W, H) and written.getexif()[0x0112] == orientation
    result = load_image(path)
    if swapped:
        _check_rgb(result, height=W, width=H)
    else:
        _check_rgb(result)
    np.testing.assert_array_equal(result, rotate(upright))


# --- kinds of input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_source",
    [
        str,
        lambda p: p,
        lambda p: p.read_bytes(),
        lambda p: bytearray(p.read_bytes()),
        lambda p: memoryview(p.read_bytes()),
    ],
    ids=["str", "path", "bytes", "bytearray", "memoryview"],
)
def test_paths_and_bytes_decode_alike(photo, tmp_path, as_source):
    path = _save(photo, tmp_path / "photo.png")
    np.testing.assert_array_equal(load_image(as_source(path)), np.asarray(photo))


def test_read_source_returns_the_encoded_bytes(obama_path):
    data = obama_path.read_bytes()
    assert read_source(obama_path) == data
    assert read_source(str(obama_path)) == data
    assert read_source(memoryview(data)) == data
    assert read_bytes(obama_path) == data


def test_rgb_array_is_kept(photo):
    rgb = np.asarray(photo)
    result = load_image(rgb)
    _check_rgb(result)
    np.testing.assert_array_equal(result, rgb)


def test_gray_array_becomes_three_equal_channels(gray):
    result = load_image(gray)
    _check_rgb(result)
    for channel in range(3):
        np.testing.assert_array_equal(result[:, :, channel], gray)


def test_rgba_array_keeps_colour_channels(photo):
    rgb = np.asarray(photo)
    rgba = np.dstack([rgb, np.full((H, W), 255, dtype=np.uint8)])
    result = load_image(rgba)
    _check_rgb(result)
    np.testing.assert_array_equal(result, rgb)


def test_float_array_in_unit_range_is_scaled(photo):
    rgb = np.asarray(photo)
    result = load_image(rgb.astype(np.float32) / 255.0)
    _check_rgb(result)
    assert np.abs(result.astype(int) - rgb).max() <= 1
    ones = load_image(np.ones((4, 5, 3), dtype=np.float64))
    assert (ones == 255).all()


def test_float_array_in_byte_range_is_clipped_not_scaled():
    values = np.array([[[-20.0, 0.0, 100.0], [200.0, 255.0, 300.0]]])
    np.testing.assert_array_equal(load_image(values), np.array([[[0, 0, 100], [200, 255, 255]]], dtype=np.uint8))


@pytest.mark.parametrize(
    "shape", [(10,), (4, 5, 2), (4, 5, 5), (0, 5), (0, 5, 3), (2, 4, 5, 3)], ids=lambda s: "x".join(map(str, s))
)
def test_bad_array_shapes_are_refused(shape):
    with pytest.raises(ImageError) as info:
        load_image(np.zeros(shape, dtype=np.uint8))
    assert str(shape) in str(info.value)
    assert info.value.code == "invalid_image"


# --- bad inputs: always a FaceprintError that names the input ----------------------------------------------------


def _appledouble(index):
    def make(datasets, tmp_path, photo):
        path = datasets / APPLEDOUBLE[index]
        assert path.is_file() and path.read_bytes()[:4] == b"\x00\x05\x16\x07", path
        return path

    return make


def _truncated_jpeg(datasets, tmp_path, photo):
    data = (datasets / OBAMA).read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(datasets, tmp_path, photo):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    return path


def _text(datasets, tmp_path, photo):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    return path


def _missing(datasets, tmp_path, photo):
    return tmp_path / "does-not-exist.jpg"


def _directory(datasets, tmp_path, photo):
    path = tmp_path / "folder.jpg"
    path.mkdir()
    return path


def _truncated_png(datasets, tmp_path, photo):
    data = _save(photo, tmp_path / "whole.png").read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_jpeg(datasets, tmp_path, photo):
    data = bytearray((datasets / OBAMA).read_bytes())
    data[2:] = bytes(len(data) - 2)  # the JPEG start marker, then nothing but zeros
    path = tmp_path / "zeros.jpg"
    path.write_bytes(bytes(data))
    return path


BAD_FILES = {
    "appledouble-charlize": _appledouble(0),
    "appledouble-kashyap": _appledouble(1),
    "truncated-jpeg": _truncated_jpeg,
    "truncated-png": _truncated_png,
    "corrupt-jpeg": _corrupt_jpeg,
    "empty": _empty,
    "text-named-jpg": _text,
    "missing": _missing,
    "directory": _directory,
}


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
@pytest.mark.parametrize("as_str", [False, True], ids=["Path", "str"])
def test_bad_files_raise_image_error_naming_the_file(datasets, tmp_path, photo, make, as_str):
    path = make(datasets, tmp_path, photo)
    with pytest.raises(ImageError) as info:
        load_image(str(path) if as_str else path)
    assert isinstance(info.value, FaceprintError)
    assert type(info.value) is ImageError
    assert info.value.code == "invalid_image" and info.value.http_status == 400
    assert str(path) in str(info.value)
    assert info.value.message == str(info.value)


@pytest.mark.parametrize("make", [f for k, f in BAD_FILES.items() if k not in ("missing", "directory")])
def test_bad_bytes_raise_image_error_naming_the_upload(datasets, tmp_path, photo, make):
    data = make(datasets, tmp_path, photo).read_bytes()
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert f"uploaded image ({len(data)} bytes)" in str(info.value)


def test_decode_bytes_uses_the_given_name(datasets):
    with pytest.raises(ImageError, match=r"my-upload\.jpg: file is empty"):
        decode_bytes(b"", "my-upload.jpg")
    with pytest.raises(ImageError, match=r"my-upload\.jpg: not an image"):
        decode_bytes((datasets / APPLEDOUBLE[0]).read_bytes(), "my-upload.jpg")


# --- limits -----------------------------------------------------------------------------------------------------


def test_file_above_byte_limit_is_refused(obama_path):
    size = obama_path.stat().st_size
    with pytest.raises(ImageTooLargeError) as info:
        load_image(obama_path, ImageLimits(max_bytes=size - 1))
    assert str(obama_path) in str(info.value)
    assert info.value.code == "image_too_large" and info.value.http_status == 413
    assert isinstance(info.value, ImageError) and isinstance(info.value, FaceprintError)
    _check_rgb(load_image(obama_path, ImageLimits(max_bytes=size)), 1137, 910)  # exactly at the limit is fine


def test_bytes_above_byte_limit_are_refused(obama_path):
    data = obama_path.read_bytes()
    with pytest.raises(ImageTooLargeError, match=rf"uploaded image \({len(data)} bytes\)"):
        load_image(data, ImageLimits(max_bytes=len(data) - 1))
    _check_rgb(load_image(data, ImageLimits(max_bytes=len(data))), 1137, 910)


@pytest.mark.parametrize(
    ("color_type", "with_pixels"),
    [(0, True), (3, True), (0, False)],
    ids=["1bit-gray", "1bit-palette", "header-only"],
)
def test_decompression_bomb_is_refused_by_default(tmp_path, color_type, with_pixels):
    data = _bomb_png(12000, 12000, color_type, with_pixels)
    assert len(data) < 200_000  # tiny on disk, 144 megapixels once decoded
    assert DEFAULT_MAX_PIXELS < 12000 * 12000
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    if with_pixels:
        with Image.open(path) as image:  # a well-formed PNG, not just a lying header
            assert image.size == (12000, 12000)
    for source, name in [(path, str(path)), (data, f"uploaded image ({len(data)} bytes)")]:
        with pytest.raises(ImageTooLargeError) as info:
            load_image(source)
        # refused from the header: the garbage pixel data of "header-only" would otherwise be a damaged-image error
        assert "megapixels" in str(info.value)
        assert name in str(info.value)
        assert info.value.code == "image_too_large"


def test_custom_pixel_limit_for_files(photo, tmp_path):
    path = _save(photo, tmp_path / "photo.png")
    with pytest.raises(ImageTooLargeError, match="megapixel") as info:
        load_image(path, ImageLimits(max_pixels=W * H - 1))
    assert str(path) in str(info.value)
    _check_rgb(load_image(path, ImageLimits(max_pixels=W * H)))


@pytest.mark.parametrize("channels", [None, 3, 4], ids=["gray", "rgb", "rgba"])
def test_custom_pixel_limit_for_arrays(photo, channels):
    rgba = np.asarray(photo.convert("RGBA"))
    array = rgba[:, :, 0] if channels is None else np.ascontiguousarray(rgba[:, :, :channels])
    with pytest.raises(ImageTooLargeError, match="megapixel") as info:
        load_image(array, ImageLimits(max_pixels=W * H - 1))
    assert describe(array) in str(info.value)
    _check_rgb(load_image(array, ImageLimits(max_pixels=W * H)))


def test_describe():
    assert describe("a/b.jpg") == "a/b.jpg"
    assert describe(Path("a") / "b.jpg") == str(Path("a") / "b.jpg")
    assert describe(np.zeros((2, 3, 3))) == "array (2, 3, 3)"
    assert describe(b"12345") == "uploaded image (5 bytes)"
    assert describe(bytearray(3)) == "uploaded image (3 bytes)"


# --- format policy and limit messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PCX", "SGI", "DDS", "EPS"])
def test_undocumented_formats_are_refused_before_a_decoder_runs(tmp_path, fmt):
    path = tmp_path / f"image.{fmt.lower()}"
    try:
        Image.new("RGB", (32, 32), (10, 20, 30)).save(path, format=fmt)
    except (OSError, KeyError, ValueError):
        pytest.skip(f"Pillow cannot write {fmt} here")
    with pytest.raises(ImageError, match=r"JPEG, PNG, WebP, BMP, PGM/PPM, GIF, TIFF"):
        load_image(path)


def test_the_byte_limit_is_stated_in_the_documented_megabytes(tmp_path):
    data = b"\xff\xd8" + bytes(DEFAULT_MAX_BYTES)
    with pytest.raises(ImageTooLargeError, match=r"above the 20 MB limit"):
        load_image(data)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError, match=r"file is 20\.0 MB, above the 20 MB limit"):
        load_image(path)
