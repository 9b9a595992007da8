"""A Redis ticket lock for conversations that survives a replica dying mid-turn.

Rasa 3.6's RedisLockStore, measured on this cluster (docs/cluster.md):
- A request queued behind the ticket of a replica that was SIGKILLed waits
  until its client gives up (HAProxy's 60 s), never answered: the dead ticket
  expires, but the waiter's own ticket, issued a moment later, expires in the
  same one-second poll, and a lock with no tickets is "locked" for everyone.
- Tickets are issued by reading the lock, changing it in Python and writing it
  back; two replicas doing that at once can hand out the same number.

This store keeps Rasa's interface and its ticket order (first come, first
served per conversation) but does every step in Redis atomically (Lua), and
each live request keeps its ticket alive with a heartbeat: only the tickets of
a dead process expire, after `ticket_lifetime` seconds, however long a living
turn takes. Rasa loads it from endpoints.yml:

    lock_store:
      type: cluster.lock_store.RedisTicketLockStore
      url: ..., port: ..., password: ..., db: ..., key_prefix: ...
      ticket_lifetime: 10     # seconds until a dead replica's ticket is dropped
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from typing import Any, AsyncIterator, Dict, List, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# KEYS: counter, queue. ARGV: alive-key prefix, lifetime in ms. Returns the new ticket.
ENQUEUE = """
local ticket = redis.call('INCR', KEYS[1])
redis.call('SET', ARGV[1] .. ticket, '1', 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ticket, ticket)
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('PEXPIRE', KEYS[2], 86400000)
return ticket
"""

# KEYS: queue, dead-flag. ARGV: alive-key prefix, my ticket.
# 1: my turn, 0: wait, -1: my ticket is gone. Tickets ahead of mine whose
# heartbeat stopped (a dead process) are dropped here, and the conversation is
# flagged for two minutes: its next turns may be retries of the dead request.
TURN = """
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head then return -1 end
  if head == ARGV[2] then
    if redis.call('EXISTS', ARGV[1] .. head) == 1 then return 1 end
    redis.call('ZREM', KEYS[1], head)
    return -1
  end
  if redis.call('EXISTS', ARGV[1] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
  redis.call('SET', KEYS[2], '1', 'PX', 120000)
end
"""


class RedisTicketLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        kwargs: Dict[str, Any] = dict(endpoint_config.kwargs)
        self.ticket_lifetime = float(kwargs.pop("ticket_lifetime", 10))
        self.poll_interval = float(kwargs.pop("poll_interval", 0.05))
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)
        self._enqueue = self.red.register_script(ENQUEUE)
        self._turn = self.red.register_script(TURN)

    def _keys(self, conversation_id: Text) -> Dict[str, str]:
        base = f"{self.key_prefix}{conversation_id}"
        return {"counter": f"{base}:next", "queue": f"{base}:queue", "alive": f"{base}:alive:", "dead": f"{base}:dead"}

    @asynccontextmanager
    async def lock(
        self, conversation_id: Text, lock_lifetime: float = 0, wait_time_in_seconds: float = 0
    ) -> AsyncIterator[TicketLock]:
        """Wait for this conversation's turn, hold it for the block, then pass it on.

        Rasa's lifetime and wait arguments are ignored: the heartbeat replaces the
        lifetime, and the poll interval comes from the endpoint configuration.
        """
        keys = self._keys(conversation_id)
        ticket = [self._issue(keys)]  # a list: re-queueing swaps the number the heartbeat keeps alive
        heartbeat = asyncio.create_task(self._heartbeat(keys, ticket))
        try:
            await self._wait_for_turn(keys, ticket)
            yield TicketLock(conversation_id)
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
            self._release(keys, ticket[0])

    def _issue(self, keys: Dict[str, str]) -> int:
        return int(
            self._enqueue(keys=[keys["counter"], keys["queue"]], args=[keys["alive"], int(self.ticket_lifetime * 1000)])
        )

    async def _wait_for_turn(self, keys: Dict[str, str], ticket: List[int]) -> None:
        while True:
            turn = int(self._turn(keys=[keys["queue"], keys["dead"]], args=[keys["alive"], ticket[0]]))
            if turn == 1:
                return
            if turn == -1:
                # Our own heartbeat lapsed (this process stalled): queue again, at the back.
                logger.warning(f"Lock ticket {ticket[0]} for a conversation expired while waiting; re-queued.")
                ticket[0] = self._issue(keys)
            await asyncio.sleep(self.poll_interval)

    async def _heartbeat(self, keys: Dict[str, str], ticket: List[int]) -> None:
        """Keep this request's ticket alive while it waits and while it holds the lock."""
        while True:
            await asyncio.sleep(self.ticket_lifetime / 3)
            self.red.pexpire(f"{keys['alive']}{ticket[0]}", int(self.ticket_lifetime * 1000))

    def _release(self, keys: Dict[str, str], ticket: int) -> None:
        try:
            pipe = self.red.pipeline()
            pipe.zrem(keys["queue"], ticket).delete(f"{keys['alive']}{ticket}")
            pipe.execute()
        except Exception as e:  # the ticket then expires on its own
            logger.error(f"Could not release a conversation lock: {type(e).__name__}")

    # Rasa's TicketLock bookkeeping is not used by this store.
    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        raise LockError("RedisTicketLockStore keeps its tickets in Redis only")
