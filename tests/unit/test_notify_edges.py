"""The notifier's edges: configuration refusals naming the field, the allowlist, the
retry classifier, signatures (a known DingTalk vector), payload shapes and the WeCom cut."""

from __future__ import annotations

import json

import pytest

from notify import allowlist, signing
from notify.config import ConfigError, load_config, load_document, parse_document
from notify.labels import Tracked
from notify.payload import Render
from notify.receivers import Receiver
from notify.retry import FAIL, OK, RETRY, classify, retry_after
from notify.text import Namer

from .test_notify_core import T, alert

ALLOW = ["http://127.0.0.1:18080/", "https://oapi.dingtalk.com/robot/send", "https://*.example.com/"]
BASE = {"global": {"allowlist": ALLOW},
        "receivers": [{"name": "hook", "webhook": {"url": "http://127.0.0.1:18080/hook", "secret_env": "S"}}],
        "route": {"receiver": "hook"}}


def _with(path: str, value) -> dict:
    doc = json.loads(json.dumps(BASE))
    cur = doc
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[int(k)] if k.isdigit() else cur[k]
    cur[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, field", [
    ("route.group_wait", "5 minutes", "route.group_wait"),
    ("route.receiver", "nobody", "route.receiver"),
    ("route.groupby", ["x"], "route.groupby"),  # a typo is refused, not ignored
    ("route.routes", [{"matchers": ['kind=~"("']}], "route.routes[0].matchers[0]"),
    ("route.routes", [{"group_interval": "0s"}], "route.routes[0].group_interval"),
    ("route.matchers", ['kind="x"'], "route.matchers"),
    ("receivers.0.webhook.url", "http://169.254.169.254/latest", "receivers[0].webhook.url"),
    ("receivers.0.webhook.url", "http://10.0.0.5/hook", "receivers[0].webhook.url"),
    ("receivers.0.webhook.secret_env", "NOT_SET_ANYWHERE", "receivers[0].webhook.secret_env"),
    ("receivers.0.webhook.timeout", "fast", "receivers[0].webhook.timeout"),
    ("receivers.0.webhook.rate_limit", "many", "receivers[0].webhook.rate_limit"),
    ("global.allowlist", ["ftp://x/"], "global.allowlist"),
    ("inhibit_rules", [{"source_matchers": [], "target_matchers": ['kind="x"']}], "inhibit_rules[0].source_matchers"),
    ("mute_windows", [{"name": "n", "times": ["25:00-07:00"]}], "mute_windows[0].times[0]"),
])
def test_config_refusals_name_the_field(path, value, field):
    with pytest.raises(ConfigError) as err:
        load_document(_with(path, value), env={"S": "k"})
    assert err.value.field == field, str(err.value)


def test_a_good_config_loads_and_keeps_secrets_out_of_its_summary(tmp_path):
    doc = _with("receivers", BASE["receivers"] + [
        {"name": "dt", "dingtalk": {"url_env": "DT_URL", "secret_env": "DT_SECRET", "at_mobiles": ["13800000000"]}}])
    cfg = load_document(doc, env={"S": "k", "DT_URL": "https://oapi.dingtalk.com/robot/send?access_token=t0k",
                                  "DT_SECRET": "SECabc"})
    text = json.dumps(cfg.summary())
    assert "t0k" not in text and "SECabc" not in text and cfg.receivers["dt"].rate == 20
    assert cfg.route.opts.group_wait == 30_000 and cfg.route.opts.repeat_interval == 4 * 3_600_000
    toml = tmp_path / "n.toml"
    toml.write_text('[route]\nreceiver = "x"\n[[receivers]]\nname = "x"\n', encoding="utf-8")
    assert load_config(toml).route.opts.receiver == "x"
    with pytest.raises(ConfigError):
        parse_document("route: [", "n.yaml")


@pytest.mark.parametrize("url, ok", [
    ("http://127.0.0.1:18080/hook", True),
    ("http://127.0.0.1:18081/hook", False),  # another port
    ("http://localhost:18080/hook", False),  # loopback by another name: not listed
    ("https://hooks.example.com/x", True),
    ("https://127.0.0.1.example.com/x", True),
    ("https://oapi.dingtalk.com/robot/send?access_token=x", True),
    ("https://oapi.dingtalk.com/other", False),
    ("http://user:pw@127.0.0.1:18080/hook", False),
])
def test_allowlist(url, ok):
    entries = [allowlist.Entry.parse(e) for e in ALLOW]
    if ok:
        allowlist.check_url(url, entries)
    else:
        with pytest.raises(ValueError) as err:
            allowlist.check_url(url, entries)
        assert "access_token" not in str(err.value) and "pw" not in str(err.value)


@pytest.mark.parametrize("host, address, entries, refused", [
    ("hooks.example.com", "203.0.113.7", ["https://*.example.com/"], False),  # an ordinary address
    ("hooks.example.com", "127.0.0.1", ["https://*.example.com/"], True),  # DNS says loopback
    ("hooks.example.com", "169.254.169.254", ["https://hooks.example.com/"], True),  # metadata
    ("hooks.example.com", "100.100.100.200", ["https://hooks.example.com/"], True),  # Alibaba's metadata
    ("hooks.example.com", "fe80::1", ["https://hooks.example.com/"], True),  # link-local
    ("hooks.example.com", "0.0.0.0", ["https://hooks.example.com/"], True),
    ("hooks.example.com", "127.0.0.1", ["https://hooks.example.com/", "http://127.0.0.1:*/"], False),  # listed
    ("localhost", "127.0.0.1", ["http://localhost:8080/"], False),  # a loopback name listed by name
    ("localhost", "::1", ["http://localhost:8080/"], False),
    ("localhost", "169.254.169.254", ["http://localhost:8080/"], True),  # ... but only to loopback
    ("hooks.example.com", "10.0.0.5", ["https://hooks.example.com/"], False),  # an intranet: allowed
])
def test_an_address_is_judged_after_dns_answered(host, address, entries, refused):
    why = allowlist.address_refusal(host, address, [allowlist.Entry.parse(e) for e in entries])
    assert (why is not None) == refused, why
    if refused:
        assert address in why and host in why


@pytest.mark.parametrize("status, body, kind, verdict", [
    (200, b"", "webhook", OK), (204, b"", "webhook", OK),
    (500, b"", "webhook", RETRY), (503, b"", "webhook", RETRY), (429, b"", "webhook", RETRY),
    (400, b"", "webhook", FAIL), (404, b"", "webhook", FAIL), (302, b"", "webhook", FAIL),
    (200, b'{"errcode":0,"errmsg":"ok"}', "dingtalk", OK),
    (200, b'{"errcode":130101,"errmsg":"send too fast"}', "dingtalk", RETRY),
    (200, b'{"errcode":310000,"errmsg":"sign not match"}', "dingtalk", FAIL),
    (200, b'{"errcode":45009}', "wecom", RETRY),
    (200, b"<html>", "wecom", FAIL),
    (None, b"", "webhook", RETRY),
])
def test_retry_classifier(status, body, kind, verdict):
    assert classify(status, ConnectionError("refused") if status is None else None, body, kind).verdict == verdict


def test_a_refused_address_is_not_retried():
    """However aiohttp wraps it (its DNS error keeps the resolver's as ``os_error``)."""
    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey
    refused = allowlist.RefusedAddress("h resolves to 127.0.0.1, a loopback address")
    key = ConnectionKey("h", 80, False, True, None, None, None)
    for err in (refused, aiohttp.ClientConnectorDNSError(key, refused)):
        out = classify(None, err)
        assert out.verdict == FAIL and "127.0.0.1" in out.reason
    assert classify(None, aiohttp.ClientConnectorDNSError(key, OSError("no such host"))).verdict == RETRY


def test_retry_after():
    assert retry_after("7", 0) == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10.0
    assert retry_after("soon", 0) == 0.0


def test_dingtalk_signature_matches_a_known_vector():
    # Computed independently: printf '1700000000000\nSECtest' | openssl dgst -sha256 -hmac SECtest -binary | base64
    assert signing.dingtalk_sign("SECtest", 1700000000000) == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"
    url = signing.dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=x", "SECtest", 1700000000000)
    assert url.endswith("&timestamp=1700000000000&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D")


def test_webhook_signature_and_a_tampered_body():
    body = b'{"status":"firing"}'
    h = signing.webhook_headers(b"k", body, "a" * 32, 1_795_750_200)
    assert signing.verify(b"k", h, body, 1_795_750_210) is None
    assert "does not match" in signing.verify(b"k", h, body.replace(b"firing", b"resolved"), 1_795_750_210)
    assert "replay" in signing.verify(b"k", h, body, 1_795_750_200 + 301)


def test_webhook_payload_has_alertmanagers_shape():
    t = Tracked.of(alert(ts=T))
    body = json.loads(Render("Asia/Shanghai", "http://wall", Namer()).webhook(
        Receiver("hook", "webhook", max_alerts=500), "hook", "{}:{}", {"district": "330203"}, T + 60_000,
        [(t, "firing")]))
    assert list(body) == ["receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
                          "externalURL", "version", "groupKey", "truncatedAlerts"]
    (a,) = body["alerts"]
    assert list(a) == ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"]
    assert a["endsAt"] == "0001-01-01T00:00:00Z" and a["startsAt"].endswith("Z") and body["version"] == "4"
    assert a["annotations"]["case_url"] == "http://wall/case/C1" and "超时" in a["annotations"]["description"]


def test_wecom_message_is_cut_to_4096_bytes_and_says_what_it_cut():
    r = Receiver("wc", "wecom", max_bytes=4096, merge=True)
    alerts = [(Tracked.of(alert(f"C{i:05d}", ts=T)), "firing") for i in range(300)]
    labels = {"district": "330203"}
    body, cut = Render("Asia/Shanghai", "http://wall", Namer()).robot(r, [(labels, alerts)], {id(labels): T}, ())
    content = json.loads(body)["markdown"]["content"]
    assert len(content.encode()) <= 4096 and cut > 0
    assert f"另有 {cut} 条告警未列出" in content and content.count("\n- ") == 300 - cut


W = 1_795_750_200_000  # the wall clock of these cases
L, LIVE = 60_000, 600_000


@pytest.mark.parametrize("wms, newest, prev, on_newest, want", [
    ([W - 3_600_000, W - 7_200_000], 0, 0, False, W - 7_200_000 - L),  # a replay: the lowest, on event time
    ([W - 1_000, W - 5_000], 0, 0, False, W - L),  # live: the wall clock, minus the lateness
    ([], W - 7_200_000, 0, False, W - 7_200_000 - L),  # no partition: the newest alert stands in
    ([], 0, 0, False, 0),
    ([W - 7_200_000], 0, W - 3_600_000, False, W - 3_600_000),  # never back
    # one GPS partition quiet for two hours, another live
    ([W - 7_200_000, W - 1_000], 0, 0, False, W - 7_200_000 - L),
    ([W - 7_200_000, W - 1_000], 0, 0, True, W - L),
    ([W - 7_200_000, W - 3_600_000], 0, 0, True, W - 7_200_000 - L),  # all quiet: event time
])
def test_event_clock(wms, newest, prev, on_newest, want):
    from notify.clock import event_clock
    assert event_clock(wms, newest, L, W, LIVE, prev, live_on_newest=on_newest) == want
