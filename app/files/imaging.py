"""Image transforms (size, width/height, format, quality) and metadata-free re-encoding."""
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence

from ..errors import ValidationError
from .decoding import check_budget, decode_slot

SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
MAX_DIMENSION = 4096
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
QUALITY = {"high": 80, "low": 20, "lossless": 100, "clean": 95}  # "clean": re-encoded originals
PUBLIC_QUALITIES = ("high", "low", "lossless")


@dataclass(frozen=True)
class Transform:
    """A requested derivative; width/height None keep the other side's aspect ratio."""

    width: int | None
    height: int | None
    ext: str | None  # None: the source's own format
    quality: str


def parse_transform(args) -> Transform | None:
    """Transform parameters from a query string; None when none are given (serve the file)."""
    names = ("size", "width", "height", "format", "quality")
    if not any(args.get(name) for name in names):
        return None
    errors = []

    def integer(name, low, high):
        value = args.get(name)
        if not value:
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            errors.append({"path": name, "message": f"must be an integer from {low} to {high}"})
            return None
        return int(value)

    width, height = integer("width", 1, MAX_DIMENSION), integer("height", 1, MAX_DIMENSION)
    size = args.get("size")
    if size:
        if not size.isdigit() or int(size) not in SIZES:
            errors.append({"path": "size", "message": "must be one of " + ", ".join(map(str, SIZES))})
        elif width or height:
            errors.append({"path": "size", "message": "use size or width/height, not both"})
        else:
            width = int(size)
    fmt = (args.get("format") or "").lower() or None
    if fmt is not None and fmt not in FORMATS:
        errors.append({"path": "format", "message": "must be one of png, jpg, jpeg, webp, gif"})
    quality = (args.get("quality") or "high").lower()
    if quality not in PUBLIC_QUALITIES:
        errors.append({"path": "quality", "message": "must be one of high, low, lossless"})
    if errors:
        raise ValidationError(errors)
    return Transform(width, height, EXT[FORMATS[fmt]] if fmt else None, quality)


def target_size(src_w: int, src_h: int, transform: Transform) -> tuple[int, int]:
    """Fit inside the requested box keeping the aspect ratio; never enlarge."""
    scale = 1.0
    if transform.width:
        scale = min(scale, transform.width / src_w)
    if transform.height:
        scale = min(scale, transform.height / src_h)
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def _frames(img: Image.Image, animate: bool):
    if not animate:
        return [ImageOps.exif_transpose(img)]
    return [frame.copy() for frame in ImageSequence.Iterator(img)]


def _encode(frames: list[Image.Image], fmt: str, quality: str, durations: list[int], icc=None) -> bytes:
    """Encode frames without any EXIF, XMP or comments (only the colour profile survives)."""
    out = io.BytesIO()
    q = QUALITY[quality]
    first = frames[0]
    extra = {"icc_profile": icc} if icc and fmt in {"PNG", "JPEG", "WEBP"} else {}
    if fmt == "JPEG":
        frames = [_flatten(f) for f in frames[:1]]
        frames[0].save(out, "JPEG", quality=q, optimize=False, **extra)
    elif fmt == "PNG":
        first.save(out, "PNG", compress_level=6 if quality != "low" else 9, **extra)
    elif fmt == "WEBP":
        options = {"lossless": True} if quality == "lossless" else {"quality": q}
        if len(frames) > 1:
            options.update(save_all=True, append_images=frames[1:], duration=durations, loop=0)
        first.save(out, "WEBP", method=4, **options, **extra)
    else:  # GIF
        frames = [f.convert("RGBA").convert("P", palette=Image.ADAPTIVE) if f.mode not in ("P", "L") else f
                  for f in frames]
        options = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": 0} \
            if len(frames) > 1 else {}
        frames[0].save(out, "GIF", **options)
    return out.getvalue()


def _flatten(img: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite onto white instead of letting transparency turn black."""
    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img


def render(path: str, size: tuple[int, int] | None, ext: str, quality: str) -> bytes:
    """Upright, resized (size None: as is) and re-encoded; animations stay animated as GIF/WebP."""
    fmt = FORMATS[ext]
    with Image.open(path) as img, decode_slot(block=True):
        check_budget(*img.size, getattr(img, "n_frames", 1))  # a file stored under an older budget
        icc = img.info.get("icc_profile")
        animate = getattr(img, "n_frames", 1) > 1 and fmt in {"GIF", "WEBP"}
        if size and img.format == "JPEG" and not animate:
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far less work for thumbnails.
            img.draft("RGB", (size[0] * 2, size[1] * 2) if not _sideways(img) else (size[1] * 2, size[0] * 2))
        durations = []
        frames = []
        for frame in _frames(img, animate):
            durations.append(frame.info.get("duration", img.info.get("duration", 100)))
            if frame.mode not in ("RGB", "RGBA", "L", "LA"):
                frame = frame.convert("RGBA")
            if size and frame.size != size:
                frame = frame.resize(size, Image.LANCZOS, reducing_gap=3.0)
            frame.info = {}  # encoders copy comments and the like from here: keep none
            frames.append(frame)
    return _encode(frames, fmt, quality, durations, icc)


def _sideways(img: Image.Image) -> bool:
    return img.getexif().get(0x0112, 1) in (5, 6, 7, 8)


def clean(path: str, ext: str) -> bytes:
    """The upload itself, turned upright and re-encoded without its metadata."""
    return render(path, None, ext, "lossless" if ext in ("png", "gif") else "clean")
