"""What Azure AD B2C does with an uploaded PKCS#12: walk its DER, refuse PBES2, load, validate.

B2C accepts only the legacy ``pbeWithSHAAnd3-KeyTripleDES-CBC`` files and answers a PBES2/AES
file with the misleading ``AADB2C90213`` "password incorrect". The walk below reads the
encryption algorithm identifiers of the PFX without decrypting anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

Encryption = Literal["3des", "pbes2", "none", "legacy"]

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
OID_SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
OID_PBE_SHA1_2DES = "1.2.840.113549.1.12.1.4"
OID_SHA1 = "1.3.14.3.2.26"

PASSWORD_INCORRECT = "AADB2C90213"  # noqa: S105 (an error code)
BADLY_FORMATTED = "AADB2C90215"
NO_VALID_CERTIFICATE = "AADB2C90220"


class PfxRejected(Exception):
    """B2C would refuse this upload; ``code`` is the AADB2C error code, the message is B2C's."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the B2C code next to the message."""
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AcceptedPfx:
    """The public part of an accepted upload: the leaf, its chain and how the file was encrypted."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    encryption: Encryption


class _DerError(ValueError):
    pass


@dataclass(frozen=True)
class _Node:
    tag_class: int
    constructed: bool
    number: int
    content: bytes
    children: tuple[_Node, ...]

    def is_universal(self, number: int) -> bool:
        return self.tag_class == 0 and self.number == number

    def octets(self) -> bytes:
        if not self.constructed:
            return self.content
        return b"".join(child.octets() for child in self.children)


def _parse(data: bytes, pos: int = 0, depth: int = 0) -> tuple[_Node, int]:
    """Parse one BER/DER TLV starting at ``pos``; returns the node and the position after it."""
    if depth > 40:
        raise _DerError("nesting too deep")
    if pos + 2 > len(data):
        raise _DerError("truncated")
    first = data[pos]
    pos += 1
    tag_class = first >> 6
    constructed = bool(first & 0x20)
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        while True:
            if pos >= len(data):
                raise _DerError("truncated tag")
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
    if pos >= len(data):
        raise _DerError("truncated length")
    length_byte = data[pos]
    pos += 1
    if length_byte == 0x80:
        if not constructed:
            raise _DerError("indefinite length on a primitive")
        children: list[_Node] = []
        while True:
            if data[pos : pos + 2] == b"\x00\x00":
                return _Node(tag_class, True, number, b"", tuple(children)), pos + 2
            child, pos = _parse(data, pos, depth + 1)
            children.append(child)
    if length_byte & 0x80:
        count = length_byte & 0x7F
        if count > 4 or pos + count > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = length_byte
    end = pos + length
    if end > len(data):
        raise _DerError("truncated content")
    content = data[pos:end]
    if not constructed:
        return _Node(tag_class, False, number, content, ()), end
    kids: list[_Node] = []
    inner = pos
    while inner < end:
        child, inner = _parse(data, inner, depth + 1)
        kids.append(child)
    if inner != end:
        raise _DerError("children overrun")
    return _Node(tag_class, True, number, content, tuple(kids)), end


def _parse_all(data: bytes) -> _Node:
    node, end = _parse(data)
    if end != len(data):
        raise _DerError("trailing bytes")
    return node


def _oid(node: _Node) -> str:
    if not node.is_universal(6) or not node.content:
        raise _DerError("expected an OBJECT IDENTIFIER")
    values: list[int] = []
    current = 0
    for byte in node.content:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(current)
            current = 0
    first = min(values[0] // 40, 2)
    return ".".join(str(v) for v in (first, values[0] - 40 * first, *values[1:]))


def _sequence(node: _Node, minimum: int = 0) -> tuple[_Node, ...]:
    if not node.is_universal(16) or not node.constructed or len(node.children) < minimum:
        raise _DerError("expected a SEQUENCE")
    return node.children


def _explicit0(node: _Node) -> _Node:
    if node.tag_class != 2 or node.number != 0 or len(node.children) != 1:
        raise _DerError("expected [0] EXPLICIT")
    return node.children[0]


def _bag_algorithms(safe_contents: _Node) -> Iterator[str]:
    for bag in _sequence(safe_contents):
        fields = _sequence(bag, 2)
        bag_id = _oid(fields[0])
        value = _explicit0(fields[1])
        if bag_id == OID_SHROUDED_KEY_BAG:
            algorithm = _sequence(_sequence(value, 2)[0], 1)
            yield _oid(algorithm[0])
        elif bag_id == OID_KEY_BAG:
            yield "none"
        elif bag_id == OID_SAFE_CONTENTS_BAG:
            yield from _bag_algorithms(value)


def _walk(data: bytes) -> list[str]:
    pfx = _sequence(_parse_all(data), 2)
    if not pfx[0].is_universal(2) or int.from_bytes(pfx[0].content, "big") != 3:
        raise _DerError("PFX version is not 3")
    auth_safe = _sequence(pfx[1], 2)
    content_type = _oid(auth_safe[0])
    if content_type == OID_SIGNED_DATA:
        raise _DerError("public-key integrity mode is not supported")
    if content_type != OID_DATA:
        raise _DerError("authSafe is not data")
    infos = _parse_all(_explicit0(auth_safe[1]).octets())
    found: list[str] = []
    for info in _sequence(infos):
        fields = _sequence(info, 1)
        kind = _oid(fields[0])
        if kind == OID_DATA:
            found.extend(_bag_algorithms(_parse_all(_explicit0(fields[1]).octets())))
        elif kind == OID_ENCRYPTED_DATA:
            encrypted = _sequence(_explicit0(fields[1]), 2)
            content_info = _sequence(encrypted[1], 2)
            found.append(_oid(_sequence(content_info[1], 1)[0]))
        else:
            found.append(kind)
    return found


def mac_algorithm(data: bytes) -> str | None:
    """The digest OID of the PFX's integrity MAC (``macData``), or None without one.

    Raises:
        ValueError: ``data`` is not a PKCS#12 (PFX) structure this walker understands.
    """
    try:
        pfx = _sequence(_parse_all(data), 2)
        if len(pfx) < 3:
            return None
        digest_info = _sequence(_sequence(pfx[2], 1)[0], 2)
        return _oid(_sequence(digest_info[0], 1)[0])
    except (_DerError, IndexError) as exc:
        raise ValueError(f"not a PKCS#12 file ({exc})") from exc


def encryption_algorithms(data: bytes) -> list[str]:
    """Every encryption algorithm OID in the PFX (``"none"`` for a plain key bag).

    Raises:
        ValueError: ``data`` is not a PKCS#12 (PFX) structure this walker understands.
    """
    try:
        return _walk(data)
    except (_DerError, IndexError) as exc:
        raise ValueError(f"not a PKCS#12 file ({exc})") from exc


def classify(algorithms: list[str]) -> Encryption:
    """Name the protection of a PFX from its algorithm OIDs."""
    real = [alg for alg in algorithms if alg != "none"]
    if OID_PBES2 in real:
        return "pbes2"
    if not real:
        return "none"
    if all(alg in (OID_PBE_SHA1_3DES, OID_PBE_SHA1_2DES) for alg in real):
        return "3des"
    return "legacy"


def _load(
    data: bytes, password: str
) -> tuple[object | None, x509.Certificate | None, list[x509.Certificate]]:
    candidates: list[bytes | None] = [password.encode("utf-8")]
    if password == "":
        candidates.append(None)
    last: Exception | None = None
    for candidate in candidates:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, candidate)
        except (ValueError, TypeError) as exc:
            last = exc
            continue
        return key, cert, list(extra)
    raise PfxRejected(
        PASSWORD_INCORRECT, "The certificate password provided in request is incorrect."
    ) from last


def accept(data: bytes, password: str, *, now: dt.datetime) -> AcceptedPfx:
    """Accept a PFX the way B2C does, or raise :class:`PfxRejected` with B2C's code and message.

    Raises:
        PfxRejected: not PKCS#12 or no private key (AADB2C90215), PBES2 encryption or a wrong
            password (AADB2C90213), an expired certificate (AADB2C90220).
    """
    try:
        algorithms = encryption_algorithms(data)
    except ValueError as exc:
        raise PfxRejected(
            BADLY_FORMATTED,
            "The uploaded key is badly formatted. Reason: the value is not a PKCS#12 file.",
        ) from exc
    encryption = classify(algorithms)
    # B2C reads only the Windows "TripleDES-SHA1" export (spec 2.5): PBES2/AES, or an encrypted
    # file whose MAC is not SHA-1, is answered as a wrong password. (What B2C does with a file
    # without any encryption is not known; it is judged on its key and certificate below.)
    sha1_mac = mac_algorithm(data) in (None, OID_SHA1)
    if encryption == "pbes2" or (encryption != "none" and not sha1_mac):
        raise PfxRejected(
            PASSWORD_INCORRECT, "The certificate password provided in request is incorrect."
        )
    key, leaf, extra = _load(data, password)
    if key is None:
        raise PfxRejected(
            BADLY_FORMATTED,
            "The uploaded key is badly formatted. Reason: the file does not contain a private key.",
        )
    if leaf is None:
        raise PfxRejected(
            BADLY_FORMATTED,
            "The uploaded key is badly formatted. Reason: the file does not contain a certificate.",
        )
    public = getattr(key, "public_key", None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if public is None or public().public_bytes(
        serialization.Encoding.DER, spki
    ) != leaf.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise PfxRejected(
            BADLY_FORMATTED,
            "The uploaded key is badly formatted. Reason: the private key does not match the "
            "certificate.",
        )
    if leaf.not_valid_after_utc <= now:
        expired = leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        raise PfxRejected(
            NO_VALID_CERTIFICATE,
            f"The key container does not have a valid certificate: it expired on {expired}.",
        )
    return AcceptedPfx(leaf=leaf, chain=tuple(extra), encryption=encryption)
