"""Text from outside made safe to echo: values cut to a bounded length, JSON read with bounds.

Anything a caller, a configuration or a service sends may be huge or deeply nested. ``truncate``
bounds what is echoed into an error, a reason or a log line; ``load_json`` refuses documents that
are too large, too deep, carry a key twice or use ``NaN``/``Infinity``, before any of it is used.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

MAX_ECHO = 200
"""How many characters of an outside value an error text, reason or log line repeats."""
MAX_JSON_DEPTH = 32
"""How deeply the JSON rotator reads may nest (its own documents need fewer than 8 levels)."""
MAX_EPOCH_SECONDS = 253402300799
"""9999-12-31T23:59:59Z: the last Unix second a ``datetime`` can hold."""


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode's bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source").
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """``text`` as one terminal line shows it safely: control characters (C0, DEL, C1) and
    bidirectional overrides written out as escapes (``\\x1b``, ``\\n``, ``\\u202e``), so a stored
    reason can neither forge a line nor drive the operator's terminal."""
    if text.isprintable() and not _BIDI.intersection(text):
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in _NAMED:
            out.append(_NAMED[char])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif char in _BIDI:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


REDACTED = "[redacted]"
_PREFIX = 24  # a secret's first characters that mark an echo of it, even one cut short
_MIN_FORM = 6  # shorter forms are left alone: redacting them would mangle ordinary words
_MAX_UNESCAPE = 3  # JSON quoted inside JSON quoted inside JSON: deeper is not decoded
# one JSON string escape (Python's, System.Text.Json's \u002b, \/): a surrogate pair is one char
_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})"
    r'|\\(["\\/bfnrt])'
)
_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def secret_forms(secret: str) -> list[str]:
    """The texts a service could echo for ``secret``: as is, in base64 (standard and URL-safe,
    with and without padding) and percent-encoded; forms shorter than 6 characters are left
    alone (redacting them would mangle ordinary words). JSON and .NET escapes of any of these
    (``\\"``, ``\\u002b``, quoted once or twice) are found by ``scrub``, which decodes them."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        base64.b64encode(raw).decode("ascii"),
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        quote(secret, safe=""),
    }
    return sorted((f for f in forms if len(f) >= _MIN_FORM), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every echo of every secret replaced by ``[redacted]``.

    An echo is a form of a secret (``secret_forms``), as is or JSON-escaped (also with .NET's
    ``\\u002b`` for ``+ < > & '``, and quoted inside a quoted string), whole or cut short: a
    run that starts with the form's first 24 characters (all of a shorter form). The redaction
    covers the form as far as the text follows it, then the whole run of the form's characters
    after it, so that no part of the secret after a matching head survives.
    """
    forms = [form for secret in secrets for form in secret_forms(secret)]
    if not forms:
        return text
    spans: list[tuple[int, int]] = []
    for view, starts, ends in _views(text):
        for form in forms:
            for start, end in _echoes(view, form):
                spans.append((starts(start), ends(end - 1)))
    if not spans:
        return text
    out = []
    done = 0
    for start, end in _merged(spans):
        out.append(text[done:start] + REDACTED)
        done = end
    return "".join(out) + text[done:]


def _echoes(view: str, form: str) -> Iterator[tuple[int, int]]:
    """Where ``view`` holds ``form`` (or its first ``_PREFIX`` characters), and how far the
    form and then its alphabet go on from there."""
    head = form[:_PREFIX]
    alphabet = frozenset(form).difference(" \t\r\n")
    found = view.find(head)
    while found >= 0:
        end = found + len(head)
        while end < len(view) and end - found < len(form) and view[end] == form[end - found]:
            end += 1
        while end < len(view) and view[end] in alphabet:
            end += 1
        yield found, end
        found = view.find(head, end)


def _views(text: str) -> Iterator[tuple[str, Callable[[int], int], Callable[[int], int]]]:
    """``text`` as is, then with its JSON escapes decoded once, twice...: each with where a
    character starts and ends in ``text``."""
    yield text, _same, _next
    if "\\" not in text:
        return
    view, starts, ends = text, list(range(len(text))), list(range(1, len(text) + 1))
    for _ in range(_MAX_UNESCAPE):
        view, starts, ends = _unescaped(view, starts, ends)
        yield view, starts.__getitem__, ends.__getitem__
        if "\\" not in view:
            return


def _same(index: int) -> int:
    return index


def _next(index: int) -> int:
    return index + 1


def _unescaped(view: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
    """``view`` with each JSON escape decoded, and the span in the original text of each char."""
    chars: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    done = 0
    for match in _ESCAPE.finditer(view):
        chars.extend(view[done : match.start()])
        new_starts.extend(starts[done : match.start()])
        new_ends.extend(ends[done : match.start()])
        high, low, code, short = match.groups()
        if high:
            char = chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
        elif code:
            char = chr(int(code, 16))
        else:
            char = _SHORT_ESCAPES.get(short, short)
        chars.append(char)
        new_starts.append(starts[match.start()])
        new_ends.append(ends[match.end() - 1])
        done = match.end()
    chars.extend(view[done:])
    new_starts.extend(starts[done:])
    new_ends.extend(ends[done:])
    return "".join(chars), new_starts, new_ends


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class JsonLimitError(ValueError):
    """A JSON text that is not valid, or not within the bounds; the message says which."""


def compact_json(document: Any) -> str:
    """``document`` as JSON without spaces (a mapping of any kind as an object)."""
    return json.dumps(
        dict(document) if isinstance(document, Mapping) else document, separators=(",", ":")
    )


def truncate(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: ``abc… (5000000 characters)``."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, for errors: ``a string``, ``an object``..."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def shown(value: Any, *, secret: bool = False) -> str:
    """A field received from a service as an error repeats it: ``'garbage' (a string)``, only
    the type when it may be ``secret``, ``missing`` for None."""
    if value is None:
        return "missing"
    return json_type(value) if secret else f"{truncate(repr(value))} ({json_type(value)})"


def load_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``data`` as strict JSON: at most ``max_bytes`` long and ``max_depth`` levels deep,
    every object key once, no ``NaN`` or ``Infinity``.

    Raises:
        JsonLimitError: the text is too large, not UTF-8, not JSON, too deep, or has a duplicate
            key; the message is short and repeats at most ``MAX_ECHO`` characters of the input.
    """
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        raise JsonLimitError(f"larger than {max_bytes} bytes ({size} bytes)")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise JsonLimitError("not UTF-8 text") from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise JsonLimitError(f"nested deeper than {max_depth} levels") from None
    except JsonLimitError:
        raise
    except json.JSONDecodeError as exc:
        # "Unterminated string starting at" already ends with its "at"
        where = f"line {exc.lineno} column {exc.colno}"
        said = exc.msg.removesuffix(" at")
        raise JsonLimitError(f"not valid JSON: {said} at {where}") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise JsonLimitError(truncate(str(exc))) from None
    if _depth(document) > max_depth:
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise JsonLimitError(f"duplicate key {truncate(key)!r}")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number")


def _depth(document: Any) -> int:
    """How many arrays and objects deep ``document`` nests (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


# Names of outside objects, checked before they reach a URL, a file name or a message.
_CONNECTOR_ID = re.compile(r"[A-Za-z0-9._-]{1,256}")
# Key Vault's rule for object names: 1-127 characters, only 0-9, a-z, A-Z and "-"
# (learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates, "object-name").
_KEY_VAULT_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
# "a system-generated, 32 character string identifier" (same page, "object-version").
_KEY_VAULT_VERSION = re.compile(r"[0-9A-Za-z]{32}")
# A B2C policy key set's id: "B2C_1A_" and letters, digits, "_" and "-" (the portal adds the prefix).
_KEY_SET_ID = re.compile(r"B2C_1A_[A-Za-z0-9_-]{1,120}")


def is_connector_id(value: object) -> bool:
    """A connector id: 1-256 letters, digits, ``-``, ``_`` and ``.``, and not ``.`` or ``..``."""
    return (
        isinstance(value, str)
        and _CONNECTOR_ID.fullmatch(value) is not None
        and value not in (".", "..")
    )


def is_key_set_id(value: object) -> bool:
    """A policy key set id: ``B2C_1A_`` and 1-120 letters, digits, ``_`` and ``-``."""
    return isinstance(value, str) and _KEY_SET_ID.fullmatch(value) is not None


def is_key_vault_name(value: object) -> bool:
    """A Key Vault object name: 1-127 letters, digits and ``-``."""
    return isinstance(value, str) and _KEY_VAULT_NAME.fullmatch(value) is not None


def is_key_vault_version(value: object) -> bool:
    """A Key Vault version id: 32 letters and digits."""
    return isinstance(value, str) and _KEY_VAULT_VERSION.fullmatch(value) is not None
