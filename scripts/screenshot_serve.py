"""The README's screenshot of `nst serve` after a comparison of all four engines on the built-in samples.

    python scripts/screenshot_serve.py -o docs/serve.png      # needs chromium + chromedriver + selenium

Every engine runs at its own defaults except the size (``--size``, typed into each engine's size field);
``--set FIELD-ENGINE=VALUE`` types more into the page's controls by their ids (e.g. ``iterations-gatys=20``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from nst_toolkit.web.app import create_app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/serve.png"))
    ap.add_argument("--size", default="256")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD-ENGINE=VALUE")
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        until = WebDriverWait(driver, 900).until
        until(lambda d: d.find_elements(By.ID, "engine-gatys"))
        Select(driver.find_element(By.ID, "content-sample")).select_by_value("machu_picchu")
        Select(driver.find_element(By.ID, "style-sample")).select_by_value("great_wave")
        typed = []
        for name in ("gatys", "improved", "fast", "adain"):
            box = driver.find_element(By.ID, f"engine-{name}")
            if not box.is_selected():
                box.click()
            typed.append((f"size-{name}", a.size))
        typed += [tuple(item.split("=", 1)) for item in a.set]
        for field, value in typed:
            el = driver.find_element(By.ID, field)
            el.clear()
            el.send_keys(value)
        driver.find_element(By.ID, "start").click()
        until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-job-state") in ("done", "failed"))
        time.sleep(1)
        a.output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(a.output))
        print(f"wrote {a.output}")
    finally:
        driver.quit()
        srv.should_exit = True


if __name__ == "__main__":
    main()
