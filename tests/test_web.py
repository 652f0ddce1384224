"""`nst serve`: the HTTP API without a browser, then the page in headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from nst_toolkit.web.app import ServerLimits, create_app  # noqa: E402

from .conftest import make_photo  # noqa: E402


def png(w=64, h=48, seed=1) -> bytes:
    buf = io.BytesIO()
    make_photo(w, h, seed).save(buf, format="PNG")
    return buf.getvalue()


def png_header(w: int, h: int) -> bytes:
    """A PNG that claims w×h pixels: a valid header, no pixel data (a few dozen bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def client():
    app = create_app(ServerLimits(max_upload_bytes=200_000, max_pixels=100_000, max_size=256))
    with TestClient(app) as c:
        yield c
    app.state.jobs.stop()


def wait(client, job_id, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        state = client.get(f"/api/jobs/{job_id}").json()
        if state["state"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_page_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, nothing fetched from elsewhere
    opts = client.get("/api/options").json()
    names = [e["name"] for e in opts["engines"]]
    assert names[:4] == ["gatys", "improved", "fast", "adain"]
    assert "test_net" in next(e for e in opts["engines"] if e["name"] == "fast")["models"]


def cli_defaults(engine: str, names: list[str]) -> dict[str, str]:
    """The ``[default: …]`` that `nst ENGINE --help` shows for each of ``names``."""
    from typer.testing import CliRunner

    from nst_toolkit.cli import build_app

    out = CliRunner().invoke(build_app(), [engine, "--help"], env={"COLUMNS": "240", "NO_COLOR": "1"}).output
    found = {}
    for name in names:
        m = re.search(rf"(?<![\w-])--{name.replace('_', '-')}\s[^\n]*?\[default: ([^\]]+)\]", out)
        assert m, f"no default of --{name} in `nst {engine} --help`"
        found[name] = m.group(1).strip()
    return found


def test_options_are_read_from_the_configs_and_match_the_cli_help(client):
    from nst_toolkit import api, engines
    from nst_toolkit.options import bounds, settable_fields

    opts = {e["name"]: e for e in client.get("/api/options").json()["engines"]}
    for spec in engines.specs():
        defaults = api.configure(spec.name)
        fields = {f.name: f for f in settable_fields(spec.config)}
        shown = opts[spec.name]["options"]
        assert shown, spec.name
        for o in shown:
            f = fields[o["name"]]
            assert o["default"] == f.default == getattr(defaults, f.name), (spec.name, f.name)
            assert o["help"] == f.metadata["help"]
            for key, value in bounds(f).items():
                assert o[key] == (list(value) if isinstance(value, tuple) else value), (spec.name, f.name, key)
        model = next((o for o in shown if o["name"] == "model"), None)
        if model:  # the config's default model, chosen from the models found by name
            assert model["default"] == defaults.model and model["default"] in model["choices"]
    assert opts["adain"]["options"][0]["default"] == "light"
    # The same defaults as the command line's help, per engine (improved and gatys differ).
    for engine, names in (("improved", ["style_weight", "iterations", "coarse_iterations", "size"]),
                          ("gatys", ["style_weight", "iterations", "size"])):
        cli = cli_defaults(engine, names)
        page = {o["name"]: o["default"] for o in opts[engine]["options"]}
        for name in names:
            assert float(cli[name]) == page[name], (engine, name)
    assert {o["name"]: o["default"] for o in opts["improved"]["options"]}["style_weight"] == 20
    assert {o["name"]: o["default"] for o in opts["gatys"]["options"]}["iterations"] == 60


def test_a_job_with_no_values_runs_each_engine_at_its_defaults(client):
    r = client.post("/api/jobs", data={"engines": "improved,gatys", "content_sample": "machu_picchu",
                                       "style_sample": "great_wave", "style_weight_gatys": "3"})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    try:
        runs = {e["engine"]: e for e in client.get(f"/api/jobs/{job_id}").json()["engines"]}
        improved, gatys = runs["improved"]["settings"], runs["gatys"]["settings"]
        assert improved["style_weight"] == 20 and improved["coarse_iterations"] == 40 and improved["iterations"] == 4
        assert gatys["style_weight"] == 3 and gatys["iterations"] == 60  # a value sent for gatys only
        assert improved["size"] == gatys["size"] == 256  # the defaults (512) capped at this server's limit
        end = time.time() + 120
        while time.time() < end and client.get(f"/api/jobs/{job_id}").json()["engines"][0]["total"] is None:
            time.sleep(0.1)
        # The engine was built from that config: 40 steps at 128 px, then 4 at 256 px.
        assert client.get(f"/api/jobs/{job_id}").json()["engines"][0]["total"] == 44
    finally:
        client.post(f"/api/jobs/{job_id}/cancel")
    assert wait(client, job_id)["state"] == "cancelled"


def test_a_fast_only_job_needs_no_style(client):
    r = client.post("/api/jobs", data={"engines": "fast", "content_sample": "machu_picchu", "size_fast": "64"})
    assert r.status_code == 201, r.text
    state = wait(client, r.json()["id"])
    assert state["state"] == "done", state
    run = state["engines"][0]
    assert run["state"] == "done" and run["settings"]["model"] == "great_wave" and run["settings"]["size"] == 64
    assert set(run["metrics"]) == {"content_distance", "ssim"}  # no style image to measure against


def test_upload_errors_name_the_file_in_the_command_lines_words(client):
    r = client.post("/api/jobs", data={"engines": "adain", "style_sample": "great_wave"},
                    files=[("content", ("huge.png", png_header(20000, 20000), "image/png"))])
    error = r.json()["error"]
    assert r.status_code == 400 and "too large" in error and error.startswith("huge.png: "), error
    assert "<stdin>" not in error and "PIL" not in error
    for filename, named in (("../some/folder/broken.gif", "broken.gif: "), ("<?>", "style image 1: ")):
        r = client.post("/api/jobs", data={"engines": "adain", "content_sample": "machu_picchu"},
                        files=[("style", (filename, b"GIF89a broken", "image/gif"))])
        error = r.json()["error"]
        assert r.status_code == 400 and error.startswith(named), error
        assert "<stdin>" not in error and "PIL" not in error and "folder" not in error


def test_job_runs_streams_progress_and_serves_results(client):
    files = [("content", ("c.png", png(), "image/png")), ("style", ("s.png", png(40, 40, 2), "image/png"))]
    data = {"engines": "gatys,adain", "size": "64", "iterations": "3", "model_fast": "test_net"}
    r = client.post("/api/jobs", files=files, data=data)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    with client.stream("GET", f"/api/jobs/{job_id}/events") as events:
        seen = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith("data: ")]
    assert seen[-1]["state"] == "done"
    steps = [e["engines"][0]["step"] for e in seen]
    assert max(steps) == 3 and steps == sorted(steps)  # progress went up to the planned total
    for run in seen[-1]["engines"]:
        assert run["state"] == "done" and set(run["metrics"]) == {"style_distance", "content_distance", "ssim"}
        img = Image.open(io.BytesIO(client.get(f"/api/jobs/{job_id}/{run['engine']}/result.png").content))
        assert img.size == (64, 48)
    dl = client.get(f"/api/jobs/{job_id}/adain/result.png?download=1")
    assert "attachment" in dl.headers["content-disposition"]
    report = client.get(f"/api/jobs/{job_id}/report.html")
    assert report.text.count("data:image/png;base64,") == 4 and "attachment" in report.headers["content-disposition"]


def test_samples_and_shipped_models_by_name(client):
    r = client.post("/api/jobs", data={"engines": "fast", "content_sample": "machu_picchu", "style_sample": "great_wave",
                                       "size": "64", "model_fast": "test_net"})
    assert r.status_code == 201, r.text
    assert wait(client, r.json()["id"])["state"] == "done"


@pytest.mark.parametrize("data,files,status,msg", [
    ({"engines": "adain", "content_sample": "../../etc/passwd", "style_sample": "great_wave"}, None, 400, "unknown sample"),
    ({"engines": "fast", "content_sample": "machu_picchu", "style_sample": "great_wave", "model_fast": "/etc/passwd"},
     None, 400, "unknown fast model"),
    ({"engines": "fast", "content_sample": "machu_picchu", "style_sample": "great_wave", "model_fast": "../models/x"},
     None, 400, "unknown fast model"),
    ({"engines": "rm -rf", "content_sample": "machu_picchu", "style_sample": "great_wave"}, None, 400, "choose engines"),
    ({"engines": "adain", "style_sample": "great_wave"}, [("content", ("a.png", b"not an image", "image/png"))], 400,
     "not an image"),
    ({"engines": "adain", "style_sample": "great_wave"}, [("content", ("big.png", b"x" * 300_000, "image/png"))], 413,
     "larger than"),
    ({"engines": "adain", "style_sample": "great_wave"}, [("content", ("many.png", png(400, 300), "image/png"))], 413,
     "megapixels"),
    ({"engines": "adain", "content_sample": "machu_picchu"}, None, 400, "at least one style"),
    ({"engines": "adain", "content_sample": "machu_picchu", "style_sample": "great_wave", "size": "99999"}, None, 400,
     "size must be at most 256"),
    ({"engines": "gatys", "content_sample": "machu_picchu", "style_sample": "great_wave", "style_weight_gatys": "-1"},
     None, 400, "gatys: style-weight must not be negative"),
    ({"engines": "adain", "content_sample": "machu_picchu", "style_sample": "great_wave", "alpha": "2"},
     None, 400, "adain: alpha must lie in [0, 1]"),
    ({"engines": "adain", "content_sample": "machu_picchu", "style_sample": "great_wave", "preserve_color": "x"},
     None, 400, "preserve-color must be one of none, luminance, histogram"),
])
def test_bad_requests_get_one_clear_message(client, data, files, status, msg):
    r = client.post("/api/jobs", data=data, files=files)
    assert r.status_code == status and msg in r.json()["error"], r.text


def test_unknown_ids_and_traversal_attempts_are_404(client):
    for url in ("/api/jobs/nope", "/api/jobs/..%2F..%2Fetc%2Fpasswd", "/api/jobs/nope/adain/result.png",
                "/static/..%2F..%2Fapp.py", "/static/../app.py"):
        assert client.get(url).status_code == 404, url


def test_cancel_and_the_server_survives_a_failing_job(client):
    r = client.post("/api/jobs", data={"engines": "gatys", "content_sample": "machu_picchu", "style_sample": "great_wave",
                                       "size": "96", "iterations": "400"})
    job_id = r.json()["id"]
    time.sleep(1.0)
    client.post(f"/api/jobs/{job_id}/cancel")
    assert wait(client, job_id)["state"] == "cancelled"
    # A job whose engine fails (non-finite loss) is reported; the next job still runs.
    r = client.post("/api/jobs", data={"engines": "gatys", "content_sample": "machu_picchu", "style_sample": "great_wave",
                                       "size": "64", "iterations": "2", "style_weight": "9999"})
    state = wait(client, r.json()["id"])
    assert state["state"] == "done" and state["engines"][0]["state"] in ("done", "failed")
    r = client.post("/api/jobs", data={"engines": "adain", "content_sample": "machu_picchu", "style_sample": "great_wave",
                                       "size": "64"})
    assert wait(client, r.json()["id"])["state"] == "done"


# ---------------------------------------------------------------- a real browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    port = free_port()
    app = create_app()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    app.state.jobs.stop()


def test_browser_uploads_two_images_runs_fast_and_reads_the_result(server, tmp_path):
    pytest.importorskip("selenium", reason="selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("no Chromium and chromedriver installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    make_photo(96, 64, 3).save(content)
    make_photo(64, 64, 4).save(style)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.set_window_size(1280, 900)
        driver.get(server + "/")
        wait_for = WebDriverWait(driver, 120).until
        wait_for(lambda d: d.find_elements(By.ID, "engine-fast"))
        driver.find_element(By.ID, "content").send_keys(str(content))
        driver.find_element(By.ID, "style").send_keys(str(style))
        for name in ("gatys", "improved", "adain"):
            box = driver.find_element(By.ID, f"engine-{name}")
            if box.is_selected():
                box.click()
        if not driver.find_element(By.ID, "engine-fast").is_selected():
            driver.find_element(By.ID, "engine-fast").click()
        Select(driver.find_element(By.ID, "model-fast")).select_by_value("test_net")
        # Each engine's controls start at its config's defaults.
        assert driver.find_element(By.ID, "style_weight-improved").get_attribute("value") == "20"
        assert driver.find_element(By.ID, "iterations-gatys").get_attribute("value") == "60"
        assert Select(driver.find_element(By.ID, "model-adain")).first_selected_option.get_attribute("value") == "light"
        size = driver.find_element(By.ID, "size-fast")
        size.clear()
        size.send_keys("96")
        driver.find_element(By.ID, "start").click()
        wait_for(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-job-state") == "done")
        card = driver.find_element(By.ID, "card-fast")
        numbers = card.find_element(By.CLASS_NAME, "numbers")
        assert float(numbers.get_attribute("data-seconds")) > 0 and float(numbers.get_attribute("data-style")) > 0
        # The numbers in words; the measures themselves in the tooltips.
        assert "photo's structure" in numbers.text and "SSIM" not in numbers.text
        assert "style distance" in numbers.get_attribute("title") and "SSIM" in numbers.get_attribute("title")
        img = card.find_element(By.TAG_NAME, "img")
        wait_for(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
        assert driver.execute_script("return arguments[0].naturalWidth", img) == 96
        # Results large: at least 400 px wide on the page of a 1280-px window.
        assert driver.execute_script("return window.innerWidth") >= 1200
        assert driver.execute_script("return arguments[0].getBoundingClientRect().width", img) >= 400
        # A click shows it at its natural size over the page; Escape closes it.
        img.click()
        box = driver.find_element(By.ID, "lightbox")
        wait_for(lambda d: box.is_displayed())
        zoomed = box.find_element(By.TAG_NAME, "img")
        wait_for(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", zoomed))
        assert driver.execute_script("return arguments[0].getBoundingClientRect().width", zoomed) == 96
        box.click()
        wait_for(lambda d: not box.is_displayed())
        if not (tmp_path / "page.png").exists():
            driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()
