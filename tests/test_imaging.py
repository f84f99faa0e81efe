import io

import numpy as np
import pytest
from PIL import Image

from facerec.errors import ImageError
from facerec.imaging import load_image, to_rgb_array


def _save(path, img, fmt, **kw):
    img.save(path, format=fmt, **kw)
    return path


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif"), ("GIF", "gif"), ("PPM", "pgm")])
def test_formats(tmp_path, fmt, ext):
    img = Image.new("L" if ext == "pgm" else "RGB", (64, 48), 128)
    loaded = load_image(_save(tmp_path / f"x.{ext}", img, fmt))
    assert loaded.rgb.shape == (48, 64, 3) and loaded.rgb.dtype == np.uint8
    assert loaded.full_size == (64, 48)


def test_wrong_extension_is_read_by_content(tmp_path):
    p = _save(tmp_path / "really_a_png.jpg", Image.new("RGB", (10, 10), (255, 0, 0)), "PNG")
    assert tuple(load_image(p).rgb[0, 0]) == (255, 0, 0)


def test_modes_converted(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert tuple(to_rgb_array(rgba)[0, 0]) == (255, 255, 255)  # transparent -> white
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    assert tuple(to_rgb_array(cmyk)[0, 0]) == (255, 0, 0)
    g16 = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert to_rgb_array(g16)[0, 0, 0] == 255
    pal = Image.new("P", (4, 4), 3)
    assert to_rgb_array(pal).shape == (4, 4, 3)


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    loaded = load_image(p)
    assert loaded.rgb.shape[:2] == (40, 20) and loaded.full_size == (20, 40)
    assert loaded.rgb[2, 10].mean() > 200  # the stripe is now at the top


def test_large_jpeg_decoded_reduced(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(p, quality=80)
    loaded = load_image(p, max_side=1000)
    assert max(loaded.size) == 1000 and loaded.full_size == (4000, 3000)
    assert loaded.scale == pytest.approx(4.0)


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "empty file"), (b"hello, I am text", "not an image"), (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 50, "corrupt")],
)
def test_bad_files_give_reasons(tmp_path, content, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageError) as ei:
        load_image(p)
    assert reason in ei.value.reason and ei.value.path == str(p)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(p)


def test_pixel_limit(tmp_path):
    p = _save(tmp_path / "wide.png", Image.new("L", (3000, 1000)), "PNG")
    with pytest.raises(ImageError, match="MP limit"):
        load_image(p, max_pixels=1_000_000)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_pillow_settings_change_on_purpose_not_on_import(tmp_path):
    """Importing facerec leaves Pillow's process-wide pixel limit alone; loading an image sets facerec's own."""
    import subprocess
    import sys

    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(path)
    code = (
        "import sys; from PIL import Image; default = Image.MAX_IMAGE_PIXELS; import facerec.imaging as im, facerec.library.dates; "
        "print(Image.MAX_IMAGE_PIXELS == default); im.load_image(sys.argv[1]); print(Image.MAX_IMAGE_PIXELS)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "None"]


def test_load_image_reads_the_date_taken_while_decoding(tmp_path):
    """The EXIF date comes with the pixels (the tagger does not open the file a second time for it)."""
    from PIL import Image

    from facerec.library.dates import read_date_taken

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 10:21:05"  # DateTimeOriginal
    path = tmp_path / "dated.jpg"
    Image.new("RGB", (64, 48), (120, 80, 40)).save(path, exif=exif)
    assert load_image(path).taken_at == read_date_taken(path) == "2019-07-14 10:21:05"
    Image.new("RGB", (64, 48)).save(tmp_path / "plain.jpg")
    assert load_image(tmp_path / "plain.jpg").taken_at == ""
