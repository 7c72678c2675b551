"""Outside text made safe to echo: truncation and bounded, strict JSON."""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rotator.text import REDACTED, JsonLimitError, load_json, scrub, secret_forms, shown, truncate


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


def test_scrub_redacts_a_base64_echo_past_its_first_plus() -> None:
    """A base64 secret echoed as is, with a '+' after its first 24 characters, is redacted
    whole: the .NET-escaped form's head matching it does not stop the redaction at the '+'."""
    secret = "MIIKYQIBAzCCChcGCSqGSIb3DQEH" + "+fq6/4KN0qxYehQNUgmLCSWCnex5uAjU45Xv" * 3 + "=="
    message = f'Invalid body: {{"pkcs12Value":"{secret}","password":"x"}}'
    assert scrub(message, [secret]) == 'Invalid body: {"pkcs12Value":"[redacted]","password":"x"}'


def test_scrub_redacts_a_dotnet_escaped_echo_quoted_inside_a_json_string() -> None:
    """Graph's \\u002b escapes, quoted again inside a JSON string (\\\\u002b), are decoded and the
    secret behind them redacted."""
    secret = "abcdefghijklmnopqrstuvwxyz+0123456789/ABC<>&'=="
    dotnet = _dotnet(secret, "{:04x}")
    echo = json.dumps(json.dumps(f'{{"v":"{dotnet}"}}'))
    assert "\\\\u002b" in echo
    scrubbed = scrub(echo, [secret])
    assert REDACTED in scrubbed
    assert "0123456789" not in scrubbed


def test_scrub_redacts_the_whole_run_of_the_alphabet_after_a_matching_head() -> None:
    """An echo that follows the secret's head and then differs (an unknown escape) is redacted up
    to the end of the run of the secret's characters, not only as far as it matches."""
    secret = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" + "0123456789" * 3
    echo = secret[:30] + "9876543210" + " end"
    assert scrub(echo, [secret]) == "[redacted] end"


def test_scrub_leaves_a_run_shorter_than_the_head_and_other_text_alone() -> None:
    """An echo cut before 24 characters of a long secret, and text holding no secret, stay."""
    secret = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" + "0123456789" * 3
    assert scrub(f"got {secret[:23]}.", [secret]) == f"got {secret[:23]}."
    assert scrub('{"a": "b\\u002bc"}', [secret]) == '{"a": "b\\u002bc"}'


def _dotnet(text: str, digits: str) -> str:
    """``text`` escaped as System.Text.Json's default encoder does (\\u002b for + < > & ' `)."""
    out = []
    for char in text:
        if char in _JSON_SHORT:
            out.append(_JSON_SHORT[char])
        elif char in "\"&<>'+`" or not char.isascii() or not char.isprintable():
            units = char.encode("utf-16-be")
            out.extend(
                "\\u" + digits.format(int.from_bytes(units[i : i + 2], "big"))
                for i in range(0, len(units), 2)
            )
        else:
            out.append(char)
    return "".join(out)


_JSON_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ENCODERS: dict[str, Callable[[str], str]] = {
    "plain": lambda text: text,
    "json": lambda text: json.dumps(text)[1:-1],
    "json-utf8": lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    "json-escaped-slash": lambda text: json.dumps(text)[1:-1].replace("/", "\\/"),
    "dotnet": lambda text: _dotnet(text, "{:04x}"),
    "dotnet-upper": lambda text: _dotnet(text, "{:04X}"),
}
_QUOTINGS: dict[str, Callable[[str], str]] = {
    "once": lambda text: text,
    "quoted in a JSON string": lambda text: json.dumps(text)[1:-1],
    "quoted twice": lambda text: json.dumps(json.dumps(text)[1:-1])[1:-1],
}
# What a cut in the middle of an escape leaves: its start (or the half of a surrogate pair).
_PARTIAL_ESCAPE = re.compile(r"(\\+u[dD][89abAB][0-9a-fA-F]{2})?\\*u?[0-9a-fA-F]{0,3}")
_BEFORE = '{"error": {"code": "BadRequest", "message": "Invalid body: «'
_AFTER = '»"}}'

_SECRETS = st.one_of(
    # a PKCS#12 as Graph receives it: base64 of random bytes, '+' and '/' anywhere
    st.binary(min_size=18, max_size=900).map(lambda data: base64.b64encode(data).decode()),
    # a PKCS#12 password (secrets.token_urlsafe(32))
    st.text(string.ascii_letters + string.digits + "-_", min_size=43, max_size=43),
    # a basic-auth password: anything a person or a generator may choose
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="«»"),
        min_size=6,
        max_size=60,
    ),
)


@settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), secret=_SECRETS)
def test_scrub_leaves_nothing_of_any_echo_of_a_random_secret(
    data: st.DataObject, secret: str
) -> None:
    """For random secrets and every echo shape (each form, escaped as JSON or .NET, quoted inside
    JSON strings, cut short anywhere past the head), all of the echo is redacted and nothing
    around it."""
    # a secret whose form the envelope itself holds (a password "BadReq") is rightly redacted there
    assume(not any(f[:24] in _BEFORE + _AFTER for f in secret_forms(secret)))
    form = data.draw(st.sampled_from(secret_forms(secret)), label="form")
    encoder = data.draw(st.sampled_from(sorted(_ENCODERS)), label="encoder")
    quoting = data.draw(st.sampled_from(sorted(_QUOTINGS)), label="quoting")

    def encode(text: str) -> str:
        return _QUOTINGS[quoting](_ENCODERS[encoder](text))

    head = min(len(form), 24)
    cut_form = data.draw(st.booleans(), label="cut the form (else its encoding)")
    if cut_form:
        echo = encode(form[: data.draw(st.integers(head, len(form)), label="length")])
    else:
        whole = encode(form)
        echo = whole[: data.draw(st.integers(len(encode(form[:head])), len(whole)))]
    others = ["another-secret-0123456789", secret]

    scrubbed = scrub(_BEFORE + echo + _AFTER, others)

    assert scrubbed.startswith(_BEFORE + REDACTED)
    assert scrubbed.endswith(_AFTER)
    leftover = scrubbed[len(_BEFORE + REDACTED) : len(scrubbed) - len(_AFTER)]
    if cut_form:
        assert leftover == ""
    else:
        assert _PARTIAL_ESCAPE.fullmatch(leftover), leftover
