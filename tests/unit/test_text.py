"""Outside text made safe to echo: truncation and bounded, strict JSON."""

from __future__ import annotations

import pytest

from rotator.text import JsonLimitError, load_json, shown, truncate


def test_short_text_is_kept_as_is() -> None:
    """Text within the limit comes back unchanged."""
    assert truncate("connector-1") == "connector-1"


def test_long_text_is_cut_and_says_how_long_it_was() -> None:
    """Text over the limit keeps its first 200 characters and states its length."""
    assert truncate("x" * 5_000_000) == "x" * 200 + "… (5000000 characters)"


def test_a_shown_secret_gives_only_its_type() -> None:
    """A value that may be secret is described by its JSON type, never repeated."""
    assert shown({"a": 1}, secret=True) == "an object"


def test_json_within_bounds_is_parsed() -> None:
    """An ordinary document parses as json.loads would."""
    assert load_json(b'{"a": [1, {"b": null}]}', max_bytes=100) == {"a": [1, {"b": None}]}


def test_json_nested_too_deeply_is_refused_without_recursion_error() -> None:
    """1000 levels of nesting is a short JsonLimitError, not a RecursionError."""
    with pytest.raises(JsonLimitError, match="nested deeper than 32 levels"):
        load_json("[" * 1000 + "]" * 1000, max_bytes=10_000)


def test_json_nested_past_the_limit_is_refused() -> None:
    """33 levels are refused although Python could parse them."""
    with pytest.raises(JsonLimitError, match="nested deeper than 32 levels"):
        load_json("[" * 33 + "]" * 33, max_bytes=10_000)


def test_json_larger_than_the_limit_is_refused_before_parsing() -> None:
    """A body over max_bytes is refused, saying both sizes."""
    with pytest.raises(JsonLimitError, match=r"larger than 10 bytes \(12 bytes\)"):
        load_json(b'"0123456789"', max_bytes=10)


def test_json_duplicate_key_is_refused() -> None:
    """A key given twice is an error, not last-one-wins."""
    with pytest.raises(JsonLimitError, match="duplicate key 'id'"):
        load_json('{"id": "a", "id": "b"}', max_bytes=100)


def test_json_nan_is_refused() -> None:
    """NaN and Infinity are not JSON numbers."""
    with pytest.raises(JsonLimitError, match="NaN is not a JSON number"):
        load_json('{"a": NaN}', max_bytes=100)


def test_json_that_is_not_utf8_is_refused() -> None:
    """Bytes that are not UTF-8 are a JsonLimitError, not a UnicodeDecodeError."""
    with pytest.raises(JsonLimitError, match="not UTF-8"):
        load_json(b'{"a": "\xff\xfe"}', max_bytes=100)


def test_json_error_repeats_at_most_200_characters_of_a_key() -> None:
    """A duplicate 5 MB key is named by its first 200 characters and its length."""
    key = "k" * 5_000_000
    with pytest.raises(JsonLimitError) as caught:
        load_json(f'{{"{key}": 1, "{key}": 2}}', max_bytes=20_000_000)
    assert len(str(caught.value)) < 300
    assert "(5000000 characters)" in str(caught.value)


def test_printable_writes_control_characters_out() -> None:
    """CR, LF, tab, ESC, DEL, C1 and bidi overrides become visible escapes; the rest stays."""
    from rotator.text import printable

    assert printable("ok é ü 東京") == "ok é ü 東京"
    assert printable("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert printable("\x1b[2J\x7f\x85\x00") == "\\x1b[2J\\x7f\\x85\\x00"
    assert printable("abc\u202edef\u2066") == "abc\\u202edef\\u2066"


def test_scrub_removes_every_form_of_a_secret() -> None:
    """A secret echoed as is, in base64, percent- or JSON-escaped, or cut short, is redacted."""
    import base64
    import json as _json
    from urllib.parse import quote

    from rotator.text import scrub

    secret = 'p@ss/w"rd+1234567890-abcdefghij'
    echoes = [
        secret,
        base64.b64encode(secret.encode()).decode(),
        quote(secret, safe=""),
        _json.dumps(secret)[1:-1],
        secret[:28],  # an echo truncated by the service
    ]
    for echo in echoes:
        text = scrub(f"error: got {echo} here", [secret])
        assert text == "error: got [redacted] here", echo
    assert scrub("nothing secret", [secret]) == "nothing secret"
    assert scrub("short", ["ab"]) == "short"
