"""Signatures: the generic webhook's (ours) and DingTalk's (theirs).

Generic webhook: every request carries ``X-Gridpulse-Timestamp`` (Unix seconds, of this
attempt), ``X-Gridpulse-Signature: v1=<hex>``, the HMAC-SHA256 with the receiver's secret
of ``<timestamp>.<body>``, and ``Idempotency-Key`` (the same on every attempt of one
notification). A receiver recomputes the HMAC, compares in constant time, refuses a
timestamp more than five minutes away from its clock (a replayed request), and acts on
an idempotency key once (docs/notify.md shows the code).

DingTalk: ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of HMAC-SHA256, keyed by
the robot's secret, of ``"<timestamp>\\n<secret>"``, added to the robot's URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

TOLERANCE_S = 300


def webhook_headers(secret: bytes, body: bytes, key: str, now_s: int) -> dict[str, str]:
    """The headers of one attempt (no signature without a secret)."""
    h = {"Content-Type": "application/json", "Idempotency-Key": key,
         "User-Agent": "gridpulse-notify"}
    if secret:
        h["X-Gridpulse-Timestamp"] = str(now_s)
        h["X-Gridpulse-Signature"] = "v1=" + sign(secret, now_s, body)
    return h


def sign(secret: bytes, ts_s: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``<ts>.<body>``."""
    return hmac.new(secret, str(ts_s).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, headers: dict[str, str], body: bytes, now_s: int,
           tolerance_s: int = TOLERANCE_S) -> str | None:
    """What is wrong with a signed request (None: it is genuine and fresh)."""
    low = {k.lower(): v for k, v in headers.items()}
    ts, sig = low.get("x-gridpulse-timestamp", ""), low.get("x-gridpulse-signature", "")
    if not ts.isdigit() or not sig.startswith("v1="):
        return "missing or malformed signature headers"
    if abs(now_s - int(ts)) > tolerance_s:
        return "timestamp too old or too new (a replay?)"
    if not hmac.compare_digest(sig[3:], sign(secret, int(ts), body)):
        return "signature does not match the body"
    return None


def dingtalk_sign(secret: str, ts_ms: int) -> str:
    """DingTalk's ``sign`` parameter for ``timestamp`` ``ts_ms``."""
    mac = hmac.new(secret.encode(), f"{ts_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(mac).decode())


def dingtalk_url(url: str, secret: str, ts_ms: int) -> str:
    """The robot's URL with ``timestamp`` and ``sign`` (unchanged without a secret)."""
    if not secret:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={ts_ms}&sign={dingtalk_sign(secret, ts_ms)}"
