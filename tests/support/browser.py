"""Debian's headless Chromium through its chromedriver (Selenium), as every browser test starts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Nothing but the page and the API: no update checks, sync or other background traffic (the network guard
# allows loopback only).
QUIET = ("--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-domain-reliability")


def chromium(profile: Path, *, window: str = "1400,1000", extra: tuple[str, ...] = (),
             downloads: Path | None = None, script_timeout: float = 60):
    """A started headless Chromium with its console log captured (``goog:loggingPrefs``); the caller quits it."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Chromium and chromedriver are needed (make setup installs Debian's chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--no-proxy-server", f"--window-size={window}", *QUIET, *extra):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(script_timeout)
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver
