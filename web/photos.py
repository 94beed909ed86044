"""Evidence photos are stored without their metadata. A phone's JPEG carries EXIF (the GPS position
where it was taken, the phone's make and serial, the time), PNGs text chunks: served back byte for byte,
an order's photo told everyone who could open it where the operator lives (issue #38 J).

Each JPEG or PNG is decoded and encoded again from its pixels alone, turned upright first by its EXIF
orientation (which goes with the rest of the EXIF, so a portrait photo stays a portrait). A PDF is
stored as it came. This costs about 0.1-0.3 s of CPU for a phone's 12-megapixel photo; callers run it in
a worker thread and hold no database connection meanwhile.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from storage.rectification import Evidence
from web.errors import Invalid

MAX_PIXELS = 50_000_000  # a 5 MB file cannot honestly be more (a 48-megapixel phone's largest): beyond, a bomb
JPEG_QUALITY = 90  # re-encoded once; what a phone itself writes


def without_metadata(ev: Evidence) -> Evidence:
    """The same photo, upright, with nothing but its pixels (and an ICC colour profile, which says how to
    show them and nothing about anyone); a PDF unchanged. Invalid when the image cannot be decoded."""
    if ev.content_type not in {"image/jpeg", "image/png"}:
        return ev
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(ev.data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Invalid(f"{ev.filename}: too many pixels", "err_file_type", name=ev.filename)
                img.load()
                upright = ImageOps.exif_transpose(img)  # a copy
                upright.info = {}  # a JPEG's comment, XMP, a PNG's text: Pillow writes back what it read
                out = io.BytesIO()
                icc = img.info.get("icc_profile")
                extra = {"icc_profile": icc} if icc else {}
                if ev.content_type == "image/jpeg":
                    rgb = upright if upright.mode in {"RGB", "L", "CMYK"} else upright.convert("RGB")
                    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, **extra)
                else:
                    upright.save(out, "PNG", optimize=False, **extra)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError):
        raise Invalid(f"{ev.filename}: not a readable image", "err_file_type", name=ev.filename) from None
    return Evidence(ev.filename, ev.content_type, out.getvalue())
