"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Iterator
from urllib.parse import urlparse

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic",
        # WebGL without a GPU: allow the SwiftShader software rasteriser.
        "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


@contextlib.contextmanager
def launch_chromium() -> Iterator:
    """A Playwright browser on Debian's chromium with a fresh user-data-dir."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="gp-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        try:
            yield _Browser(ctx)
        finally:
            ctx.close()


class _Browser:
    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def new_page(self, viewport: dict | None = None):
        page = self.ctx.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        return page


def non_local_requests(urls: list[str]) -> list[str]:
    """The URLs that left this machine (the product must run fully offline)."""
    local = {"127.0.0.1", "localhost", "::1", "[::1]"}
    return [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in local]
