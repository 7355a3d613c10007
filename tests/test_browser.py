"""The page end to end: a real ``emojiqa serve`` on 127.0.0.1 driven by headless Chromium.

Type a text and see emojis, switch style, copy one, invent, walk the latent space, look at a
grid, upload an image, and read the server's clear message for an empty text, an oversized
text and an oversized or corrupt upload. The last test takes a full-page screenshot (into the
test's temporary folder; ``EMOJIQA_SCREENSHOT=docs/img/web_page.png python -m pytest
tests/test_browser.py -k screenshot`` writes the README's). Uses the bundled ranker when it
is there (what a user gets), else a tiny untrained one. Needs Chromium at /usr/bin/chromium
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
#: Where the screenshot test also writes its picture (the README's: docs/img/web_page.png).
SCREENSHOT = os.environ.get("EMOJIQA_SCREENSHOT")
BUNDLED = ROOT / "src" / "emojiqa" / "pretrained" / "ranker"

sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    if (BUNDLED / "config.json").exists():
        model = BUNDLED
    else:
        from emojiqa.vae import PRETRAINED_DIR, VAE
        from test_web_api import save_tiny_ranker

        # an untrained ranker; with the bundled VAE when there is one, so the latent
        # explorer shows real emojis
        vae = VAE.from_pretrained() if (PRETRAINED_DIR / "config.json").exists() else None
        model = save_tiny_ranker(tmp_path_factory.mktemp("browser") / "ranker", vae=vae)
    port = free_port()
    log = tmp_path_factory.mktemp("browser-log") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emojiqa", "serve", "--port", str(port), "--model",
             str(model), "--threads", "2"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"emojiqa serve did not start:\n{log.read_text()}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(server + "/?seed=7")  # repeatable inventions: the screenshot stays the same
        pg.wait_for_selector("#version:not(:empty)")
        yield pg
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def suggestion_srcs(page) -> list[str]:
    return page.eval_on_selector_all("#suggestions img", "els => els.map(e => e.src)")


def test_typing_shows_emoji_suggestions(page):
    page.fill("#ask", "")
    page.type("#ask", "got the job!!", delay=20)  # live, debounced: no Enter pressed
    page.wait_for_selector("#suggestions li img")
    cards = page.locator("#suggestions .emoji-card")
    assert cards.count() == 8
    first = cards.first
    assert first.locator(".name").inner_text().strip()
    assert first.locator(".bar > span").count() == 1
    box = first.locator("img").bounding_box()
    assert box["width"] >= 64  # readable size
    natural = first.locator("img").evaluate("e => [e.naturalWidth, e.complete]")
    assert natural == [36, True]
    assert "best:" in page.inner_text("#ask-status")


def test_cards_say_which_words_named_an_emoji(page):
    """Suggestions are explained: an emoji the text names shows the naming word under it, one
    the model found alone shows none."""
    page.fill("#ask", "this pizza is amazing")
    page.press("#ask", "Enter")
    page.wait_for_function("() => document.getElementById('ask-status').textContent"
                           ".includes('best: pizza')")
    cards = page.locator("#suggestions .emoji-card")
    assert cards.first.locator(".why").inner_text() == "“pizza”"
    assert "named by the word pizza" in cards.first.locator(".why").get_attribute("title")
    whys = [cards.nth(i).locator(".why").count() for i in range(cards.count())]
    assert 0 in whys  # 😍 and the like come from the model alone


def test_keyboard_only(page):
    page.focus("#ask")
    page.keyboard.press("Control+A")
    page.keyboard.type("happy birthday")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('ask-status').textContent"
                           ".includes('best:')")
    page.focus("#suggestions .emoji-card")
    page.keyboard.press("Enter")  # cards are buttons: Enter copies
    page.wait_for_selector("#toast.show")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "emoji-card" in focused


def test_style_switch_changes_the_drawings(page):
    before = suggestion_srcs(page)
    page.check("input[value=noto]")  # the radio covers its label text
    page.wait_for_function(
        "before => [...document.querySelectorAll('#suggestions img')].map(e => e.src)"
        ".join() !== before.join()", arg=before)
    assert page.is_checked("input[value=noto]")
    page.check("input[value=twemoji]")
    page.wait_for_function(
        "() => document.querySelector('input[value=twemoji]').checked")


def test_skin_tone_menu_reranks(page):
    page.fill("#ask", "waving hello")
    page.press("#ask", "Enter")
    page.wait_for_function("() => document.getElementById('ask-status').textContent"
                           ".includes('best:')")
    with page.expect_response("**/api/suggest") as resp:
        page.select_option("#skin-tone", "5")
    assert resp.value.ok
    assert resp.value.request.post_data_json["skin_tone"] == "5"
    page.select_option("#skin-tone", "")


def test_no_flags_box_leaves_flags_out(page):
    page.fill("#ask", "usa party")
    page.press("#ask", "Enter")
    page.wait_for_function("() => document.getElementById('ask-status').textContent"
                           ".includes('best:')")
    assert "flag" in page.inner_text("#suggestions")  # 🇺🇸 answers "usa" first
    with page.expect_response("**/api/suggest") as resp:
        page.check("#no-flags")
    assert resp.value.ok and resp.value.request.post_data_json["exclude_groups"] == ["flags"]
    page.wait_for_function("() => !document.getElementById('suggestions').textContent"
                           ".includes('flag')")
    with page.expect_response("**/api/suggest") as resp:
        page.uncheck("#no-flags")
    assert "exclude_groups" not in resp.value.request.post_data_json


def test_click_copies_with_a_toast(page):
    page.locator("#suggestions .emoji-card").first.click()
    page.wait_for_selector("#toast.show")
    assert "Copied" in page.inner_text("#toast") or "copy" in page.inner_text("#toast")


def test_empty_text_shows_the_server_message(page):
    page.fill("#ask", "   ")
    page.press("#ask", "Enter")
    page.wait_for_selector("#ask-error:not([hidden])")
    assert "empty" in page.inner_text("#ask-error")
    assert page.locator("#suggestions li").count() == 0


def test_oversized_text_shows_the_server_message(page):
    page.fill("#ask", "so long " * 200)
    page.wait_for_function("() => document.getElementById('ask-error').textContent"
                           ".includes('at most 1,000')")
    assert page.is_visible("#ask-error")
    page.fill("#ask", "pizza night")
    page.wait_for_selector("#ask-error", state="hidden")
    page.wait_for_selector("#suggestions li")


def test_invent_shows_new_emojis(page):
    page.fill("#ask", "got the job!!")  # the screenshot shows these
    page.click("#invent-btn")
    page.wait_for_selector("#invented li img", timeout=60_000)
    assert page.locator("#invented li").count() == 4
    assert "closest known" in page.inner_text("#invented")


def test_latent_walk_and_slider(page):
    page.fill("#walk-a", "cat face")
    page.fill("#walk-b", "robot")
    page.fill("#walk-steps", "7")
    page.click("#walk-form button[type=submit]")
    page.wait_for_selector("#frames li")
    assert page.locator("#frames li").count() == 7
    assert "1/7" in page.inner_text("#walk-caption")
    page.focus("#walk-slider")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert "3/7" in page.inner_text("#walk-caption")
    page.click("#blend-btn")
    page.wait_for_function("() => document.querySelectorAll('#frames li').length === 1")
    page.click("#sample-btn")
    page.wait_for_function("() => document.querySelectorAll('#frames li').length === 12")
    page.fill("#walk-a", "no such emoji qqq")
    page.click("#walk-form button[type=submit]")
    page.wait_for_selector("#walk-error:not([hidden])")
    assert "is not in the twemoji set" in page.inner_text("#walk-error")
    page.fill("#walk-a", "cat face")
    page.click("#walk-form button[type=submit]")
    page.wait_for_selector("#walk-error", state="hidden")


def test_latent_grids(page):
    page.click("[data-grid=B]")
    page.wait_for_function("() => { const g = document.getElementById('grid');"
                           " return g.src.endsWith('/B') && g.complete && g.naturalWidth > 0 }")
    assert page.get_attribute("[data-grid=B]", "aria-selected") == "true"
    page.keyboard.press("ArrowRight")  # keyboard moves between the tabs
    page.wait_for_function("() => document.getElementById('grid').src.endsWith('/C')")
    page.click("[data-grid=A]")


def _png(path: Path, side: int = 108) -> Path:
    from PIL import Image

    from emojiqa.emojis import EmojiSet

    img = Image.fromarray(EmojiSet.bundled("noto").image("🐱"), "RGBA")
    img.resize((side, side), Image.NEAREST).save(path)
    return path


def test_upload_scores_the_image(page, tmp_path):
    page.set_input_files("#file", str(_png(tmp_path / "cat.png")))
    page.wait_for_selector("#upload-result:not([hidden])")
    assert page.locator("#up-texts li").count() == 8
    assert page.locator("#up-nearest li").count() == 5
    assert page.locator("#up-similar li").count() == 5
    assert "Best answer" in page.inner_text("#upload-status")


def test_drag_and_drop_an_image(page, tmp_path):
    import base64

    data = base64.b64encode(_png(tmp_path / "drop.png", side=72).read_bytes()).decode()
    page.evaluate("""async (b64) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        const drop = document.getElementById("drop");
        drop.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true,
                                                       cancelable: true }));
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true,
                                                   cancelable: true }));
    }""", data)
    page.wait_for_function("() => document.getElementById('upload-status').textContent"
                           ".startsWith('Best answer')")
    assert page.is_visible("#upload-result")


def test_bad_uploads_show_the_server_message(page, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 2**20))
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "limit" in page.inner_text("#upload-error")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("() => document.getElementById('upload-error').textContent"
                           ".includes('could not be read')")


def test_screenshot_for_the_readme(page, server, tmp_path):
    # the page as a user finds it once the server has warmed up (run alone, this test would
    # otherwise time its first suggestion while the warm-up holds the model)
    deadline = time.monotonic() + 120
    while not json.loads(urllib.request.urlopen(f"{server}/api/health", timeout=5).read())[
            "warm"]:
        assert time.monotonic() < deadline, "the server did not warm up in 120 s"
        time.sleep(0.5)
    page.fill("#ask", "")
    page.type("#ask", "got the job!!", delay=10)
    page.wait_for_function("() => document.getElementById('ask-status').textContent"
                           ".includes('best:')")
    if page.inner_text("#invented-for") != "got the job!!":
        page.click("#invent-btn")
    # "Drawing new emojis…" while it works, "4 new emojis (seed …)" once they are shown
    page.wait_for_function("() => /^\\d+ new emojis/.test("
                           "document.getElementById('invent-status').textContent)",
                           timeout=60_000)
    page.fill("#walk-a", "cat face")
    page.fill("#walk-b", "robot")
    page.fill("#walk-steps", "9")
    page.click("#walk-form button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#frames li').length === 9")
    page.focus("#walk-slider")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.set_input_files("#file", str(_png(tmp_path / "cat.png")))
    page.wait_for_selector("#upload-result:not([hidden])")
    page.wait_for_selector("#upload-error", state="hidden")
    page.wait_for_function("() => { const g = document.getElementById('grid');"
                           " return g.complete && g.naturalWidth > 0 }")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)  # let the toast and transitions settle
    shot = tmp_path / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if SCREENSHOT:
        dest = ROOT / SCREENSHOT
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp.png")
        tmp.write_bytes(shot.read_bytes())
        os.replace(tmp, dest)
