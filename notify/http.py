"""One HTTP POST to a receiver: no redirects followed, a per-receiver timeout, and the
answer turned into a :class:`notify.retry.Outcome` by the one classifier."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from .allowlist import RefusedAddress, address_refusal
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


class GuardedResolver(AbstractResolver):
    """Name resolution that drops the addresses the allowlist refuses (allowlist.py).

    Checked on every lookup, after DNS answered, so a name listed at load cannot later
    lead to a loopback, link-local or metadata address. ``entries`` returns the current
    allowlist (it changes on a reload); ``inner`` resolves (the system's by default).
    """

    def __init__(self, entries: Callable[[], list], inner: AbstractResolver | None = None) -> None:
        self._entries, self._inner = entries, inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The addresses of ``host`` that may be called; RefusedAddress if none."""
        found = await self._inner.resolve(host, port, family)
        entries, kept, why = self._entries(), [], None
        for r in found:
            refusal = address_refusal(host, r["host"], entries)
            if refusal is None:
                kept.append(r)
            else:
                why = why or refusal
        if not kept and why:
            raise RefusedAddress(why)
        return kept

    async def close(self) -> None:
        await self._inner.close()


def session(entries: Callable[[], list] = list, inner: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A client session: no cookies kept, no proxy from the environment, and host names
    resolved through :class:`GuardedResolver` over the allowlist ``entries()``."""
    connector = aiohttp.TCPConnector(limit=128, ttl_dns_cache=60, resolver=GuardedResolver(entries, inner))
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, connector=connector)
