"""ops/tracker_store.py: Rasa's SQL tracker store with SQLite's write-ahead log."""

import asyncio
import sqlite3
from pathlib import Path

import yaml

from tests.conftest import ROOT


def test_endpoints_use_the_write_ahead_log_store():
    store = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["tracker_store"]
    assert store["type"] == "ops.tracker_store.SQLiteTrackerStore" and store["dialect"] == "sqlite"


def test_a_conversation_is_saved_and_read_back_from_a_wal_database(tmp_path: Path):
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from ops.tracker_store import SQLiteTrackerStore

    db = tmp_path / "trackers.db"
    store = SQLiteTrackerStore(dialect="sqlite", db=str(db))
    events = [UserUttered("hello", {"name": "greet"}), ActionExecuted("utter_greet")]
    asyncio.run(store.save(DialogueStateTracker.from_events("someone", events)))
    with store.engine.connect() as connection:  # synchronous is per connection: 1 is NORMAL
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    store.engine.dispose()

    with sqlite3.connect(db) as connection:  # the journal mode is the file's, for every reader
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again = SQLiteTrackerStore(dialect="sqlite", db=str(db))
    tracker = asyncio.run(again.retrieve("someone"))
    assert tracker is not None and tracker.latest_message.text == "hello"
    assert [e.action_name for e in tracker.events if isinstance(e, ActionExecuted)][-1] == "utter_greet"
