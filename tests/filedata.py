"""Files for upload tests: real images made with Pillow, and the bad files we must refuse."""
import io
import zlib
import struct

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_bytes(fmt: str = "PNG", size=(64, 48), color=(200, 30, 30), exif_orientation: int | None = None,
                gps: bool = False, **save) -> bytes:
    """A real image; optional EXIF orientation and a GPS tag to check that metadata is stripped."""
    img = Image.new("RGB", size, color)
    img.putpixel((0, 0), (0, 0, 255))  # a marker pixel to check orientation
    out = io.BytesIO()
    if exif_orientation or gps:
        exif = Image.Exif()
        if exif_orientation:
            exif[0x0112] = exif_orientation
        if gps:
            exif[0x010F] = "SecretCam"  # Make
            exif[0x8825] = {1: "N", 2: (52.0, 22.0, 12.0)}
        save["exif"] = exif.tobytes()
    img.save(out, fmt, **save)
    return out.getvalue()


def unique_png(seed: int, size=(32, 32)) -> bytes:
    return image_bytes("PNG", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))


def animated_gif(frames: int = 3, size=(40, 30)) -> bytes:
    images = [Image.new("RGB", size, (i * 80 % 256, 50, 100)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 30000) -> bytes:
    """A tiny PNG that claims side x side pixels of zeros: megabytes of pixels from a few KB."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", (400, 300), quality=90)
    return data[: len(data) // 2]


def upload(data: bytes, name: str, content_type: str = "application/octet-stream"):
    """A multipart file value for the Flask test client."""
    return (io.BytesIO(data), name, content_type)
