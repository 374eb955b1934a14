"""One classifier of delivery outcomes, and the backoff between attempts.

A notification is done only after a 2xx (and, for the robots, ``errcode`` 0 in the
answer: they say "too fast" in a 200). Retried: timeouts, connection errors, 5xx, 429
(waiting at least its ``Retry-After``), and the robots' rate-limit codes. Refused for
good: any other status (a redirect included: they are not followed), the robots'
other error codes, and a host that resolves only to addresses the allowlist refuses. Delays are exponential with full jitter.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from .allowlist import RefusedAddress

OK, RETRY, FAIL = "ok", "retry", "fail"
#: Robot error codes that mean "slow down" (DingTalk 130101: sending too fast, muted 10
#: minutes; WeCom 45009: over the frequency limit).
ROBOT_RATE_CODES = {130101: 600.0, 45009: 60.0}


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``OK``, ``RETRY`` (after at least ``wait`` s) or ``FAIL``."""

    verdict: str
    reason: str
    wait: float = 0.0


def retry_after(value: str | None, now_s: float) -> float:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date; 0 if none)."""
    if not value:
        return 0.0
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        return max(0.0, parsedate_to_datetime(v).timestamp() - now_s)
    except (TypeError, ValueError, IndexError):
        return 0.0


def classify(status: int | None, error: BaseException | None = None, body: bytes = b"",
             kind: str = "webhook", retry_after_s: float = 0.0) -> Outcome:
    """The outcome of an attempt: an HTTP ``status`` (or None with the ``error`` raised)."""
    if status is None:
        refused = error if isinstance(error, RefusedAddress) else getattr(error, "os_error", None)
        if isinstance(refused, RefusedAddress):
            return Outcome(FAIL, f"refused: {refused}"[:300])
        return Outcome(RETRY, f"{type(error).__name__}: {error}"[:300] if error else "no answer")
    if 200 <= status < 300:
        if kind in ("dingtalk", "wecom"):
            try:
                code = int(json.loads(body or b"{}").get("errcode", 0))
            except (ValueError, AttributeError, TypeError):
                return Outcome(FAIL, f"HTTP {status} with an answer that is not the robot's JSON")
            if code in ROBOT_RATE_CODES:
                return Outcome(RETRY, f"robot errcode {code} (too fast)", ROBOT_RATE_CODES[code])
            if code != 0:
                return Outcome(FAIL, f"robot errcode {code}: {body[:200].decode(errors='replace')}")
        return Outcome(OK, f"HTTP {status}")
    text = body[:200].decode(errors="replace")
    if status == 429 or status >= 500:
        return Outcome(RETRY, f"HTTP {status} {text}".strip(), retry_after_s)
    if 300 <= status < 400:
        return Outcome(FAIL, f"HTTP {status}: redirects are not followed")
    return Outcome(FAIL, f"HTTP {status} {text}".strip())


def backoff(attempt: int, rng: random.Random, first: float = 0.5, cap: float = 30.0) -> float:
    """Delay before attempt ``attempt + 1`` (full jitter on ``first * 2**attempt``, capped)."""
    return rng.uniform(first / 2, min(cap, first * 2 ** attempt))
