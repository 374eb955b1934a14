"""One HTTP POST to a receiver: no redirects followed, a per-receiver timeout, and the
answer turned into a :class:`notify.retry.Outcome` by the one classifier."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from .retry import Outcome, classify, retry_after

MAX_ANSWER = 64 * 1024  # a receiver's answer is read up to this (an error page can be huge)


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
               timeout_s: float, kind: str) -> Outcome:
    """POST ``body`` to ``url``; the outcome (never raises for the network's faults)."""
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            answer = await resp.content.read(MAX_ANSWER)
            wait = retry_after(resp.headers.get("Retry-After"), time.time())
            return classify(resp.status, None, answer, kind, wait)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return classify(None, exc)


def session() -> aiohttp.ClientSession:
    """A client session: no cookies kept, no proxy from the environment."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                 connector=aiohttp.TCPConnector(limit=128, ttl_dns_cache=60))
