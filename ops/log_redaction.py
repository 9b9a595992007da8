"""Keeps what people wrote, phone numbers and tokens out of the logs.

Rasa and rasa-sdk put message texts into log records: at DEBUG (parsed messages,
rule states, tracker dumps) and in error paths (a failed custom action logs the
action server's reply, which echoes the whole tracker). This module masks them
in every record while leaving what failed (the event, the action, the exception
type and status) readable.

It is applied by the logging config file both servers get
(`--logging-config-file ops/logging.yml`, see scripts/run.sh): its console
handler carries the filter (coloredlogs keeps filters when Rasa restyles that
handler). `install` also wraps the log-record factory, which every record goes
through, so handlers added later (Rasa's --log-file, syslog) and Python's
last-resort handler (Sanic's loggers do not propagate) get masked text too.
"""

import logging
import re
from typing import Any, Callable, List, Pattern, Tuple

MASK = "[redacted]"

# Keys whose string values are what a person (or the bot, quoting them) wrote:
# "text", "parse_data_text", "message", "tracker_latest_message", entity "value"...
_KEYS = r"\w*(?:text|message)|value|said"
_DQ = r'"(?:[^"\\]|\\.)*"'
_SQ = r"'(?:[^'\\]|\\.)*'"
# A quoted value after such a key, at any level of escaping (JSON inside a repr
# inside JSON...): it ends at the same quote, escaped as often as the opening
# one and not escaped once more, where the enclosing structure goes on.
_VALUE = r"""(?P<esc>\\*)(?P<q>["'])(?P<val>.*?)(?<!\\)(?P=esc)(?P=q)(?=\s*[,}\])]|\s|$)"""

RULES: List[Tuple[Pattern[str], str]] = [
    # JSON and Python reprs: "text": "...", 'text': '...', \"text\": \"...\"
    (
        re.compile(rf"""(?P<key>\\*["'](?:{_KEYS})\\*["']\s*:\s*){_VALUE}""", re.S),
        rf"\g<key>\g<esc>\g<q>{MASK}\g<esc>\g<q>",
    ),
    # structlog's console renderer: text='...', parse_data_text="..."
    (re.compile(rf"(?P<key>\b(?:{_KEYS})=){_VALUE}", re.S), rf"\g<key>\g<esc>\g<q>{MASK}\g<esc>\g<q>"),
    # Rasa's dialogue states: "user text: ... | previous action name: ..."
    (re.compile(r"(user text: ).*?(?= \| previous action name|\\n|\n|(?<!\\)\"|$)"), rf"\1{MASK}"),
    # Event reprs: UserUttered(text: ..., intent: ...), BotUttered('...', ...)
    (re.compile(r"(UserUttered\(text: ).*?(?=, intent: |\)$)"), rf"\1{MASK}"),
    (re.compile(rf"(BotUttered\()(?:{_DQ}|{_SQ})"), rf"\1'{MASK}'"),
    # Phone numbers as Twilio sends them: +15551234567, %2B15551234567, whatsapp:+1...
    (re.compile(r"(?:\+|%2[Bb])\d{7,15}\b"), "[phone]"),
    # The action-server token Rasa puts in the URL.
    (re.compile(r"([?&]token=)[^&\s'\"]+"), rf"\1{MASK}"),
]


def redact(text: str) -> str:
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replaces the record's message, traceback and stack with redacted text."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call must not lose the record
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        # Formatters use exc_text when it is set, so the masked traceback is the one written.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """The same redaction for a handler (e.g. a --log-file handler of one's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _redacting_factory(make_record: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    factory.redacting = True  # type: ignore[attr-defined]
    return factory


def install() -> RedactingFilter:
    """Redacts every record from now on; used as a filter factory by ops/logging.yml."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
    return RedactingFilter()
