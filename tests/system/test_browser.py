"""The web chat (web/) in a real headless Chromium, driven by Playwright, against
real servers: web/server.py for the page, /config.json and /helplines.json,
and the Rasa + action servers from tools.servers. The page learns the Rasa address
only from web/server.py's --rasa-url (via /config.json), never from its own URL. Chromium is Debian's /usr/bin/chromium
(`scripts/ensure-browser.sh` installs it; `make test` runs that first).

The test that stops the Rasa server is the last one in this file on purpose.
Screenshots (widget.png, widget-mobile.png, widget-crisis.png, widget-timeout.png,
widget-offline.png) go to build/screenshots/, which git ignores, so a test run changes no
tracked file; `make screenshots` sets SCREENSHOTS_DIR=docs to renew the ones in docs/.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import ROOT
from tools.servers import Assistant, free_port, start, stop, wait_for

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# --headless and no sandbox (root, containers); the rest keep Chromium off the network
# it would otherwise try to reach (updates, sync, field trials, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "build" / "screenshots")
if not SHOTS.is_absolute():
    SHOTS = ROOT / SHOTS
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 375, "height": 720}
ANSWER_TIMEOUT_MS = 30_000
SCRIPT_MESSAGE = '<script>window.__injected = 1</script><img src="x" onerror="window.__injected = 2">'

REPLIES = ".kf-msg.kf-bot:not(.kf-intro), .kf-msg.kf-notice"
SENT = ".kf-msg.kf-user p"  # what the person sent, as shown
CARD = ".kf-msg.kf-crisis"  # a reply with tel:/sms: buttons
CARD_LINKS = ".kf-crisis-actions a"
CRISIS_LINKS = [("Call 988", "tel:988"), ("Text 988", "sms:988"), ("Call 911", "tel:911")]
MIN_TARGET = 44  # px, WCAG 2.5.5 target size
DIAL_HREF = re.compile(r"(tel|sms):\+?[0-9]+")


def serve_web(
    tmp: Path, rasa_url: str = None, extra_args: List[str] = (), port: int = None, extra_env: Dict[str, str] = None
):
    """Starts web/server.py; `rasa_url` is its --rasa-url (None: not passed)."""
    port = port or free_port()
    log = tmp / f"web-{port}.log"
    args = [sys.executable, "-m", "web.server", "--port", str(port), *extra_args]
    if rasa_url is not None:
        args += ["--rasa-url", rasa_url]
    process = start(args, log, extra_env)
    wait_for(f"http://127.0.0.1:{port}/helplines.json", process, log)
    return process, f"http://127.0.0.1:{port}"


def connect_src(response: requests.Response) -> List[str]:
    policy = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    return directives["connect-src"]


@pytest.fixture(scope="module")
def web_port() -> int:
    """Chosen first: Rasa's --cors needs the page's origin, the page's server needs Rasa's address."""
    return free_port()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, trained_model, web_port) -> Iterator[Assistant]:
    running = Assistant(tmp_path_factory.mktemp("browser"), trained_model, cors=f"http://127.0.0.1:{web_port}")
    yield running
    running.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory, assistant, web_port) -> Iterator[str]:
    """The page, configured with --rasa-url for the assistant under test."""
    process, origin = serve_web(
        tmp_path_factory.mktemp("web"), f"http://127.0.0.1:{assistant.rasa_port}", port=web_port
    )
    yield origin
    stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/ensure-browser.sh"
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[..., Page]]:
    """Opens a URL in a fresh browser context (empty localStorage); fails the test on any script error."""
    contexts, errors = [], []

    def opener(
        url: str, viewport: Dict[str, int] = DESKTOP, before: Callable[[Page], None] = None, **context_args
    ) -> Page:
        context = browser.new_context(viewport=viewport, **context_args)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        if before:
            before(page)
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture(scope="module", autouse=True)
def screenshots_folder() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def chat(open_page, web) -> Page:
    return open_page(f"{web}/")


def open_chat(page: Page) -> None:
    """Opens the panel from the keyboard, as a person without a mouse would."""
    launcher = page.locator(".kf-launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#kf-panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("Your question")).to_be_focused()


def wait_for_replies(page: Page, before: int) -> Locator:
    """Waits until a reply (answer or notice) beyond `before` is there and the typing indicator is gone."""
    page.wait_for_function(
        "([selector, n]) => document.querySelectorAll(selector).length > n && !document.querySelector('.kf-typing-on')",
        arg=[REPLIES, before],
        timeout=ANSWER_TIMEOUT_MS,
    )
    return page.locator(REPLIES).last


def ask(page: Page, text: str) -> Locator:
    before = page.locator(REPLIES).count()
    box = page.get_by_label("Your question")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(SENT).last).to_have_text(text)
    return wait_for_replies(page, before)


def hrefs(locator: Locator) -> List[str]:
    return locator.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")


def stored(page: Page) -> dict:
    return json.loads(page.evaluate("localStorage.getItem('klonopin-faq-chat')"))


def link_sizes(links: Locator) -> List[Dict]:
    """Text, href and bounding box of each link, as laid out on screen."""
    return [
        {"text": " ".join(link.inner_text().split()), "href": link.get_attribute("href"), **link.bounding_box()}
        for link in links.all()
    ]


def assert_large_targets(links: Locator, minimum: int = MIN_TARGET) -> List[Dict]:
    sizes = link_sizes(links)
    assert sizes
    small = [s for s in sizes if s["height"] < minimum or s["width"] < minimum]
    assert not small, f"targets under {minimum} px: {small}"
    return sizes


def assert_named_by_visible_text(links: Locator) -> None:
    """Each link's accessible name starts with its visible text (WCAG 2.5.3; axe's label-content-name-mismatch)."""
    assert links.count()
    for link in links.all():
        words = link.inner_text().split()
        assert words, link.evaluate("a => a.outerHTML")
        expect(link).to_have_accessible_name(re.compile(r"^\s*" + r"\s+".join(map(re.escape, words)) + r"(\W|$)"))


LIVE_REGIONS_JS = """
card => {
  const live = e => e.hasAttribute('aria-live')
    || ['alert', 'status', 'log', 'marquee', 'timer'].includes(e.getAttribute('role'));
  const around = [];
  for (let e = card; e; e = e.parentElement)
    if (live(e)) around.push(e.getAttribute('role') + '/' + e.getAttribute('aria-live'));
  return {around, inside: [...card.querySelectorAll('*')].filter(live).length};
}
"""


def assert_crisis_card(card: Locator, expected=CRISIS_LINKS) -> List[Dict]:
    """A crisis card: set apart, a heading, the expected Call/Text links (large, named by their
    text, dial strings only), announced by the log alone."""
    expect(card).to_have_class(re.compile(r"\bkf-crisis\b"))
    expect(card.get_by_role("heading", name="Get help now")).to_be_visible()
    links = card.locator(CARD_LINKS)
    expect(links).to_have_text([title for title, _ in expected])
    assert [a.get_attribute("href") for a in links.all()] == [href for _, href in expected]
    assert all(DIAL_HREF.fullmatch(href) for href in hrefs(card)), hrefs(card)
    assert_named_by_visible_text(links)
    # Looks unlike an ordinary answer: a strong coloured border and its own background.
    style = card.evaluate(
        "c => { const s = getComputedStyle(c); "
        "return [parseFloat(s.borderLeftWidth), s.borderLeftColor, s.backgroundColor]; }"
    )
    plain = card.page.evaluate(
        "() => { const s = getComputedStyle(document.querySelector('.kf-log')); return s.backgroundColor; }"
    )
    assert style[0] >= 4 and style[1] not in ("rgb(208, 215, 222)", "rgb(255, 255, 255)"), style
    assert style[2] not in ("rgb(255, 255, 255)", plain), style
    # Announced once: by the conversation log it is added to, and by nothing inside or around it.
    regions = card.evaluate(LIVE_REGIONS_JS)
    assert regions == {"around": ["log/polite"], "inside": 0}, regions
    return assert_large_targets(links)


CONTRAST_JS = """
() => {
  const parse = c => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const ratio = (fg, bg) => {
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const results = [];
  const roots = [document.getElementById('kf-helpbar'), document.querySelector('.kf-widget'),
                 document.querySelector('main')];
  for (const root of roots) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const ownText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (!ownText || !el.getClientRects().length || el.closest('.kf-vh')) continue;
      const color = parse(getComputedStyle(el).color);
      results.push({text: el.textContent.trim().slice(0, 50), ratio: ratio(color, background(el))});
    }
  }
  const input = document.querySelector('.kf-input');
  if (input && input.getClientRects().length) {
    const placeholder = parse(getComputedStyle(input, '::placeholder').color);
    results.push({text: 'placeholder', ratio: ratio(placeholder, background(input))});
  }
  return results;
}
"""


def assert_contrast_aa(page: Page) -> None:
    measured = page.evaluate(CONTRAST_JS)
    assert len(measured) > 10
    low = [m for m in measured if m["ratio"] < 4.5]
    assert not low, f"text below WCAG AA 4.5:1: {low}"


def assert_focus_visible(page: Page) -> None:
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none" and outline[1] >= 2, f"no visible focus ring: {outline}"


def tab_to(page: Page, selector: str, backwards: bool = False, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


# ---------------------------------------------------------------- the help bar


def test_help_bar_has_tap_to_call_links_from_helplines_json(open_page, web):
    page = open_page(f"{web}/")
    bar = page.locator("#kf-helpbar")
    expect(bar).to_be_visible()
    served = json.loads(page.evaluate("fetch('/helplines.json').then(r => r.text())"))["helplines"]
    expect(bar.locator("li")).to_have_count(len(served))
    links = hrefs(bar)
    for href in ("tel:988", "sms:988", "tel:911", "tel:18006624357"):
        assert href in links
        expect(bar.locator(f'a[href="{href}"]')).to_be_visible()
    expect(bar.locator('a[href="tel:988"]')).to_have_accessible_name("Call 988, 988 Suicide & Crisis Lifeline")
    expect(bar.locator('a[href="tel:911"]')).to_have_accessible_name("Call 911, Emergency services")

    # Still there, and on screen, with the chat open on a phone-sized screen.
    phone = open_page(f"{web}/", viewport=MOBILE)
    open_chat(phone)
    for href in ("tel:988", "sms:988", "tel:911", "tel:18006624357"):
        expect(phone.locator(f'#kf-helpbar a[href="{href}"]')).to_be_in_viewport()


def test_keyboard_focus_in_the_help_bar_survives_the_helplines_arriving(open_page, web):
    """Someone tabs into the bar before /helplines.json has loaded; the re-rendered bar keeps their focus."""
    held = []
    page = open_page(f"{web}/", before=lambda p: p.route("**/helplines.json", lambda route: held.append(route)))
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for /helplines.json"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "sms:988"

    lines = json.loads(requests.get(f"{web}/helplines.json", timeout=10).text)
    lines["helplines"].append({"id": "clinic", "name": "Riverside Clinic", "number": "555-0100", "call": "5550100"})
    held[0].fulfill(status=200, content_type="application/json", body=json.dumps(lines))
    expect(page.locator("#kf-helpbar")).to_contain_text("Riverside Clinic")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "sms:988"
    assert_focus_visible(page)


def test_help_bar_works_without_javascript(open_page, web):
    page = open_page(f"{web}/", java_script_enabled=False)
    links = hrefs(page.locator("#kf-helpbar"))
    assert {"tel:988", "sms:988", "tel:911", "tel:18006624357"} <= set(links)


@pytest.mark.parametrize("javascript", [True, False], ids=["rendered", "static"])
def test_help_bar_links_are_large_on_a_phone_and_named_by_their_text(open_page, web, javascript):
    """44 px targets at phone size; "Call 1-800-222-1222" is not named "Call Poison Help, ...".
    Both the bar widget.js renders from /helplines.json and the one in index.html."""
    phone = open_page(f"{web}/", viewport=MOBILE, java_script_enabled=javascript)
    if javascript:
        expect(phone.locator(".kf-launcher")).to_be_visible()  # built after /helplines.json arrived
    links = phone.locator("#kf-helpbar a")
    expect(links).to_have_count(5)
    sizes = assert_large_targets(links)
    for link in links.all():
        expect(link).to_be_in_viewport(ratio=1)
    assert_named_by_visible_text(links)
    expect(phone.locator('#kf-helpbar a[href="tel:18002221222"]')).to_have_accessible_name(
        "Call 1-800-222-1222, Poison Help"
    )
    print("help bar at 375 px:", [(s["text"], round(s["height"], 1)) for s in sizes])

    desktop = open_page(f"{web}/", java_script_enabled=javascript)
    assert_named_by_visible_text(desktop.locator("#kf-helpbar a"))


def test_helplines_json_follows_the_yaml_a_deployer_edits(open_page, tmp_path):
    helplines = yaml.safe_load((ROOT / "knowledge" / "helplines.yml").read_text())
    helplines["helplines"].append(
        {
            "id": "clinic",
            "name": "Riverside Clinic nurse line",
            "number": "555-0100",
            "call": "5550100",
            "about": "Our own nurses, weekdays.",
        }
    )
    shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    custom = tmp_path / "knowledge" / "helplines.yml"
    custom.write_text(yaml.safe_dump(helplines))
    # No assistant at this address: the message fails at once and the fallback lists the lines.
    process, origin = serve_web(
        tmp_path, f"http://127.0.0.1:{free_port()}", ["--knowledge-dir", str(tmp_path / "knowledge")]
    )
    try:
        page = open_page(f"{origin}/")
        expect(page.locator('#kf-helpbar a[href="tel:5550100"]')).to_be_visible()
        expect(page.locator("#kf-helpbar")).to_contain_text("Riverside Clinic nurse line")
        open_chat(page)
        notice = ask(page, "what is klonopin")
        expect(notice).to_contain_text("can't be reached")
        assert "tel:5550100" in hrefs(notice)

        # Edited while the server runs: the next page load has it, no restart.
        helplines["helplines"][-1]["name"] = "Riverside Clinic 24/7 line"
        custom.write_text(yaml.safe_dump(helplines))
        page.reload()
        expect(page.locator("#kf-helpbar")).to_contain_text("Riverside Clinic 24/7 line")

        # /helplines.json unreachable: the lines the server put in the page stand in (widget.js has none).
        offline = open_page(f"{origin}/", before=lambda p: p.route("**/helplines.json", lambda route: route.abort()))
        expect(offline.locator('#kf-helpbar a[href="tel:5550100"]')).to_be_visible()
        open_chat(offline)
        notice = ask(offline, "what is klonopin")
        expect(notice).to_contain_text("Riverside Clinic 24/7 line")
        assert {"tel:5550100", "tel:988", "sms:988", "tel:911"} <= set(hrefs(notice))
    finally:
        stop(process)


# ---------------------------------------------------------------- where the page sends messages


def test_config_json_and_csp_name_only_the_configured_rasa(web, assistant, tmp_path):
    configured = f"http://127.0.0.1:{assistant.rasa_port}"
    config = requests.get(f"{web}/config.json", timeout=10)
    assert config.status_code == 200
    assert config.headers["Content-Type"].startswith("application/json")
    assert config.json() == {"rasa": configured, "max_message_chars": 2000}
    for path in ("/", "/widget.js", "/config.json", "/helplines.json"):
        assert connect_src(requests.get(f"{web}{path}", timeout=10)) == ["'self'", configured], path

    # A path on the Rasa URL is kept (no trailing slash); the CSP names only its origin.
    # And $RASA_URL is the default when --rasa-url is not given.
    # $MAX_MESSAGE_CHARS, the REST channel's limit, is the page's too.
    process, origin = serve_web(
        tmp_path, extra_env={"RASA_URL": "https://Assistant.example.org/rasa/", "MAX_MESSAGE_CHARS": "500"}
    )
    try:
        assert requests.get(f"{origin}/config.json", timeout=10).json() == {
            "rasa": "https://Assistant.example.org/rasa",
            "max_message_chars": 500,
        }
        assert connect_src(requests.get(f"{origin}/", timeout=10)) == ["'self'", "https://assistant.example.org"]
    finally:
        stop(process)

    # Something that is not a plain http(s) URL is refused at start, not put into the header.
    for bad in ("javascript:alert(1)", "http://evil.example; connect-src *", "http://user:pw@host:5005"):
        refused = subprocess.run(
            [sys.executable, "-m", "web.server", "--port", str(free_port()), "--rasa-url", bad],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 2 and "--rasa-url" in refused.stderr, (bad, refused.stderr)


def test_a_rasa_parameter_in_the_page_url_is_ignored(open_page, web, assistant):
    """A crafted link with ?rasa= must not make the page talk to (and show the answers of) another server."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(16)
        other.setblocking(False)
        other_port = other.getsockname()[1]
        requested = []
        page = open_page(
            f"{web}/?rasa=http://127.0.0.1:{other_port}",
            before=lambda p: p.on("request", lambda request: requested.append(request.url)),
        )
        open_chat(page)
        assert page.evaluate("window.KlonopinChat.rasaBase()") == f"http://127.0.0.1:{assistant.rasa_port}"
        answer = ask(page, "what is klonopin")
        expect(answer).to_contain_text("clonazepam")
        expect(answer).to_contain_text("Sources:")
        assert assistant.webhook in requested, requested
        assert not [url for url in requested if urlsplit(url).port == other_port], requested
        with pytest.raises(BlockingIOError):  # nothing ever connected to the other port
            other.accept()


# ---------------------------------------------------------------- talking to the assistant


def test_a_question_gets_a_readable_sourced_answer(chat):
    open_chat(chat)
    expect(chat.get_by_role("log", name="Conversation")).to_have_attribute("aria-live", "polite")
    answer = ask(chat, "what is klonopin")

    expect(answer).to_contain_text("clonazepam")
    expect(answer).to_contain_text("Sources:")
    sources = answer.locator(".kf-sources")
    expect(sources).to_have_count(1)
    expect(sources).to_contain_text("What Is Klonopin?")
    # "- " lines are a real list, and no raw newlines or dashes are left over.
    assert answer.locator("li").count() >= 2
    assert not any(item.startswith("- ") for item in answer.locator("li").all_inner_texts())
    # The helpline number in the closing line is a working tel: link.
    assert any(href.startswith("tel:") for href in hrefs(answer)), hrefs(answer)

    chat.locator(".kf-log").evaluate("log => { log.scrollTop = log.scrollHeight; }")  # the sources and help line
    chat.screenshot(path=str(SHOTS / "widget.png"))


def test_suggestion_buttons_send_their_payload(chat):
    open_chat(chat)
    unsure = ask(chat, "hmm")
    buttons = unsure.get_by_role("group", name="Suggestions").get_by_role("button")
    assert buttons.count() >= 2
    title = buttons.first.inner_text()

    before = chat.locator(REPLIES).count()
    buttons.first.click()
    expect(chat.locator(SENT).last).to_have_text(title)  # the title is shown, not "/ask_..."
    answer = wait_for_replies(chat, before)
    expect(answer).not_to_contain_text("not sure I understood")
    if title != "What can you answer?":
        expect(answer).to_contain_text("Source")

    # The same from the keyboard: back from the input to "What can you answer?", then Enter.
    chat.get_by_label("Your question").focus()
    before = chat.locator(REPLIES).count()
    tab_to(chat, ".kf-suggestion", backwards=True)
    assert_focus_visible(chat)
    chat.keyboard.press("Enter")
    wait_for_replies(chat, before)


def test_history_and_sender_survive_a_reload(chat):
    open_chat(chat)
    answer = ask(chat, "what is klonopin")
    titles = re.findall(r"\u201c([^\u201d]+)\u201d", answer.locator(".kf-sources").inner_text())
    assert titles
    texts = chat.locator(".kf-msg").all_inner_texts()
    sender = stored(chat)["sender"]
    assert sender.startswith("web-")

    chat.reload()
    expect(chat.locator("#kf-panel")).to_be_visible()  # it was open, it stays open
    expect(chat.locator(".kf-msg")).to_have_count(len(texts))
    assert chat.locator(".kf-msg").all_inner_texts() == texts
    assert stored(chat)["sender"] == sender
    # Same sender, so the assistant remembers the last answer across the reload.
    sources = ask(chat, "where is that from?")
    expect(sources).to_contain_text("came from these articles")
    for title in titles:
        expect(sources).to_contain_text(title)

    # "Start over" forgets the conversation and the sender.
    chat.get_by_role("button", name="Start over").click()
    expect(chat.locator(".kf-msg.kf-user")).to_have_count(0)
    assert stored(chat)["sender"] != sender


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "phone"])
def test_a_crisis_message_shows_a_crisis_card_with_large_call_and_text_links(open_page, web, viewport):
    page = open_page(f"{web}/", viewport=viewport)
    open_chat(page)
    card = ask(page, "i want to kill myself")
    sizes = assert_crisis_card(card)
    expect(card).to_contain_text("Suicide & Crisis Lifeline")
    for link in card.locator(CARD_LINKS).all():  # on screen as the reply arrives, not below the fold
        expect(link).to_be_in_viewport(ratio=1)
    # Every number in the text that has a large button is not linked a second time.
    assert sorted(hrefs(card)) == sorted(href for _, href in CRISIS_LINKS), hrefs(card)
    assert_contrast_aa(page)
    if viewport == MOBILE:
        # Large on a 375 px screen, not just tall: together the links fill the card's width.
        row = card.locator(".kf-crisis-actions").bounding_box()
        span = max(s["x"] + s["width"] for s in sizes) - min(s["x"] for s in sizes)
        assert span >= 0.95 * row["width"] and all(s["height"] >= 48 for s in sizes), (row, sizes)
        page.screenshot(path=str(SHOTS / "widget-crisis.png"))
    print(
        f"crisis card links at {viewport['width']} px:",
        [(s["text"], round(s["height"], 1), round(s["width"], 1)) for s in sizes],
    )

    # Still a card after a reload, rendered again from localStorage.
    assert [b["payload"] for b in stored(page)["messages"][-1]["buttons"]] == [href for _, href in CRISIS_LINKS]
    page.reload()
    expect(page.locator(".kf-msg")).to_have_count(2)
    assert_crisis_card(page.locator(CARD))


def test_clicking_a_call_or_text_link_sends_nothing_to_the_assistant(chat, assistant):
    open_chat(chat)
    card = ask(chat, "my friend took a bunch of pills and won't wake up")
    assert_crisis_card(card, [("Call 911", "tel:911"), ("Call Poison Help 1-800-222-1222", "tel:18002221222")])
    expect(card.locator(CARD_LINKS).last).to_have_accessible_name("Call Poison Help 1-800-222-1222")

    posted = []
    chat.on("request", lambda request: posted.append(request.post_data) if request.url == assistant.webhook else None)
    # Runs after the widget's own handlers: records whether they let the link do its job
    # (dial), then stops headless Chromium from trying to open a phone app.
    chat.evaluate("""() => { window.__clicks = [];
      window.addEventListener('click', e => { const a = e.target.closest('a');
        if (a) { window.__clicks.push([a.getAttribute('href'), e.defaultPrevented]); e.preventDefault(); } }); }""")
    sent = chat.locator(SENT).count()
    links = card.locator(CARD_LINKS)
    links.first.click()
    links.last.focus()
    chat.keyboard.press("Enter")
    chat.wait_for_timeout(1000)
    assert chat.evaluate("window.__clicks") == [["tel:911", False], ["tel:18002221222", False]]
    assert posted == []
    expect(chat.locator(SENT)).to_have_count(sent)
    expect(chat.locator(".kf-typing-on")).to_have_count(0)


def test_crisis_card_links_only_digits_and_keeps_other_buttons_as_suggestions(chat, assistant):
    """Faked at the network: a crisis reply between two plain messages, with odd payloads."""
    buttons = [
        {"title": "Call 988", "payload": "tel:988"},
        {"title": "Quitting safely", "payload": "/ask_quitting"},
        {"title": "Text us", "payload": "sms:+15550100"},
        {"title": "Bad 1", "payload": "tel:988;ext=1"},
        {"title": "Bad 2", "payload": "sms:javascript:alert(1)"},
        {"title": "Bad 3", "payload": "tel:"},
        {"title": "Bad 4", "payload": "tel:+1 800 222 1222"},
        {"title": "Bad 5", "payload": " TEL:911?body=x"},
        {"title": "Call Poison Help", "payload": "TEL:18002221222"},
    ]
    crisis = [
        {"recipient_id": "x", "text": "Before the crisis."},
        {"recipient_id": "x", "text": "Call 988 or 911 now.", "buttons": buttons},
        {"recipient_id": "x", "text": "After the crisis."},
    ]
    posted = []

    def reply(route):
        message = json.loads(route.request.post_data)["message"]
        posted.append(message)
        body = crisis if message == "help" else [{"recipient_id": "x", "text": "About quitting."}]
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(body),
            headers={"Access-Control-Allow-Origin": "*"},
        )

    chat.route(assistant.webhook, reply)
    open_chat(chat)
    ask(chat, "help")
    replies = chat.locator(REPLIES)
    expect(replies).to_have_count(3)  # the crisis reply is a card of its own
    expect(replies.nth(0)).to_have_text("Assistant: Before the crisis.")
    expect(replies.nth(2)).to_have_text("Assistant: After the crisis.")
    expect(chat.locator(CARD)).to_have_count(1)
    card = replies.nth(1)
    assert_crisis_card(
        card,
        [
            ("Call 988", "tel:988"),
            ("Text us +15550100", "sms:+15550100"),
            ("Call Poison Help 1-800-222-1222", "tel:18002221222"),
        ],
    )
    expect(card).not_to_contain_text("Bad")
    assert hrefs(card) == ["tel:911", "tel:988", "sms:+15550100", "tel:18002221222"]  # 911 has no button: inline

    suggestions = card.get_by_role("group", name="Suggestions").get_by_role("button")
    expect(suggestions).to_have_text(["Quitting safely"])
    expect(card.get_by_role("button")).to_have_count(1)
    suggestions.click()
    expect(chat.locator(SENT).last).to_have_text("Quitting safely")
    wait_for_replies(chat, 3)
    assert posted == ["help", "/ask_quitting"]


def test_a_crisis_message_shows_988(open_page, web):
    page = open_page(f"{web}/", viewport=MOBILE)
    open_chat(page)
    reply = ask(page, "i want to end it")
    assert_crisis_card(reply)  # a veiled message gets the card too
    expect(reply).to_contain_text("988")
    expect(reply.locator('a[href="tel:988"]')).to_be_visible()
    expect(reply.locator('a[href="tel:911"]').first).to_be_visible()
    page.screenshot(path=str(SHOTS / "widget-mobile.png"))


def test_asking_for_someone_to_talk_to_lists_every_helpline_with_call_and_text_links(chat):
    open_chat(chat)
    reply = ask(chat, "is there a number i can call")
    links = hrefs(reply)
    assert {"tel:988", "sms:988", "tel:911", "tel:18002221222", "tel:18006624357"} <= set(links), links
    expect(reply.locator('a[href="sms:988"]')).to_have_accessible_name("Text 988, 988 Suicide & Crisis Lifeline")
    expect(reply.locator('a[href="sms:988"]')).to_have_text("Text 988")
    expect(reply).not_to_contain_text("(text)")
    assert_named_by_visible_text(reply.locator("a"))
    expect(reply.locator(CARD_LINKS)).to_have_count(0)  # the numbers of an answer are not a crisis card


def test_a_script_message_is_shown_as_text_and_runs_nothing(chat):
    open_chat(chat)
    reply = ask(chat, SCRIPT_MESSAGE)
    expect(chat.locator(SENT).last).to_have_text(SCRIPT_MESSAGE)
    expect(reply).to_be_visible()
    assert chat.locator(".kf-log script, .kf-log img").count() == 0
    assert chat.evaluate("window.__injected") is None
    # And after a reload, from localStorage, still only text.
    chat.reload()
    expect(chat.locator(SENT).last).to_have_text(SCRIPT_MESSAGE)
    assert chat.locator(".kf-log script, .kf-log img").count() == 0
    assert chat.evaluate("window.__injected") is None


def test_assistant_text_and_button_titles_are_never_html(chat, assistant):
    """Rasa would never send this, but a widget must not trust it: the reply is faked at the network."""
    hostile = [
        {
            "recipient_id": "x",
            "text": "<b>bold?</b>\n- <img src=x onerror='window.__injected=3'>",
            "buttons": [{"title": "<img src=x onerror='window.__injected=4'>", "payload": "/greet"}],
        }
    ]
    chat.route(
        f"http://127.0.0.1:{assistant.rasa_port}/webhooks/rest/webhook",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(hostile),
            headers={"Access-Control-Allow-Origin": "*"},
        ),
    )
    open_chat(chat)
    reply = ask(chat, "hello")
    expect(reply).to_contain_text("<b>bold?</b>")
    expect(reply.locator("li")).to_have_text("<img src=x onerror='window.__injected=3'>")
    expect(reply.get_by_role("button")).to_have_text("<img src=x onerror='window.__injected=4'>")
    assert chat.locator(".kf-log b, .kf-log img").count() == 0
    assert chat.evaluate("window.__injected") is None


def test_keyboard_labels_focus_and_contrast(chat):
    # From the top of the page, Tab reaches the help bar first, then the launcher.
    expect(chat.locator(".kf-launcher")).to_be_visible()  # widget.js has loaded /helplines.json
    tab_to(chat, "#kf-helpbar a")
    assert_focus_visible(chat)
    tab_to(chat, ".kf-launcher")
    assert_focus_visible(chat)
    chat.keyboard.press("Enter")
    box = chat.get_by_label("Your question")
    expect(box).to_be_focused()
    assert_focus_visible(chat)
    chat.keyboard.type("what are the side effects")
    chat.keyboard.press("Enter")
    wait_for_replies(chat, 0)

    # Every control has a name a screen reader can read out.
    for control in chat.locator(".kf-widget button, .kf-widget textarea, #kf-helpbar a").all():
        name = control.evaluate("e => e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent")
        assert name and name.strip(), control.evaluate("e => e.outerHTML")
    expect(chat.get_by_role("button", name="Close chat")).to_be_visible()
    expect(chat.get_by_role("button", name="Send")).to_be_visible()

    ask(chat, "hmm")  # suggestion buttons on screen too
    assert_contrast_aa(chat)

    # Escape closes the panel and gives focus back to the launcher.
    box.focus()
    chat.keyboard.press("Escape")
    expect(chat.locator("#kf-panel")).to_be_hidden()
    expect(chat.locator(".kf-launcher")).to_be_focused()


# ------------------------------------------- the input and the crisis wording (no Rasa: faked at the network)


def page_with_fake_assistant(
    open_page, tmp_path: Path, replies: Callable[[str], List[Dict]], extra_args: List[str] = ()
):
    """The page from its own web/server.py, its Rasa address answered by `replies(message)` in the
    browser; returns (page, posted messages, web server process)."""
    rasa = f"http://127.0.0.1:{free_port()}"
    process, origin = serve_web(tmp_path, rasa, list(extra_args), extra_env={"MAX_MESSAGE_CHARS": ""})
    posted = []

    def answer(route):
        message = json.loads(route.request.post_data)["message"]
        posted.append(message)
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(replies(message)),
            headers={"Access-Control-Allow-Origin": "*"},
        )

    page = open_page(f"{origin}/", before=lambda p: p.route(f"{rasa}/webhooks/rest/webhook", answer))
    return page, posted, process


def test_crisis_wording_reads_as_written_with_a_text_link_after_it(open_page, tmp_path):
    """ "call or text 988." stays that sentence ("988" a tel: link), not "call or text 988 (text)";
    the sms: link follows the paragraph, once, as "Text 988"."""
    text = (
        "In an emergency call 911; for thoughts of suicide call or text 988. 988 is also for any "
        "emotional distress.\n- Poison Help: 1-800-222-1222"
    )
    page, _, process = page_with_fake_assistant(open_page, tmp_path, lambda m: [{"recipient_id": "x", "text": text}])
    try:
        open_chat(page)
        reply = ask(page, "help lines?")
    finally:
        stop(process)
    paragraph = reply.locator("p").first
    expect(paragraph).to_have_text(
        "In an emergency call 911; for thoughts of suicide call or text 988. 988 is also "
        "for any emotional distress. Text 988"
    )
    expect(reply).not_to_contain_text("(text)")
    links = paragraph.locator("a")
    expect(links).to_have_text(["911", "988", "988", "Text 988"])
    assert hrefs(paragraph) == ["tel:911", "tel:988", "tel:988", "sms:988"]
    assert_named_by_visible_text(reply.locator("a"))
    expect(links.first).to_have_accessible_name("911, call Emergency services")
    expect(links.last).to_have_accessible_name("Text 988, 988 Suicide & Crisis Lifeline")
    expect(reply.locator("li a")).to_have_text(["1-800-222-1222"])  # no text line: no Text link


def test_the_input_takes_several_lines_and_counts_toward_the_limit_without_cutting(open_page, tmp_path):
    """Enter sends, Shift+Enter starts a line; "n / limit" under the box, with the limit from
    /config.json (--max-message-chars, here 40); at the limit a message says so; a longer
    paste is kept whole, refused with a message, and not sent."""
    page, posted, process = page_with_fake_assistant(
        open_page, tmp_path, lambda m: [{"recipient_id": "x", "text": "Got it."}], ["--max-message-chars", "40"]
    )
    try:
        open_chat(page)
        box = page.get_by_label("Your question")
        assert box.evaluate("e => e.tagName") == "TEXTAREA"
        count, limit = page.locator("#kf-count"), page.locator("#kf-limit")
        expect(count).to_have_text("0 / 40 characters")  # " characters" is for screen readers only
        expect(count.locator(".kf-vh")).to_have_text(" characters")
        expect(box).to_have_accessible_description(re.compile(r"^0 / 40 characters"))

        box.type("line one")
        box.press("Shift+Enter")
        box.type("line two")
        assert box.input_value() == "line one\nline two"
        expect(count).to_contain_text("17 / 40")
        expect(limit).to_have_text("")
        tall = box.bounding_box()["height"]
        box.press("Enter")
        expect(page.locator(SENT).last).to_have_text("line one\nline two")
        wait_for_replies(page, 0)
        assert posted == ["line one\nline two"]
        assert tall >= 44 and page.locator(SENT).last.bounding_box()["height"] > 40  # two lines shown as two
        expect(box).to_have_value("")
        expect(count).to_contain_text("0 / 40")

        box.fill("x" * 40)
        expect(count).to_contain_text("40 / 40")
        expect(limit).to_have_text("That's the limit: the assistant reads up to 40 characters per message.")
        expect(limit).to_have_attribute("role", "status")
        assert_contrast_aa(page)

        box.fill("y" * 55)  # as a paste would: nothing is cut
        expect(box).to_have_value("y" * 55)
        expect(limit).to_have_text("Too long to send: 55 characters, the limit is 40. Please shorten it by 15.")
        expect(box).to_have_attribute("aria-invalid", "true")
        box.press("Enter")
        page.get_by_role("button", name="Send").click()
        page.wait_for_timeout(500)
        assert posted == ["line one\nline two"]
        expect(box).to_have_value("y" * 55)
        expect(limit).to_contain_text("Too long to send")
        assert_contrast_aa(page)
    finally:
        stop(process)


def test_the_limit_is_2000_when_the_server_does_not_say(open_page, tmp_path):
    process, origin = serve_web(tmp_path, f"http://127.0.0.1:{free_port()}", extra_env={"MAX_MESSAGE_CHARS": ""})
    try:
        assert requests.get(f"{origin}/config.json", timeout=10).json()["max_message_chars"] == 2000
        page = open_page(f"{origin}/", before=lambda p: p.route("**/config.json", lambda route: route.abort()))
        open_chat(page)
        expect(page.locator("#kf-count")).to_contain_text("0 / 2000")
        page.get_by_label("Your question").fill("z" * 2001)
        expect(page.locator("#kf-limit")).to_contain_text("the limit is 2000")
    finally:
        stop(process)


# ---------------------------------------------------------------- when the assistant does not answer


def test_rasa_allows_the_widget_origin_and_no_other(assistant, web):
    def allowed(origin: str):
        preflight = requests.options(
            assistant.webhook,
            timeout=10,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        return preflight.headers.get("Access-Control-Allow-Origin")

    assert allowed(web) == web
    assert allowed("http://evil.example") is None


def test_no_answer_within_10_seconds_shows_the_helplines(open_page, tmp_path):
    """A server that takes the connection and never answers: the widget gives up after 10 s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections queue up, nothing is ever read or sent
        process, origin = serve_web(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}")
        try:
            page = open_page(f"{origin}/")
            open_chat(page)
            started = time.monotonic()
            notice = ask(page, "what is klonopin")
            waited = time.monotonic() - started
        finally:
            stop(process)
    assert 9.5 <= waited <= 20, waited
    expect(notice).to_contain_text("didn't answer within 10 seconds")
    links = hrefs(notice)
    assert {"tel:988", "sms:988", "tel:911", "tel:18006624357"} <= set(links)
    assert_named_by_visible_text(notice.locator("a"))
    expect(page.locator(".kf-typing-on")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "widget-timeout.png"))


def test_action_server_down_the_web_chat_still_gets_a_reply_with_the_helplines(chat, assistant, kb):
    """Next to last in this file: it stops the action server the other tests use. Rasa 3.6 alone
    would send nothing (rasa#7630); the REST channel sends the apology (channels/door.py)."""
    open_chat(chat)
    stop(assistant.actions)
    reply = ask(chat, "how long does withdrawal last")
    expect(reply).to_contain_text(kb.channel_replies["no_reply"].text.split(". ")[0])  # the widget adds links after
    expect(reply).to_contain_text("988")
    expect(reply).to_contain_text("911")
    expect(chat.locator(".kf-typing-on")).to_have_count(0)


def test_assistant_down_shows_the_helplines(chat, assistant):
    """Last in this file: it stops the Rasa server the other tests use."""
    open_chat(chat)
    ask(chat, "what is klonopin")
    stop(assistant.rasa)

    started = time.monotonic()
    notice = ask(chat, "how long does withdrawal last")
    assert time.monotonic() - started < 10  # a refused connection is reported at once, no spinning
    expect(notice).to_contain_text("can't be reached")
    expect(notice).to_contain_text("988 Suicide & Crisis Lifeline")
    links = hrefs(notice)
    assert {"tel:988", "sms:988", "tel:911", "tel:18002221222", "tel:18006624357"} <= set(links)
    expect(notice.get_by_role("button", name="Try again")).to_be_visible()
    expect(chat.locator(".kf-typing-on")).to_have_count(0)
    assert_contrast_aa(chat)
    chat.screenshot(path=str(SHOTS / "widget-offline.png"))
