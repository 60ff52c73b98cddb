"""An OpenSSH known_hosts file, read the way irtui trusts host keys (sshd(8), "SSH_KNOWN_HOSTS
FILE FORMAT").

paramiko's own loader raises ``InvalidHostKey`` on marker lines (``@cert-authority``,
``@revoked``), which crashed irtui, and would not know a revoked key anyway. Here:

- plain lines give the keys a host may present (host patterns with ``*``, ``?`` and ``!``
  negation, hashed names ``|1|salt|hash``, ``[host]:port`` for other ports);
- ``@revoked`` lines name keys that are never accepted, for any host (stricter than OpenSSH,
  which matches the line's host pattern: a revoked key is a compromised key);
- ``@cert-authority`` lines are kept only to explain a refusal: paramiko does not verify host
  certificates, so a host trusted only through a CA is refused as unknown, with that reason;
- a line that cannot be read (bad base64, unknown key type) is skipped and its number kept
  for the message, as OpenSSH skips it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from irtui.core.errors import HostKeyError, SSHError
from irtui.core.settings import HostConfig
from irtui.core.textfile import special_kind

MAX_KNOWN_HOSTS_BYTES = 64 << 20
"""Largest known_hosts file read (64 MiB, some hundred thousand keys)."""


@dataclass(frozen=True)
class _Line:
    number: int
    patterns: tuple[str, ...]
    key: paramiko.PKey | None = None


@dataclass
class KnownHosts:
    """The parsed file.

    Attributes:
        path: where it was read from.
        plain: one entry per plain line with a usable key.
        revoked: SHA-256 digests of the key blobs of ``@revoked`` lines.
        authorities: the ``@cert-authority`` lines (host patterns only).
        skipped: line numbers that could not be read.
    """

    path: Path
    plain: list[_Line] = field(default_factory=list)
    revoked: set[bytes] = field(default_factory=set)
    authorities: list[_Line] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def keys_for(self, name: str) -> list[paramiko.PKey]:
        """The keys ``name`` may present (``host`` or ``[host]:port``), revoked ones left
        out, in file order."""
        return [line.key for line in self.plain
                if line.key is not None and host_matches(name, line.patterns)
                and not self.is_revoked(line.key)]

    def is_revoked(self, key: paramiko.PKey) -> bool:
        """True when ``key`` is listed on an ``@revoked`` line."""
        return hashlib.sha256(key.asbytes()).digest() in self.revoked

    def authority_for(self, name: str) -> str | None:
        """The host patterns of the first ``@cert-authority`` line that covers ``name``."""
        for line in self.authorities:
            if host_matches(name, line.patterns):
                return ",".join(line.patterns)
        return None

    def skipped_note(self) -> str:
        """`` (lines 3, 9 of FILE could not be read and were skipped)``, or ``""``."""
        if not self.skipped:
            return ""
        shown = ", ".join(str(n) for n in self.skipped[:5])
        more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        plural = "s" if len(self.skipped) > 1 else ""
        return f" (line{plural} {shown}{more} of {self.path} could not be read and were skipped)"


def host_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """True when ``name`` matches the comma-separated host patterns of a known_hosts line:
    any positive pattern matches and no negated (``!``) one does; ``*`` and ``?`` are
    wildcards; matching ignores case; a hashed entry ``|1|salt|hash`` matches when
    HMAC-SHA1(salt, name) equals hash (sshd(8))."""
    lowered = name.lower()
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if body.startswith("|1|"):
            hit = _hashed_matches(name, body)
        elif "*" in body or "?" in body:
            hit = _glob(body.lower()).fullmatch(lowered) is not None
        else:  # a literal name: most lines, and a lookup runs over every line
            hit = body.lower() == lowered
        if hit and negated:
            return False
        matched = matched or hit
    return matched


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH's host pattern (match.c): only ``*`` and ``?`` are special (``[`` is literal,
    as in ``[host]:2222``)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


def _hashed_matches(name: str, entry: str) -> bool:
    try:
        _, _, salt, digest = entry.split("|")
        want = base64.b64decode(digest, validate=True)
        mac = hmac.new(base64.b64decode(salt, validate=True), name.encode(), hashlib.sha1)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(mac.digest(), want)


def _key(fields: list[str]) -> paramiko.PKey | None:
    if len(fields) < 2:
        return None
    try:
        blob = base64.b64decode(fields[1], validate=True)
        return paramiko.PKey.from_type_string(fields[0], blob)
    except Exception:  # UnknownKeyType, SSHException, struct/cryptography errors: any bad
        return None    # blob only spoils its own line, as in OpenSSH


def parse_known_hosts(text: str, path: Path) -> KnownHosts:
    """Parse known_hosts ``text`` (see the module docstring for what each line gives)."""
    known = KnownHosts(path)
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if not fields:
            known.skipped.append(number)
            continue
        patterns = tuple(fields[0].split(","))
        key = _key(fields[1:])
        if marker == "@cert-authority":
            known.authorities.append(_Line(number, patterns))
        elif key is None or marker not in ("", "@revoked"):
            known.skipped.append(number)
        elif marker == "@revoked":
            known.revoked.add(hashlib.sha256(key.asbytes()).digest())
        else:
            known.plain.append(_Line(number, patterns, key))
    return known


def load_known_hosts(path: Path) -> KnownHosts:
    """Read and parse the known_hosts file at ``path`` (bytes that are not UTF-8 only spoil
    the line they are on).

    Raises:
        SSHError: the file is missing, unreadable, or larger than
            :data:`MAX_KNOWN_HOSTS_BYTES`.
    """
    fix = "set ssh.known_hosts to a file holding your hosts' verified keys"
    kind = special_kind(path)
    if kind is not None:  # open(2) of a FIFO with no writer would block (fifo(7))
        raise SSHError(f"known_hosts {path} is {kind}, not a file", fix)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_KNOWN_HOSTS_BYTES + 1)
    except FileNotFoundError:
        raise SSHError(f"known_hosts file {path} not found", fix) from None
    except OSError as exc:
        raise SSHError(f"cannot read known_hosts {path} ({exc.strerror or exc})",
                       fix) from None
    if len(data) > MAX_KNOWN_HOSTS_BYTES:
        raise SSHError(f"known_hosts {path} is larger than 64 MiB", fix)
    return parse_known_hosts(data.decode("utf-8", "replace"), path)


def fingerprint(key: paramiko.PKey) -> str:
    """Return the OpenSSH-style ``SHA256:<base64>`` fingerprint of a public key
    (as ``ssh-keygen -lf`` prints it: unpadded base64 of the SHA-256 of the key blob)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def revoked_error(host: HostConfig, hostname: str, key: paramiko.PKey,
                  path: Path) -> HostKeyError:
    """The refusal of a key listed on an ``@revoked`` line."""
    return HostKeyError(
        f"host key for {host.name} ({hostname}) is REVOKED in {path}: offered "
        f"{key.get_name()} {fingerprint(key)}; nothing was run",
        "treat the host as compromised; once it has a new key, verify it out of band and "
        "add it to known_hosts")


class RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuse any host key not in known_hosts (or revoked there), naming the offered
    fingerprint."""

    def __init__(self, host: HostConfig, known: KnownHosts) -> None:
        self.host = host
        self.known = known
        self.known_hosts = known.path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        if self.known.is_revoked(key):
            raise revoked_error(self.host, hostname, key, self.known_hosts)
        known = client.get_host_keys().get(hostname) or {}
        if known:
            expected = ", ".join(f"{t} {fingerprint(k)}" for t, k in known.items())
            raise HostKeyError(
                f"host key for {self.host.name} ({hostname}) CHANGED: offered "
                f"{key.get_name()} {fingerprint(key)}, known_hosts has {expected}; nothing was run",
                f"verify the new key out of band, then update {self.known_hosts}",
            )
        authority = self.known.authority_for(hostname)
        why = (f"; known_hosts trusts {authority} only through @cert-authority (host "
               "certificates), which irtui does not verify" if authority else "")
        raise HostKeyError(
            f"unknown host key for {self.host.name} ({hostname}): offered {key.get_name()} "
            f"{fingerprint(key)}, not in {self.known_hosts}{why}; nothing was run"
            + self.known.skipped_note(),
            "verify the fingerprint out of band, then add the key to known_hosts "
            "(e.g. ssh-keyscan, checked with ssh-keygen -lf)",
        )
