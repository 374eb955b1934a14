"""Request bodies: Alertmanager's webhook payload (version 4), its API v2 alerts, and
the DingTalk and WeCom robots' markdown messages."""

from __future__ import annotations

import json

from .labels import ZERO_TIME, Tracked, am_time
from .receivers import Receiver
from .text import Namer, annotations, markdown


class Render:
    """Renders decisions for receivers, with the deployment's names, zone and links."""

    def __init__(self, tz: str, external_url: str, names: Namer) -> None:
        self.tz, self.url, self.names = tz, external_url, names

    def _am_alert(self, t: Tracked, status: str, at: int, lang: str) -> dict:
        ends = ZERO_TIME if status == "firing" else am_time(t.resolved_at or at)
        case_url = f"{self.url}/case/{t.alert.case}" if t.alert.case else f"{self.url}/alerts"
        return {"status": status, "labels": t.labels,
                "annotations": annotations(t, at, self.tz, self.url, self.names, lang),
                "startsAt": am_time(t.ts), "endsAt": ends, "generatorURL": case_url,
                "fingerprint": t.fp}

    def webhook(self, r: Receiver, receiver: str, gkey: str, glabels: dict, at: int,
                alerts: list[tuple[Tracked, str]]) -> bytes:
        """Alertmanager's webhook message (notify/webhook, version 4), byte for byte in shape."""
        truncated = 0
        if r.max_alerts and len(alerts) > r.max_alerts:
            truncated = len(alerts) - r.max_alerts
            alerts = alerts[:r.max_alerts]
        items = [self._am_alert(t, s, at, r.lang) for t, s in alerts]
        common = _common([i["labels"] for i in items])
        common_ann = _common([i["annotations"] for i in items])
        doc = {"receiver": receiver,
               "status": "firing" if any(s == "firing" for _, s in alerts) else "resolved",
               "alerts": items, "groupLabels": glabels, "commonLabels": common,
               "commonAnnotations": common_ann, "externalURL": self.url, "version": "4",
               "groupKey": gkey, "truncatedAlerts": truncated}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    def alertmanager(self, r: Receiver, alerts: list[tuple[Tracked, str, int]]) -> bytes:
        """``POST /api/v2/alerts`` body: postable alerts (resolved ones with their end)."""
        out = []
        for t, status, at in alerts:
            a = self._am_alert(t, status, at, r.lang)
            item = {"labels": a["labels"], "annotations": a["annotations"], "startsAt": a["startsAt"],
                    "generatorURL": a["generatorURL"]}
            if status != "firing":
                item["endsAt"] = a["endsAt"]
            out.append(item)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()

    def robot(self, r: Receiver, groups: list[tuple[dict, list[tuple[Tracked, str]]]], ats: dict,
              mobiles: tuple[str, ...]) -> tuple[bytes, int]:
        """A robot's markdown message (DingTalk or WeCom) and how many alerts it cut."""
        mention = " ".join(f"@{m}" for m in mobiles if m != "@all") if r.kind == "dingtalk" else ""
        title, text, cut = markdown(groups, lambda labels: ats[id(labels)], self.tz, self.url, self.names,
                                    r.lang, r.max_bytes, mention)
        if r.kind == "dingtalk":
            doc = {"msgtype": "markdown", "markdown": {"title": title, "text": text},
                   "at": {"atMobiles": [m for m in mobiles if m != "@all"], "isAtAll": "@all" in mobiles}}
        else:
            # WeCom's markdown has no mention list (only its text messages do).
            doc = {"msgtype": "markdown", "markdown": {"content": text}}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), cut


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}
