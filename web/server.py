"""Serves the web chat: the page (web/index.html, rendered), the widget, /config.json and /helplines.json.

    .venv/bin/python -m web.server [--port 8080] [--host 127.0.0.1] \
        [--rasa-url http://localhost:5005] [--knowledge-dir knowledge] [--language en]

Then open http://localhost:8080/.

The page is rendered on every request from the knowledge base (actions/knowledge.py's
loader, so $KNOWLEDGE_DIR counts as for the action server): its texts from
knowledge/web.yml, the help bar's lines from knowledge/helplines.yml. The help bar works
without JavaScript, and the widget's texts and helplines travel in the page as a JSON data
block, so a deployer's edit shows up on the next page load, and the widget still shows the
lines when /helplines.json cannot be fetched. /helplines.json is built the same way.

/config.json tells the page which Rasa server to talk to and the longest message it
reads: {"rasa": "<--rasa-url>", "max_message_chars": <--max-message-chars>}; the
latter is $MAX_MESSAGE_CHARS by default, as for the REST channel (channels/door.py), else 2000.
That address is server-side configuration only (--rasa-url, else $RASA_URL, else
http://localhost:5005); the page ignores any ?rasa= in its own URL, so a crafted
link cannot make it show another server's answers. The Content-Security-Policy
lets fetch() reach only this server and that one origin.

An idle or stalled connection is closed after --timeout seconds (default 10), and
at most --max-threads connections are served at once; more wait in the listen
backlog until a thread is free, so idle clients cannot pile up threads. A path
with a NUL, a control character or percent-encoding that is not UTF-8 gets 400.
Only the standard library's HTTP server is used.
"""

import argparse
import io
import json
import os
import re
import sys
import threading
from functools import partial
from html import escape
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit

import yaml

from actions import knowledge

WEB_DIR = Path(__file__).resolve().parent
PAGE = WEB_DIR / "index.html"
PAGE_PATHS = ("/", "/index.html")
STATIC_SUFFIXES = (".js", ".css")  # the widget; every other file in web/ is not for browsers
# {{ name }} in index.html: page.<key> of web.yml, or lang, helpbar, data (see render_page).
SLOT = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
# What the knowledge loader raises on a missing or malformed file.
KNOWLEDGE_ERRORS = (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError)
DEFAULT_RASA_URL = "http://localhost:5005"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_THREADS = 32
DEFAULT_MAX_MESSAGE_CHARS = 2000  # channels/door.py's default


def rasa_url(value: str) -> str:
    """An http(s) URL with a plain host and optional port and path; no credentials, query or fragment.
    Returned without a trailing slash. Anything else is refused, since it also goes into the CSP header."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--rasa-url: not a valid URL: {value!r} ({error})") from error
    host = parts.hostname or ""
    plain_host = re.fullmatch(r"[A-Za-z0-9.-]+", host) or (":" in host and re.fullmatch(r"[0-9A-Fa-f:.]+", host))
    if (
        parts.scheme not in ("http", "https")
        or not plain_host
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or re.search(r"[\s;,'\"]", value)
    ):
        raise argparse.ArgumentTypeError(f"--rasa-url must be a plain http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def url_origin(url: str) -> str:
    """scheme://host[:port], as a CSP source expression."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def dial_string(value: Any) -> str:
    """Only what a phone can dial goes into a tel:/sms: link."""
    return re.sub(r"[^0-9+*#]", "", str(value or ""))


def helplines_json(kb: knowledge.KnowledgeBase) -> Dict[str, List[Dict[str, str]]]:
    """The lines a phone can reach, with only dialable characters in their links."""
    lines = []
    for line in kb.helplines.values():
        call, text = dial_string(line.call), dial_string(line.text)
        if not (line.name and line.number and (call or text)):
            continue
        lines.append(
            {
                "id": str(line.id),
                "name": str(line.name),
                "number": str(line.number),
                "call": call,
                "text": text,
                "about": str(line.about or ""),
            }
        )
    return {"helplines": lines}


def helpbar_html(lines: List[Dict[str, str]], links: Dict[str, str]) -> str:
    """The help bar's list items: each line's name, then its Call and Text links."""
    items = []
    for line in lines:
        anchors = [
            f'<a href="{scheme}:{escape(line[kind])}" '
            f'aria-label="{escape(knowledge.fill(links[kind + "_name"], **line))}">'
            f"{escape(knowledge.fill(links[kind], **line))}</a>"
            for kind, scheme in (("call", "tel"), ("text", "sms"))
            if line[kind]
        ]
        items.append(
            f'<li class="kf-line"><span class="kf-line-name">{escape(line["name"])}</span>\n        '
            + "\n        ".join(anchors)
            + "</li>"
        )
    return "\n      ".join(items)


def with_tel_links(text: str, lines: List[Dict[str, str]]) -> str:
    """`text` as HTML, each {<helpline id>} in it the line's number as a tel: link."""
    html = escape(text)
    for line in lines:
        if line["call"]:
            link = f'<a href="tel:{escape(line["call"])}">{escape(line["number"])}</a>'
            html = html.replace("{" + line["id"] + "}", link)
    return html


def widget_data(kb: knowledge.KnowledgeBase, lines: List[Dict[str, str]], language: str) -> Dict[str, Any]:
    """What widget.js reads from the page: its texts, the link texts, the labels of an answer's
    sources line (messages.yml), and the helplines, used until (or if not) /helplines.json arrives."""
    texts = {
        **kb.web.section("widget", language),
        "links": kb.web.section("links", language),
        "source_labels": [kb.say("citation_label", language), kb.say("citation_labels", language)],
    }
    return {"language": language, "texts": texts, "helplines": lines}


def render_page(template: str, kb: knowledge.KnowledgeBase, language: str) -> str:
    """index.html with its {{ slots }} filled; a slot the knowledge base lacks is an error."""
    lines = helplines_json(kb)["helplines"]
    # In a <script> data block only "<" could end it early; JSON can say it as \u003c.
    data = json.dumps(widget_data(kb, lines, language), ensure_ascii=False).replace("<", "\\u003c")
    values = {f"page.{key}": with_tel_links(str(text), lines) for key, text in kb.web.section("page", language).items()}
    values.update(
        {"lang": escape(language), "helpbar": helpbar_html(lines, kb.web.section("links", language)), "data": data}
    )
    return SLOT.sub(lambda match: values[match.group(1)], template)


def security_headers(rasa: str) -> Dict[str, str]:
    """Scripts and styles only from this server; fetch() only to this server and the configured Rasa origin."""
    return {
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {url_origin(rasa)}; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def valid_path(raw: str) -> bool:
    """False for a path the file system cannot take: NUL or other control
    characters, or percent-encoding that is not UTF-8, before or after decoding."""
    path = urlsplit(raw).path
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return False
    return not re.search(r"[\x00-\x1f\x7f]", path + decoded)


class Handler(SimpleHTTPRequestHandler):
    knowledge_dir: Optional[Path] = None  # None: $KNOWLEDGE_DIR, else knowledge/ (actions/knowledge.py)
    language: str = knowledge.DEFAULT_LANGUAGE
    rasa: str = DEFAULT_RASA_URL
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    # socketserver applies it to the connection: an idle or stalled client is
    # dropped instead of holding its thread forever.
    timeout = DEFAULT_TIMEOUT

    def end_headers(self) -> None:
        for name, value in security_headers(self.rasa).items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:  # http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/helplines.json":
            self.send_helplines()
        elif path == "/config.json":
            self.send_json({"rasa": self.rasa, "max_message_chars": self.max_message_chars})
        else:
            super().do_GET()

    def send_head(self) -> Optional[BinaryIO]:  # GET and HEAD for files go through here
        if not valid_path(self.path):
            self.send_error(HTTPStatus.BAD_REQUEST, "Invalid path")
            return None
        path = urlsplit(self.path).path
        if path in PAGE_PATHS:
            return self.send_page()
        if not path.endswith(STATIC_SUFFIXES):  # not this server's source, the README, the template
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        return super().send_head()

    def knowledge_base(self) -> Optional[knowledge.KnowledgeBase]:
        """Read on every request, so an edit shows on the next page load; None (and a 500) if unreadable."""
        try:
            return knowledge.load(self.knowledge_dir)
        except KNOWLEDGE_ERRORS as error:
            self.log_error("cannot read the knowledge base in %s: %s", self.knowledge_dir or "$KNOWLEDGE_DIR", error)
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "knowledge base unavailable")
            return None

    def send_page(self) -> Optional[BinaryIO]:
        kb = self.knowledge_base()
        if kb is None:
            return None
        try:
            page = render_page(PAGE.read_text(encoding="utf-8"), kb, self.language)
        except KNOWLEDGE_ERRORS as error:
            self.log_error("cannot render %s: %s", PAGE, error)
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "page unavailable")
            return None
        return self.send_body(page.encode("utf-8"), "text/html; charset=utf-8")

    def send_helplines(self) -> None:
        kb = self.knowledge_base()
        if kb is not None:
            self.send_json(helplines_json(kb))

    def send_json(self, data: Any) -> None:
        body = self.send_body(json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")
        self.wfile.write(body.getvalue())

    def send_body(self, body: bytes, content_type: str) -> io.BytesIO:
        """Sends the status and headers for `body`; returns it for do_GET to copy (do_HEAD does not)."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def list_directory(self, path: Union[str, "os.PathLike[str]"]) -> Optional[io.BytesIO]:  # no directory listings
        self.send_error(HTTPStatus.NOT_FOUND)
        return None


class BoundedThreadingHTTPServer(ThreadingHTTPServer):
    """A thread per connection, but at most `max_threads` at once.

    At the limit the accept loop waits for a free thread, so further
    connections queue in the kernel's listen backlog instead of as threads.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], handler: Any, max_threads: int = DEFAULT_MAX_THREADS):
        self.slots = threading.BoundedSemaphore(max_threads)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or stalls is not a server fault: one line, no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            print(f"{client_address[0]}: connection ended: {error.__class__.__name__}", file=sys.stderr)
        else:
            super().handle_error(request, client_address)


def make_server(
    host: str, port: int, timeout: float = DEFAULT_TIMEOUT, max_threads: int = DEFAULT_MAX_THREADS
) -> BoundedThreadingHTTPServer:
    handler = type("ConfiguredHandler", (Handler,), {"timeout": timeout})
    return BoundedThreadingHTTPServer((host, port), partial(handler, directory=str(WEB_DIR)), max_threads)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", 8080)))
    parser.add_argument(
        "--host", default=os.environ.get("WEB_HOST", "127.0.0.1"), help="interface to listen on (0.0.0.0 for all)"
    )
    parser.add_argument(
        "--knowledge-dir",
        type=Path,
        default=None,
        help="the knowledge base: helplines.yml, web.yml and the rest (default: $KNOWLEDGE_DIR, else knowledge/)",
    )
    parser.add_argument(
        "--language",
        default=knowledge.DEFAULT_LANGUAGE,
        help="the language of the page's texts in web.yml (default: %(default)s)",
    )
    parser.add_argument(
        "--rasa-url",
        type=rasa_url,
        default=os.environ.get("RASA_URL") or DEFAULT_RASA_URL,
        help=f"the Rasa server the page talks to, served at /config.json (default: $RASA_URL or {DEFAULT_RASA_URL})",
    )
    parser.add_argument(
        "--max-message-chars",
        type=int,
        default=int(os.environ.get("MAX_MESSAGE_CHARS") or DEFAULT_MAX_MESSAGE_CHARS),
        help="the longest message the Rasa server reads, shown by the page's character count "
        "(default: $MAX_MESSAGE_CHARS or %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds an idle or stalled connection is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--max-threads", type=int, default=DEFAULT_MAX_THREADS, help="connections served at once (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    Handler.knowledge_dir = args.knowledge_dir
    Handler.language = args.language
    Handler.rasa = args.rasa_url
    Handler.max_message_chars = args.max_message_chars
    Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript", ".json": "application/json"}
    server = make_server(args.host, args.port, args.timeout, args.max_threads)
    source = args.knowledge_dir or os.environ.get("KNOWLEDGE_DIR") or knowledge.DEFAULT_DIR
    print(f"Web chat on http://localhost:{args.port}/ (Rasa at {args.rasa_url}, knowledge from {source})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
