"""Message texts and phone numbers never reach the logs (ops/log_redaction.py, ops/logging.yml).

The end-to-end test runs both servers with the logging config scripts/run.sh
gives them, at DEBUG (where Rasa logs the most), with an action that fails so
the error path runs too."""

import json
import logging
import re
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import requests

from ops import log_redaction
from tests.conftest import ROOT
from tools.paths import RASA
from tools.servers import free_port, start, stop, wait_for

MARKER = "zqxmarker"
PHONE = "+15557654321"
CONFIG = "ops/logging.yml"


def test_run_sh_gives_both_servers_the_redacting_config():
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert f"LOGGING=(--logging-config-file {CONFIG})" in run_sh
    assert len(re.findall(r'"\$\{LOGGING\[@\]\}"', run_sh)) == 2  # rasa run and rasa shell
    assert f"--logging-config-file {CONFIG}" in (ROOT / "scripts" / "run_actions.sh").read_text()


@pytest.mark.parametrize(
    "line",
    [
        # structlog's JSON (processor.message.parse, rule states) and console renderings
        json.dumps({"parse_data_text": f"what is {MARKER}", "parse_data_entities": [{"value": MARKER}]}),
        json.dumps({"current_states": f'\n[state 1] user text: it\'s "{MARKER}" | previous action name: x'}),
        f"event=rest.message.received.timeout text='{MARKER} now'",
        # the action server's 500 reply, as Rasa's ClientResponseError prints it (JSON in a bytes repr)
        "500, Internal Server Error, body='{}'".format(
            repr(
                json.dumps(
                    {
                        "error": "boom",
                        "request_body": {
                            "tracker": {"latest_message": {"text": f'/ask_interaction{{"substance": "{MARKER}"}}'}}
                        },
                    }
                ).encode()
            )
        ),
        repr({"text": f"it's {MARKER}", "intent": {"name": "greet"}}),
        f"UserUttered(text: {MARKER}, intent: greet, entities: )",
    ],
)
def test_texts_in_rasas_log_shapes_are_masked(line):
    redacted = log_redaction.redact(line)
    assert MARKER not in redacted
    assert log_redaction.MASK in redacted


def test_phone_numbers_and_tokens_are_masked_and_the_rest_kept():
    line = f"Issuing ticket for conversation '{PHONE}' From=%2B15557654321 url=http://a/webhook?token=s3cret"
    assert log_redaction.redact(line) == (
        "Issuing ticket for conversation '[phone]' From=[phone] url=http://a/webhook?token=[redacted]"
    )


@pytest.fixture
def installed() -> Iterator[None]:
    """The redacting record factory, for this test only."""
    factory = logging.getLogRecordFactory()
    log_redaction.install()
    yield
    logging.setLogRecordFactory(factory)


def test_a_record_and_its_traceback_are_masked_wherever_it_is_logged(installed, caplog):
    try:
        raise ValueError(json.dumps({"text": MARKER}))
    except ValueError:
        logging.getLogger("rasa.core.processor").exception(
            "Encountered an exception while running action '%s'. %s", "action_answer", {"text": MARKER}
        )
    record = caplog.records[-1]
    written = logging.Formatter().format(record)
    assert MARKER not in written
    assert "Encountered an exception while running action 'action_answer'" in written
    assert "ValueError" in written


@pytest.fixture(scope="module")
def servers(tmp_path_factory, trained_model) -> Iterator[Tuple[str, Path, Path]]:
    """(REST webhook, Rasa log, action-server log); the action server's knowledge
    directory is missing, so every sourced answer fails in the action server."""
    tmp = tmp_path_factory.mktemp("logs")
    action_port, rasa_port = free_port(), free_port()
    (tmp / "endpoints.yml").write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tmp / "trackers.db"}"\n'
    )
    actions = start(
        [str(ROOT / "scripts" / "run_actions.sh"), "-vv"],
        tmp / "actions.log",
        {"ACTIONS_PORT": str(action_port), "KNOWLEDGE_DIR": str(tmp / "missing")},
    )
    rasa = start(
        [
            *RASA,
            "run",
            "--model",
            str(trained_model),
            "--endpoints",
            str(tmp / "endpoints.yml"),
            "--credentials",
            "credentials.yml",
            "--port",
            str(rasa_port),
            "-vv",
            "--logging-config-file",
            CONFIG,
        ],
        tmp / "rasa.log",
    )
    try:
        wait_for(f"http://127.0.0.1:{action_port}/health", actions, tmp / "actions.log")
        wait_for(f"http://127.0.0.1:{rasa_port}/", rasa, tmp / "rasa.log")
        yield f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", tmp / "rasa.log", tmp / "actions.log"
    finally:
        stop(rasa)
        stop(actions)


def test_texts_and_phone_numbers_stay_out_of_both_logs_while_the_failure_is_reported(servers):
    webhook, rasa_log, actions_log = servers
    for message in [
        f"what is klonopin {MARKER}",
        f"can i mix klonopin with {MARKER}",
        f'/ask_interaction{{"substance": "it\'s \\"{MARKER}\\""}}',
    ]:
        response = requests.post(webhook, json={"sender": PHONE, "message": message}, timeout=60)
        assert response.status_code == 200
    rasa_text, actions_text = rasa_log.read_text(), actions_log.read_text()

    for text in (rasa_text, actions_text):
        assert MARKER not in text
        assert PHONE[1:] not in text
    # What failed is still there: the action, the exception, in both servers.
    assert "Encountered an exception while running action 'action_answer'" in rasa_text
    assert "500, Internal Server Error" in rasa_text
    assert "Exception occurred during execution of request" in actions_text
    assert "FileNotFoundError" in actions_text
    assert log_redaction.MASK in rasa_text  # DEBUG logging did run: texts were there to mask
