"""Secrets never print: URL passwords, SASL credentials and tokens are masked everywhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridpulse import redact

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Pa55-w0rd-x9"


@pytest.mark.parametrize("text, masked", [
    ("redis://admin:s3cret@10.0.0.5:6379/0", "redis://admin:***@10.0.0.5:6379/0"),
    ("rediss://:s3cret@redis.example.com:6380", "rediss://:***@redis.example.com:6380"),
    ("redis://default:p@ss@w0rd@127.0.0.1:6379/0", "redis://default:***@127.0.0.1:6379/0"),
    ("rediss://u:pw@[::1]:6380/1", "rediss://u:***@[::1]:6380/1"),
    ("redis://tok3n@host:6379", "redis://***@host:6379"),
    ("kafka://svc:k4fka@b1:9092,b2:9092", "kafka://svc:***@b1:9092,b2:9092"),
    ("sasl_plain_password='k4fka' sasl_plain_username='svc'", "sasl_plain_password='***' sasl_plain_username='svc'"),
    ('{"sasl_plain_password": "k4fka"}', '{"sasl_plain_password": "***"}'),
    ("connect failed (password=hunter2, host=x)", "connect failed (password=***, host=x)"),
    # left alone: no secret in them
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ("expected redis://[user:password@]host[:port][/db]", "expected redis://[user:password@]host[:port][/db]"),
    ("GRIDPULSE_TZ='../etc/passwd': expected a zone", "GRIDPULSE_TZ='../etc/passwd': expected a zone"),
    ("Error 111 connecting to 127.0.0.1:6379. Connection refused.", "Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ("token bucket: 250 tokens", "token bucket: 250 tokens"),
])
def test_mask(text, masked):
    assert redact.mask(text) == masked


def test_a_registered_secret_is_masked_without_its_url(monkeypatch):
    monkeypatch.setattr(redact, "_secrets", set())
    redact.register_environment({"REDIS_URL": f"redis://admin:{SECRET}@h:6379/0",
                                 "KAFKA_SASL_PASSWORD": "another-secret", "SHORT_TOKEN": "abc",
                                 "GRIDPULSE_CITY": "ningbo"})
    assert redact.mask(f"AUTH {SECRET} failed; sasl another-secret") == "AUTH *** failed; sasl ***"
    assert redact.mask("abc ningbo") == "abc ningbo"  # too short to tell apart; not a secret


def test_log_records_and_tracebacks_are_masked(monkeypatch, caplog):
    monkeypatch.setattr(redact, "_secrets", set())
    factory = logging.getLogRecordFactory()
    try:
        logging.setLogRecordFactory(redact._MaskingRecords(factory))
        redact.register(SECRET)
        log = logging.getLogger("test.redact")
        with caplog.at_level(logging.INFO, logger="test.redact"):
            log.info("connecting to %s", f"redis://u:{SECRET}@h:6379/0")
            try:
                raise ConnectionError(f"cannot reach redis://u:{SECRET}@h:6379/0")
            except ConnectionError:
                log.exception("failed")
        text = caplog.text
        assert SECRET not in text and "redis://u:***@h:6379/0" in text
        assert "Traceback" in text  # still there, masked
    finally:
        logging.setLogRecordFactory(factory)


def _gridpulse(*args, **env):
    return subprocess.run([sys.executable, "-m", "gridpulse.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


def test_gridpulse_settings_does_not_print_the_redis_password():
    url = f"redis://admin:{SECRET}@10.0.0.5:6379/0"
    got = _gridpulse("settings", REDIS_URL=url, KAFKA_SASL_PASSWORD="kafka-" + SECRET)
    assert got.returncode == 0, got.stderr
    assert SECRET not in got.stdout + got.stderr
    assert "redis_url = 'redis://admin:***@10.0.0.5:6379/0'" in got.stdout


def test_a_refused_redis_url_is_reported_without_its_password():
    got = _gridpulse("settings", REDIS_URL=f"redis://admin:{SECRET}@10.0.0.5:99999/0")
    assert got.returncode == 2
    assert SECRET not in got.stdout + got.stderr
    assert got.stderr.startswith("REDIS_URL='redis://admin:***@10.0.0.5:99999/0': expected")


def test_an_uncaught_error_is_printed_without_the_password():
    code = ("from gridpulse import redact; redact.install(); "
            f"raise ConnectionError('cannot reach redis://admin:{SECRET}@10.0.0.5:6379/0')")
    got = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert got.returncode == 1
    assert SECRET not in got.stderr and "redis://admin:***@10.0.0.5:6379/0" in got.stderr
