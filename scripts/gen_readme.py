"""Refresh the settings table in README.md from gridpulse/settings.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.settings import markdown_table  # noqa: E402

README = ROOT / "README.md"
PATTERN = re.compile(r"(<!-- settings-table -->\n).*?(<!-- /settings-table -->)", re.S)


def render(text: str) -> str:
    """``text`` with the settings table refreshed."""
    return PATTERN.sub(lambda m: m.group(1) + markdown_table() + "\n" + m.group(2), text)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"refreshed {README}")
