"""README screenshots of the demo shop, desktop (1440x900) and phone (390x844), in headless Chromium.

Run against a served demo shop (`make run`, or daphne on a database loaded by `seed_demo`):

    .venv/bin/python scripts/screenshots.py [--base-url http://127.0.0.1:8000] [--out docs/screenshots]

It logs in as `demo` / `demo` (and as `bob` for the page an agent may not open), opens the inbox, a
conversation, the customer panel, the dashboard, campaigns and the CSV import, and writes one PNG per
page and size. The same demo data (`seed_demo --seed`) gives the same pictures, so they stay true
when the UI changes: run it again and commit the PNGs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
ROOT = Path(__file__).resolve().parents[1]


def log_in(page, base_url: str, username: str, password: str = "demo") -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + "/")


def settle(page) -> None:
    """Wait until the page's scripts have drawn it (no list loading, the socket connected)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


def shoot(browser, base_url: str, out: Path, size: str, only: set[str]) -> list[Path]:
    made: list[Path] = []
    phone = size == "phone"
    context = browser.new_context(viewport=SIZES[size], device_scale_factor=1, is_mobile=phone, has_touch=phone,
                                  locale="en-US", timezone_id="America/New_York", reduced_motion="reduce")
    page = context.new_page()

    def snap(name: str) -> None:
        if only and name not in only:
            return
        path = out / f"{name}-{size}.png"
        page.screenshot(path=str(path))
        made.append(path)

    page.goto(base_url + "/accounts/login/")
    settle(page)
    snap("login")
    log_in(page, base_url, "demo")
    page.get_by_role("button", name="All", exact=True).click()
    page.locator("#conversation-list li").first.wait_for()
    settle(page)
    snap("inbox")
    # The conversation waiting longest, with its customer's orders.
    page.locator("#conversation-list li a").first.click()
    page.get_by_role("list", name="Timeline").locator("li").first.wait_for()
    page.locator("#customer-name").wait_for(state="attached")  # on a phone the panel is one tap away
    settle(page)
    snap("conversation")
    if phone:
        page.get_by_role("button", name="Customer").click()
        settle(page)
        snap("customer")
    page.keyboard.press("?")
    page.get_by_role("dialog", name="Keyboard shortcuts").wait_for()
    snap("shortcuts")
    page.keyboard.press("Escape")
    for name, path in (("dashboard", "/dashboard/"), ("campaigns", "/campaigns/"), ("import", "/customers/import/")):
        page.goto(base_url + path)
        settle(page)
        snap(name)
    context.close()

    # What an agent sees where their role stops: the error page in the shell.
    context = browser.new_context(viewport=SIZES[size], is_mobile=phone, has_touch=phone, locale="en-US")
    page = context.new_page()
    log_in(page, base_url, "bob")
    page.goto(base_url + "/dashboard/")
    settle(page)
    snap("forbidden")
    context.close()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", default=[], help="page names (inbox, conversation, customer, …)")
    parser.add_argument("--size", choices=[*SIZES, "both"], default="both")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    sizes = list(SIZES) if args.size == "both" else [args.size]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for size in sizes:
                for path in shoot(browser, args.base_url.rstrip("/"), args.out, size, set(args.only)):
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
