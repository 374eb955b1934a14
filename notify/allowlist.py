"""Which receiver URLs may be called: the configuration's allowlist, checked at load.

An entry is a URL: scheme, host (``*.example.com`` for its subdomains), optional port
(``*`` for any) and an optional path prefix. A receiver URL must match one. Loopback,
link-local, unspecified and cloud metadata hosts are never matched by a wildcard: only an
entry naming that very host lets one through. At send time (:func:`address_refusal`, used by
the notifier's resolver), a host *name* that resolves to such an address is refused
unless the allowlist names that address itself: a DNS answer, which whoever runs the name
controls, cannot turn an allowed name into a way to the metadata service or the
notifier's own machine.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORT = {"http": 80, "https": 443}
#: Metadata services of the clouds a city runs on (and names of the loopback).
_METADATA = {"169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254",
             "metadata.google.internal", "metadata", "metadata.tencentyun.com"}
_LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def restricted_host(host: str) -> str | None:
    """Why ``host`` (a name or an IP) may be called only when listed by name, or None."""
    h = host.lower().strip("[]")
    if h in _METADATA:
        return "a cloud metadata address"
    if h in _LOOPBACK_NAMES or h.endswith(".localhost"):
        return "a loopback address"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    return None


class RefusedAddress(OSError):
    """A receiver's host name resolved only to addresses the allowlist does not let through."""


def address_refusal(host: str, address: str, entries: list["Entry"]) -> str | None:
    """Why a connection to ``host`` at the resolved ``address`` is refused, or None.

    Ordinary addresses pass (the name was checked against the allowlist at load). A
    restricted one (loopback, link-local, unspecified, cloud metadata) passes only if an
    entry names that address, or if ``host`` is itself a loopback name an entry lists by
    name and the address is a loopback one.
    """
    why = restricted_host(address)
    if why is None:
        return None
    addr = address.lower().strip("[]")
    if any(e.host == addr for e in entries):
        return None
    name = host.lower().rstrip(".")
    if why == "a loopback address" and restricted_host(name) == why and any(e.host == name for e in entries):
        return None
    return f"{host} resolves to {address}, {why}: list that address in global.allowlist to allow it"


@dataclass(frozen=True)
class Entry:
    """One allowlist entry."""

    scheme: str
    host: str
    port: int | None  # None: any port
    path: str

    @classmethod
    def parse(cls, text: str) -> "Entry":
        """An entry from its URL text; ValueError saying what is wrong."""
        u = urlsplit(text)
        if u.scheme not in _DEFAULT_PORT or not u.hostname:
            raise ValueError(f"expected an http(s) URL like https://oapi.dingtalk.com/robot/, got {text!r}")
        if u.query or u.fragment or u.username:
            raise ValueError(f"an allowlist entry has no query, fragment or user: {text!r}")
        netloc_port = u.netloc.rsplit(":", 1)[-1] if ":" in u.netloc.split("]")[-1] else ""
        port = None if netloc_port == "*" else (u.port or _DEFAULT_PORT[u.scheme])
        return cls(u.scheme, u.hostname.lower(), port, u.path or "/")

    def allows(self, scheme: str, host: str, port: int, path: str) -> bool:
        """Whether this entry lets ``scheme://host:port/path`` through."""
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if not path.startswith(self.path):
            return False
        if self.host.startswith("*."):
            return restricted_host(host) is None and host.endswith(self.host[1:])
        return host == self.host


def check_url(url: str, entries: list[Entry]) -> None:
    """ValueError unless ``url`` is an http(s) URL some entry allows (the message never
    shows the URL's query, where robots keep their tokens)."""
    u = urlsplit(url)
    shown = redact(url)
    if u.scheme not in _DEFAULT_PORT or not u.hostname:
        raise ValueError(f"expected an http(s) URL, got {shown!r}")
    if u.username or u.password:
        raise ValueError(f"credentials in the URL are refused (use a secret): {shown!r}")
    try:
        port = u.port or _DEFAULT_PORT[u.scheme]
    except ValueError:
        raise ValueError(f"bad port in {shown!r}") from None
    host = u.hostname.lower()
    if any(e.allows(u.scheme, host, port, u.path or "/") for e in entries):
        return
    why = restricted_host(host)
    extra = f" ({host} is {why}: list it by name to allow it)" if why else ""
    raise ValueError(f"{shown} is not in global.allowlist{extra}")


def redact(url: str) -> str:
    """``url`` without its query, fragment and credentials: safe to log and show."""
    u = urlsplit(url)
    host = u.hostname or ""
    if u.port:
        host = f"{host}:{u.port}"
    return f"{u.scheme}://{host}{u.path}" + ("?..." if u.query else "")
