"""Decoding of incoming messages with size limits, and KVN line splitting shared by the readers."""

from __future__ import annotations

from processes.ssa.errors import MessageError, MessageTooLargeError

DEFAULT_MAX_BYTES = 128 * 1024 * 1024
MAX_LINE_CHARS = 4096


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a message of ``size`` bytes above ``max_bytes`` (callers check a file's size before reading it)."""
    if size > max_bytes:
        raise MessageTooLargeError(0, "", f"message has {size} bytes, more than the limit of {max_bytes}")


def decode_message(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Return the message as text, refusing more than ``max_bytes`` and invalid UTF-8."""
    check_size(len(data.encode("utf-8")) if isinstance(data, str) else len(data), max_bytes)
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MessageError(line, "", f"invalid UTF-8 at byte {exc.start}") from None


def is_xml(text: str) -> bool:
    """True when the first non-blank character opens an XML document."""
    return text.lstrip()[:1] == "<"


def split_lines(text: str) -> list[str]:
    """Split on LF only (CR is stripped with the other blanks) so line numbers match editors."""
    return text.split("\n")


def split_keyword(line: str, lineno: int) -> tuple[str, str]:
    """Split a stripped KVN line ``KEY = value`` into keyword and value (units kept: see strip_units)."""
    if len(line) > MAX_LINE_CHARS:
        raise MessageTooLargeError(lineno, "", f"line longer than {MAX_LINE_CHARS} characters")
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        raise MessageError(
            lineno, key.split(" ", 1)[0] if key else "", f"expected 'KEYWORD = value', got {line!r}"
        )
    if not key.replace("_", "").isalnum() or not key.isupper():
        raise MessageError(lineno, key, "keyword must be upper-case letters, digits and underscores")
    return key, value.strip()


def strip_units(text: str) -> str:
    """Drop a trailing ``[units]`` from a numeric KVN value."""
    text = text.strip()
    if text.endswith("]") and "[" in text:
        return text[: text.rindex("[")].rstrip()
    return text


def comment_text(line: str) -> str:
    """Text of a stripped ``COMMENT`` line: everything after the one blank that follows the keyword."""
    return line[8:] if len(line) > 8 else ""


def parse_float(text: str, lineno: int, keyword: str) -> float:
    """Parse a finite float, or raise a MessageError naming line and keyword."""
    try:
        value = float(strip_units(text))
    except ValueError:
        raise MessageError(lineno, keyword, f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise MessageError(lineno, keyword, f"{text!r} is not a finite number")
    return value


def parse_int(text: str, lineno: int, keyword: str) -> int:
    """Parse an integer (leading zeros and '+' allowed), or raise a MessageError."""
    stripped = strip_units(text)
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit():
        raise MessageError(lineno, keyword, f"{text!r} is not an integer")
    return int(stripped)
