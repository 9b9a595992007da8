"""ops/retention.py against a tracker store written by Rasa's own SQLTrackerStore, and
by the write-ahead-log variant endpoints.yml uses (ops/tracker_store.py)."""

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from tests.conftest import ROOT

DAY = 86400
NOW = time.time()


def conversation(sender: str, *ages_in_days: float):
    """A tracker whose user messages were sent the given number of days ago."""
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = []
    for age in ages_in_days:
        events += [
            UserUttered("hello", {"name": "greet"}, timestamp=NOW - age * DAY),
            ActionExecuted("utter_greet", timestamp=NOW - age * DAY + 1),
        ]
    return DialogueStateTracker.from_events(sender, events)


@pytest.fixture(params=["SQL", "ops.tracker_store.SQLiteTrackerStore"])
def store(request, tmp_path: Path, monkeypatch) -> Path:
    """An endpoints.yml naming its SQLite file through an environment variable, as
    Rasa reads it, with three conversations saved by the store of that type. The
    action server's token is not set: the job does not need it."""
    from rasa.core.tracker_store import SQLTrackerStore

    from ops.tracker_store import SQLiteTrackerStore

    db = tmp_path / "trackers.db"
    monkeypatch.setenv("TEST_TRACKER_DB", str(db))
    endpoints = tmp_path / "endpoints.yml"
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    endpoints.write_text(
        'action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n  token: ${ACTION_SERVER_TOKEN}\n'
        f'tracker_store:\n  type: {request.param}\n  dialect: "sqlite"\n  db: ${{TEST_TRACKER_DB}}\n'
    )
    store_class = SQLTrackerStore if request.param == "SQL" else SQLiteTrackerStore
    tracker_store = store_class(dialect="sqlite", db=str(db))
    for tracker in (
        conversation("old", 45, 40),
        conversation("recent", 2),
        conversation("old-but-back", 60, 0.5),
    ):  # must not be cut in half
        asyncio.run(tracker_store.save(tracker))
    tracker_store.engine.dispose()
    return endpoints


def events_per_sender(endpoints: Path) -> Dict[str, int]:
    with sqlite3.connect(endpoints.parent / "trackers.db") as connection:
        return dict(connection.execute("SELECT sender_id, count(*) FROM events GROUP BY sender_id"))


def retention(endpoints: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ops.retention", "--endpoints", str(endpoints), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_only_conversations_idle_longer_than_the_limit_are_deleted_whole(store):
    before = events_per_sender(store)
    result = retention(store, "--days", "30")
    assert result.returncode == 0, result.stderr
    after = events_per_sender(store)
    assert "old" not in after
    assert after == {"recent": before["recent"], "old-but-back": before["old-but-back"]}
    assert f"Deleted 1 conversations ({before['old']} events)" in result.stdout


def test_dry_run_prints_the_counts_and_deletes_nothing(store):
    before = events_per_sender(store)
    result = retention(store, "--days", "1", "--dry-run")
    assert result.returncode == 0, result.stderr
    # "old" and "recent" (2 days) are idle for more than a day; "old-but-back" is not.
    expected_events = before["old"] + before["recent"]
    assert f"Would delete 2 conversations ({expected_events} events)" in result.stdout
    assert events_per_sender(store) == before


def test_no_database_yet_is_not_created(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_TRACKER_DB", str(tmp_path / "none.db"))
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text('tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: ${TEST_TRACKER_DB}\n')
    result = retention(endpoints, "--days", "30")
    assert result.returncode == 0 and "nothing to delete" in result.stdout
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("days", ["0", "-3", "soon"])
def test_a_non_positive_limit_is_refused(store, days):
    before = events_per_sender(store)
    assert retention(store, "--days", days).returncode != 0
    assert events_per_sender(store) == before


@pytest.mark.parametrize("store_type", ["redis", "InMemory", "ops.tracker_store.NoSuchStore", "ops.retention.Outcome"])
def test_a_store_that_is_not_sql_is_refused(tmp_path, store_type):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(f'tracker_store:\n  type: {store_type}\n  db: "{tmp_path / "x.db"}"\n')
    result = retention(endpoints, "--days", "30")
    assert result.returncode != 0 and "not Rasa's SQL tracker store" in result.stderr
