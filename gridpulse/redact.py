"""Secrets never print: the password of a Redis or Kafka URL, SASL credentials, tokens.

:func:`mask` replaces, in any text, the password of a URL (``redis://user:pass@host`` ->
``redis://user:***@host``, any scheme), the value after a ``password=``-like key, and every
secret registered with :func:`register` (a value may be printed without its URL around
it). :func:`install` registers the secrets of the environment and masks every log record
of the process (message, arguments and traceback) and every uncaught exception, so no
command has to remember to: ``gridpulse`` calls it before anything else.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from typing import Mapping
from urllib.parse import urlsplit

__all__ = ["MASK", "mask", "mask_url", "register", "install"]

MASK = "***"

# scheme://authority: the user info is what comes before the authority's last "@" (a
# password may hold an unencoded "@").
_URL_AUTHORITY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#]*)")
# password=..., "sasl_plain_password": '...', token: ... (the key a whole word, quoted alike
# on both sides if at all; the value quoted, or up to a blank, comma or closing bracket).
_KEY_VALUE = re.compile(
    r"(?i)(?<![\w/.\\-])(?P<key>(?P<q>[\"']?)[a-z0-9_]*(?:password|passwd|secret|token|credentials?)"
    r"[a-z0-9_]*(?P=q)\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;)}\]]+)")
#: Environment variables whose value is a secret, by name.
_SECRET_NAMES = re.compile(r"(?i)(password|passwd|secret|token|credential)")
#: Secrets shorter than this are not replaced wherever they occur (only in URLs and after
#: keys): masking "abc" in every line would mangle the log without protecting much.
MIN_SECRET_LEN = 6

_secrets: set[str] = set()
_lock = threading.Lock()


def register(secret: str | None) -> None:
    """Mask ``secret`` wherever it occurs from now on (if it is long enough to be told apart)."""
    if secret and len(secret) >= MIN_SECRET_LEN:
        with _lock:
            _secrets.add(secret)


def mask(text: str) -> str:
    """``text`` with every password, secret and token replaced by ``***``."""
    if not text:
        return text
    out = text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a longer one may contain a shorter
    for s in secrets:
        if s in out:
            out = out.replace(s, MASK)
    out = _URL_AUTHORITY.sub(_mask_authority, out)
    return _KEY_VALUE.sub(_mask_value, out)


def _mask_value(m: re.Match) -> str:
    value = m.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group('key')}{quote}{MASK}{quote}"


def _mask_authority(m: re.Match) -> str:
    scheme, authority = m.group(1), m.group(2)
    userinfo, at, host = authority.rpartition("@")
    # "[user:password@]host" is the placeholder of a format in a help text, not a URL.
    if not at or userinfo.startswith("[") or userinfo == MASK:
        return m.group(0)
    if ":" not in userinfo:  # scheme://token@host: the whole user info is the secret
        return f"{scheme}{MASK}@{host}"
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{user}:{MASK}@{host}"


def mask_url(url: str) -> str:
    """``url`` with its password (if any) masked: ``redis://u:***@host:6379/0``."""
    return mask(url)


def url_password(url: str) -> str | None:
    """The password of ``url``, or None (also for a text that is not a URL)."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def register_environment(environ: Mapping[str, str]) -> None:
    """Register the secrets an environment holds: URL passwords, and variables named like secrets."""
    for name, value in environ.items():
        if not value:
            continue
        if _SECRET_NAMES.search(name):
            register(value)
        if "://" in value:
            for part in value.split(","):
                register(url_password(part.strip()))


class _MaskingRecords:
    """A log record factory that masks what the record will print."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        masked = mask(text)
        if masked != text:
            # Only when something was masked: filters may still read the arguments.
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[0] is not None:
            tb = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if mask(tb) != tb:
                record.exc_text = mask(tb)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return record


def _masked_excepthook(kind, value, tb) -> None:
    sys.stderr.write(mask("".join(traceback.format_exception(kind, value, tb))))


def _masked_thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(mask(f"Exception in thread {name}:\n{text}"))


_installed = False


def install(environ: Mapping[str, str] | None = None) -> None:
    """Mask secrets in every log record and uncaught exception of this process (idempotent)."""
    global _installed
    register_environment(os.environ if environ is None else environ)
    if _installed:
        return
    _installed = True
    logging.setLogRecordFactory(_MaskingRecords(logging.getLogRecordFactory()))
    sys.excepthook = _masked_excepthook
    threading.excepthook = _masked_thread_excepthook
