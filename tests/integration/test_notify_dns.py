"""A receiver's host name is judged again after DNS answered, on a real HTTP connection.

The allowlist is checked at load against the names in the configuration; whoever runs a
listed name's DNS could still point it at the notifier's own machine or a metadata
service. Here a name resolves to loopback (the lookup is the one stubbed part: the test
cannot change this machine's DNS), a real HTTP server listens there, and the notifier's
session must refuse to connect, for good, unless the allowlist names the address.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from aiohttp.abc import AbstractResolver

from notify import allowlist, http
from notify.retry import FAIL, OK

NAME = "hooks.city.test"


class Stub(AbstractResolver):
    """Resolves ``NAME`` to loopback, as a hostile or mistaken DNS answer would."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        assert host == NAME
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


async def _run(entries: list[str]) -> tuple[object, int]:
    hits = []

    async def hook(request):
        hits.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    listed = [allowlist.Entry.parse(e) for e in entries]
    try:
        async with http.session(lambda: listed, Stub()) as s:
            out = await http.post(s, f"http://{NAME}:{port}/hook", b"{}", {}, 5.0, "webhook")
    finally:
        await runner.cleanup()
    return out, len(hits)


def test_a_name_that_resolves_to_loopback_is_refused_for_good():
    out, hits = asyncio.run(_run([f"http://{NAME}:*/"]))
    assert out.verdict == FAIL and "127.0.0.1" in out.reason and "loopback" in out.reason, out
    assert hits == 0  # no connection was made


def test_listing_the_address_lets_it_through():
    out, hits = asyncio.run(_run([f"http://{NAME}:*/", "http://127.0.0.1:*/"]))
    assert out.verdict == OK and hits == 1, out
