"""Where a `next` parameter may send people: only to a path on this site."""

from urllib.parse import urlsplit


def path_of(url: str) -> str:
    """The path and query of a URL, dropping scheme and host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site; anything else (other hosts, schemes, tricks) is refused.

    Refused: "//host" and "/\\host" (browsers read both as another host), any scheme, control
    characters and backslashes anywhere, and anything not starting with a single "/".
    """
    if not target:
        return None
    if any(ch in target for ch in "\\") or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
