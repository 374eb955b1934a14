"""streams/fast_consumer.py copies faust-streaming's private consumer loop: pin what it copies.

``Consumer._drain_messages`` is private, so faust-streaming may change it in any release
(pyproject.toml pins the 0.15 minor). If this test fails, the installed faust-streaming's
loop is no longer the one the copy was made from.
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

# faust-streaming 0.15.3's faust.transport.consumer.Consumer._drain_messages, normalized.
UPSTREAM_SHA256 = "fc0f1b9abdb1dd3c221b4da25cd04c578a29b178e4895d5398b2e1dad1dcf5ea"


def normalized_source(fn) -> str:
    """``fn``'s source without indentation, trailing blanks or empty lines."""
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def test_the_copied_loop_is_the_installed_one():
    digest = hashlib.sha256(normalized_source(faust_consumer.Consumer._drain_messages).encode()).hexdigest()
    assert digest == UPSTREAM_SHA256, (
        f"faust-streaming {faust.__version__} changed Consumer._drain_messages. Diff "
        f"streams/fast_consumer.py's Consumer._drain_messages against the installed one "
        f"(inspect.getsource), carry the upstream change over (keeping the direct await and "
        f"the batch queues), update the version in its docstring and pyproject.toml, then set "
        f"UPSTREAM_SHA256 = {digest!r} here.")


def test_the_aiokafka_driver_does_not_override_it():
    # fast_consumer.Consumer subclasses the aiokafka driver's Consumer: if that ever got
    # its own loop, the copy would be replacing the wrong one.
    assert faust_aiokafka.Consumer._drain_messages is faust_consumer.Consumer._drain_messages
