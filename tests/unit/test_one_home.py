"""One home for each fact: no phone number and no sentence a person reads is written in the
product's Python, JavaScript or HTML; they come from knowledge/*.yml (or domain.yml's
responses), and what a deployer changes there shows on every channel.

The scan reads string constants (Python: through `ast`; JavaScript: a small tokenizer that
skips comments and regular expressions; HTML: text and the attributes a person hears or
reads). Developer-facing text may stay in code, and is told apart explicitly: docstrings,
log and print calls, raise and assert statements, argparse help, keys that are looked up or
matched (`.get("From")`, `d["# pxname"]`, `.count("...")`), regular expressions, the bodies
of HTTP errors for API clients ({"error": ...}), and the short DEVELOPER_TEXT list below.
"""

import ast
import asyncio
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest
import yaml

from actions import knowledge
from tests.conftest import ROOT, make_tracker

SCANNED = ["actions", "channels", "web", "nlu_components", "ops", "cluster", "rasa_sdk_plugins"]
SUFFIXES = {".py", ".js", ".html"}
# A US phone number as people write one, and the short codes (988, 911) standing alone.
US_PHONE = re.compile(r"(?<![\w.-])(?:1-)?\d{3}-\d{3}-\d{4}(?![\w-])|(?<![\w.-])(?:988|911)(?![\w.-])")

# Developer-facing text in the product's own code: (file, the function or variable it is in).
DEVELOPER_TEXT: Dict[Tuple[str, str], str] = {
    ("channels/rest.py", "NOT_AN_OBJECT"): "400 body for a malformed API request",
    ("channels/rest.py", "BAD_MESSAGE"): "400 body for a malformed API request",
    ("channels/rest.py", "BAD_SENDER"): "400 body for a malformed API request",
    ("channels/twilio_sms.py", "BAD_SIGNATURE"): "403 for a request Twilio did not sign",
    ("rasa_sdk_plugins/__init__.py", "presented_token"): "the HTTP Authorization scheme",
    ("ops/retention.py", "verb"): "the retention job's console output",
    ("cluster/run.py", "describe"): "the cluster's console output for the operator",
    ("cluster/fault_test.py", "QUESTIONS"): "what the load test sends, as a person would type it",
    ("cluster/fault_test.py", "summarise"): "the fault test's JSON report",
    ("cluster/fault_test.py", "print_summary"): "the fault test's console report",
    ("cluster/fault_test.py", "send"): "the load test's message reference",
    ("cluster/fault_test.py", "run"): "the fault test's report of its set-up",
    ("cluster/fault_test.py", "stock_endpoints"): "an endpoints.yml setting",
    ("cluster/lock_store.py", "ENQUEUE"): "a Lua script Redis runs",
    ("cluster/lock_store.py", "TURN"): "a Lua script Redis runs",
    ("web/server.py", "security_headers"): "the Content-Security-Policy header",
}
DEVELOPER_CALLS = {
    "debug",
    "info",
    "warning",
    "error",
    "exception",
    "critical",
    "log_error",
    "send_error",  # logs
    "print",
    "add_argument",
    "ArgumentParser",
    "add_parser",
    "warn",  # console and --help
    "execute",
    "query",  # SQL
    "compile",
    "search",
    "match",
    "fullmatch",
    "sub",
    "findall",  # regular expressions
}
# Calls whose first argument is a key or a text looked for, not one shown (the others may be).
LOOKUP_CALLS = {"get", "count", "replace", "startswith", "endswith", "split", "index", "find"}
# HTML attributes a person reads or hears.
TEXT_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder", "value"}
SLOT = re.compile(r"\{\{\s*[\w.]+\s*\}\}")
# "Send", " characters", "Hide chat", "Try again": a word, and a space or a capital.
WORD = re.compile(r"[(\"'\u201c]?[A-Za-z][a-z]+[.,:;!?)\"'\u201d]*")
JS_KEYS = {"Enter", "Escape"}  # KeyboardEvent.key values
JS_DEVELOPER = {"HTTP ", "use strict"}  # new Error("HTTP " + status) is caught, never shown


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def person_text(text: str) -> bool:
    """A sentence or a label: a word, and either another token, surrounding space or a capital."""
    tokens = text.split()
    if not any(WORD.fullmatch(t) for t in tokens):
        return False
    return len(tokens) >= 2 or text != text.strip() or text[:1].isupper()


def phone_numbers(kb: knowledge.KnowledgeBase) -> re.Pattern:
    """Every number of helplines.yml as written and as dialled, or a US-phone-like number."""
    known = {n for line in kb.helplines.values() for n in (line.number, line.call, line.text) if n}
    alternatives = "|".join(re.escape(n) for n in sorted(known, key=len, reverse=True))
    return re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])|{US_PHONE.pattern}")


def product_files(root: Path) -> List[Path]:
    return sorted(p for d in SCANNED for p in (root / d).rglob("*") if p.suffix in SUFFIXES and p.is_file())


# ---------------------------------------------------------------- Python


def call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def owner_names(tree: ast.AST) -> Iterator[Tuple[str, ast.AST]]:
    """(name, node) for each function and each assignment to a plain name."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    yield target.id, node


def docstrings(tree: ast.AST) -> Set[int]:
    return {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }


def developer_nodes(tree: ast.AST, relative: str, used: Set[Tuple[str, str]]) -> Set[int]:
    """ids of the nodes whose strings are for developers (see the module docstring)."""
    skip: Set[int] = docstrings(tree)

    def inside(node: ast.AST) -> None:
        skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Assert)) or (
            isinstance(node, ast.Call) and call_name(node) in DEVELOPER_CALLS
        ):
            inside(node)
        elif isinstance(node, ast.Call) and call_name(node) in LOOKUP_CALLS and node.args:
            inside(node.args[0])
        elif isinstance(node, ast.Subscript):
            inside(node.slice)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if key is not None:
                    inside(key)
                if isinstance(key, ast.Constant) and key.value == "error":
                    inside(value)  # {"error": ...}: an HTTP error body for an API client
        elif isinstance(node, (ast.arg, ast.FunctionDef, ast.AsyncFunctionDef)):
            annotation = node.annotation if isinstance(node, ast.arg) else node.returns
            if annotation is not None:
                inside(annotation)
    for name, node in owner_names(tree):
        if (relative, name) in DEVELOPER_TEXT:
            used.add((relative, name))
            inside(node)
    return skip


def scan_python(path: Path, relative: str, numbers: re.Pattern, used: Set[Tuple[str, str]]) -> Iterator[Finding]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documentation, skip = docstrings(tree), developer_nodes(tree, relative, used)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in documentation:
            continue
        value = node.value
        if isinstance(value, (str, int)) and not isinstance(value, bool) and numbers.search(str(value)):
            yield Finding(relative, node.lineno, f"phone number in {value!r}")
        elif isinstance(value, str) and id(node) not in skip and person_text(value):
            yield Finding(relative, node.lineno, f"sentence {value!r}")


# ---------------------------------------------------------------- JavaScript


def js_strings(source: str) -> Tuple[List[Tuple[int, str]], str]:
    """(line, text) of each string literal, and the code without comments (same line numbers)."""
    strings: List[Tuple[int, str]] = []
    code: List[str] = []
    i, last = 0, ""
    while i < len(source):
        char = source[i]
        if source.startswith("//", i) or source.startswith("/*", i):
            end = source.find("\n", i) if source[i + 1] == "/" else source.index("*/", i) + 2
            end = len(source) if end < 0 else end
            code.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
            continue
        regex = char == "/" and (
            last in ""
            or last in "(,=:[!&|?{};+-*%<>~^"
            or re.search(r"\b(return|typeof|case)\s*$", "".join(code[-20:]))
        )
        if char in "\"'`" or regex:
            end, in_class = i + 1, False
            while source[end] != char or in_class:
                if source[end] == "\\":
                    end += 1
                elif regex and source[end] in "[]":
                    in_class = source[end] == "["
                end += 1
            if not regex:
                strings.append((source.count("\n", 0, i) + 1, source[i + 1 : end]))
            code.append(source[i : end + 1])
            i, last = end + 1, char
            continue
        code.append(char)
        if not char.isspace():
            last = char
        i += 1
    return strings, "".join(code)


def scan_js(path: Path, relative: str, numbers: re.Pattern) -> Iterator[Finding]:
    strings, code = js_strings(path.read_text(encoding="utf-8"))
    for number, line in enumerate(code.splitlines(), 1):
        for match in numbers.finditer(line):
            yield Finding(relative, number, f"phone number {match.group(0)!r}")
    for line, text in strings:
        if text not in JS_KEYS | JS_DEVELOPER and person_text(text):
            yield Finding(relative, line, f"sentence {text!r}")


# ---------------------------------------------------------------- HTML


class PageText(HTMLParser):
    """Text a person reads or hears in a page, outside {{ slots }}, with its line."""

    def __init__(self) -> None:
        super().__init__()
        self.found: List[Tuple[int, str]] = []
        self.raw: List[Tuple[int, str]] = []
        self.in_code = False

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Any]]) -> None:
        self.in_code = tag in ("script", "style")
        for name, value in attrs:
            self.raw.append((self.getpos()[0], str(value or "")))
            if name in TEXT_ATTRIBUTES and re.search(r"[A-Za-z]", SLOT.sub("", value or "")):
                self.found.append((self.getpos()[0], f"{name}={value!r}"))

    def handle_endtag(self, tag: str) -> None:
        self.in_code = False

    def handle_data(self, data: str) -> None:
        self.raw.append((self.getpos()[0], data))
        if not self.in_code and re.search(r"[A-Za-z]", SLOT.sub("", data)):
            self.found.append((self.getpos()[0], repr(data.strip())))


def scan_html(path: Path, relative: str, numbers: re.Pattern) -> Iterator[Finding]:
    parser = PageText()
    parser.feed(path.read_text(encoding="utf-8"))
    for line, text in parser.raw:  # comments are left out
        for match in numbers.finditer(text):
            yield Finding(relative, line, f"phone number {match.group(0)!r}")
    for line, text in parser.found:
        yield Finding(relative, line, f"text {text}")


def scan(root: Path, kb: knowledge.KnowledgeBase) -> Tuple[List[Finding], Set[Tuple[str, str]]]:
    """Every phone number and person-readable text in the product code under `root`, and the
    DEVELOPER_TEXT entries that matched something."""
    numbers, used, found = phone_numbers(kb), set(), []
    for path in product_files(root):
        relative = path.relative_to(root).as_posix()
        if path.suffix == ".py":
            found += scan_python(path, relative, numbers, used)
        elif path.suffix == ".js":
            found += scan_js(path, relative, numbers)
        else:
            found += scan_html(path, relative, numbers)
    return found, used


def test_no_phone_number_or_sentence_is_written_in_product_code(kb):
    found, used = scan(ROOT, kb)
    assert not found, "move these to knowledge/*.yml or domain.yml:\n" + "\n".join(map(str, found))
    assert used == set(DEVELOPER_TEXT), f"DEVELOPER_TEXT entries that match nothing: {set(DEVELOPER_TEXT) - used}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Send", True),
        (" characters", True),
        ("Try again", True),
        ("I didn't get any text.", True),
        ("kf-msg kf-bot", False),
        ("application/json", False),
        ("utter_greet", False),
        ("tel:", False),
        ("Content-Type", False),
        ("POST", False),
        ("", False),
    ],
)
def test_the_scan_tells_a_sentence_from_a_code_word(text, expected):
    assert person_text(text) is expected


def test_the_scan_finds_what_a_file_would_hide(kb, tmp_path):
    """Each kind of file, written the way the old code was: the scan names file and line."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "page.html").write_text(
        '<p>{{ page.intro }}</p>\n<a href="tel:911" aria-label="{{ x }}">{{ y }}</a>\n<nav aria-label="Get help">\n'
    )
    (tmp_path / "web" / "w.js").write_text(
        'var a = /"[a-z]"/g; // "Not this"\nvar b = "kf-x";\nel("button", {}, ["Send"]);\nvar n = "1-800-222-1222";\n'
    )
    (tmp_path / "web" / "s.py").write_text(
        '"""Docstring, fine."""\nlogger.info("Fine: a log line.")\nTEXT = "You can talk to a person:"\nCALL = "988"\n'
    )
    found, _ = scan(tmp_path, kb)
    assert sorted(f"{f.path}:{f.line}" for f in found) == [
        "web/page.html:2",
        "web/page.html:3",
        "web/s.py:3",
        "web/s.py:4",
        "web/w.js:3",
        "web/w.js:4",
    ]


# ---------------------------------------------------------------- the domain responses


def test_every_domain_response_with_a_number_is_checked_against_the_helplines(kb, domain):
    """test_knowledge.py checks the responses in crisis_lines and reply_lines; none may escape it."""
    numbers = phone_numbers(kb)
    with_numbers = {
        name
        for name, variants in domain["responses"].items()
        if any(numbers.search(yaml.safe_dump(variant)) for variant in variants)
    }
    assert with_numbers <= set(kb.crisis_lines) | set(kb.reply_lines), with_numbers - set(kb.reply_lines)


def test_every_text_key_of_another_language_exists_in_english(kb):
    """A language may leave keys out (English is used), but not invent ones the code never asks for."""
    for texts in (kb.messages, kb.web):
        english = texts.languages[knowledge.DEFAULT_LANGUAGE]
        for language, keys in texts.languages.items():
            assert set(keys) <= set(english), (language, set(keys) - set(english))


def test_rendered_replies_leave_no_placeholder(kb):
    for key in kb.channel_replies:
        assert "{" not in kb.render_channel_reply(key, limit=2000), key
    for kind in kb.seek_help:
        assert "{" not in kb.render_seek_help(kind), kind


# ---------------------------------------------------------------- a deployer's number, everywhere
# (the served page: tests/system/test_web_server.py)


def test_the_actions_and_the_sms_error_reply_say_the_changed_number(moved_number, dispatcher):
    from actions.answers import ActionAnswer
    from actions.helplines import ActionListHelplines
    from channels.twilio_sms import TwilioSmsInput

    ActionListHelplines().run(dispatcher, make_tracker("ask_helpline"), {})
    ActionAnswer().run(dispatcher, make_tracker("ask_overdose"), {})
    listed, answered = (m["text"] for m in dispatcher.messages)
    assert "- Emergency services: 112." in listed and "911" not in listed
    seek_help = answered.split("\n\n")[-1]  # the answer's own text is reviewed content, written per answer
    assert seek_help == (
        "If someone may have taken too much, call now: Emergency services 112, Poison Help 1-800-222-1222."
    )

    # The SMS channel's reply when the assistant fails (here: no model loaded).
    channel = TwilioSmsInput(auth_token="token", limits=None)
    channel.is_from_twilio = lambda request: True  # type: ignore[method-assign]
    blueprint = channel.blueprint(lambda message: None)
    webhook = next(r.handler for r in blueprint._future_routes if r.uri.endswith("/webhook"))
    request = SimpleNamespace(
        form={"From": "+15550100", "Body": "hello", "MessageSid": "SM1"},
        app=SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(is_ready=lambda: False))),
    )
    reply = asyncio.run(webhook(request)).body.decode("utf-8")
    assert "call or text 988, or call 112:" in reply and "Emergency services 112." in reply
    assert "911" not in reply
