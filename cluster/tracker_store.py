"""Rasa's SQLTrackerStore, minus the turn a retried request would store twice.

HAProxy sends a request again when its Rasa replica dies before answering
(cluster/haproxy.cfg, retry-on empty-response), so the person still gets an
answer. If the replica died after committing the turn but before replying, the
retry would store the same turn a second time (measured: 1 duplicate in 444
messages with one SIGKILL). Requests carry no id that survives the retry, so a
retry is recognised by its circumstances: the conversation's lock held a dead
replica's ticket in the last two minutes (cluster/lock_store.py), and the same
text was already stored in this conversation within that time. Such a turn is
answered but not stored again. The price: a person who repeats the very same
message within two minutes of a replica dying mid-conversation has the repeat
answered but not stored.

    tracker_store:
      type: cluster.tracker_store.ReplaySafeSQLTrackerStore   # settings as for type: SQL
"""
import logging
import time
from typing import List, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from cluster.lock_store import AFTER_DEAD_REPLICA

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 120


class ReplaySafeSQLTrackerStore(SQLTrackerStore):
    async def save(self, tracker: DialogueStateTracker) -> None:
        if AFTER_DEAD_REPLICA.get() and self._is_replay(tracker):
            logger.warning("A turn retried after a replica died was already stored; not storing it twice.")
            return
        await super().save(tracker)

    def _is_replay(self, tracker: DialogueStateTracker) -> bool:
        with self.session_scope() as session:
            stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
        new, old = list(tracker.events)[stored:], list(tracker.events)[:stored]
        new_texts = _user_texts(new)
        since = time.time() - WINDOW_SECONDS
        recent = {e.text for e in old if isinstance(e, UserUttered) and e.timestamp >= since}
        return bool(new_texts) and all(text in recent for text in new_texts)


def _user_texts(events: List) -> List[Text]:
    return [e.text for e in events if isinstance(e, UserUttered)]
