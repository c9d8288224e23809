"""From a stored webhook event to a Celery task, off the webhook's request path.

With INBOUND_DISPATCH=notify (the default on PostgreSQL with a broker), the webhook stores its
events with one INSERT that also NOTIFYs `CHANNEL` with their ids; PostgreSQL delivers the
notification when the INSERT commits, so a listener never sees an id it cannot read yet. The
listener is a thread in each Celery worker's main process; an advisory lock elects one of them,
the others wait on standby and take over within `retry_seconds` of the leader's connection
closing. The leader turns notifications into `inbound_events_process` tasks of up to `batch` ids.
Publishing to the broker was the largest part of a webhook's own cost; a request now does one
statement and answers.

Nothing depends on a notification arriving. Events stored while no listener ran are picked up by
the new leader (those recent enough that the sweeper would not yet take them) and by the sweeper
(inbox.tasks.sweep), which re-dispatches whatever is still unprocessed after
SWEEP_STUCK_AFTER_SECONDS: a listener that was down, a broker that refused a publish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import psycopg
from django.conf import settings
from django.db import connections
from kombu.exceptions import OperationalError as BrokerError
from psycopg import sql

from inbox import jobs
from inbox.models import InboundEvent

logger = logging.getLogger(__name__)

CHANNEL = "inbox_inbound_events"
# PostgreSQL refuses a notification payload of 8000 bytes or more: ids go out in chunks of this many.
IDS_PER_NOTIFICATION = 500
_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('inbox.dispatch.leader'))"
# Events stored while nobody listened, too young for the sweeper yet (`{table}`: InboundEvent's).
_CATCH_UP_SQL = """
SELECT id FROM {table}
WHERE processed_at IS NULL AND attempts = 0 AND received_at > now() - make_interval(secs => %s)
ORDER BY id
"""
# Parameters of Django's connection that are not libpq connection options.
_NOT_CONNINFO = {"cursor_factory", "context", "prepare_threshold"}


def connection_params() -> dict:
    """libpq connection options of the default database, for a connection of its own (LISTEN
    holds one session; Django's pooled connections are handed from request to request)."""
    return {k: v for k, v in connections["default"].get_connection_params().items() if k not in _NOT_CONNINFO}


# The listener's connection is silent for as long as no webhook arrives. TCP keepalives keep a NAT
# or load balancer on the way from dropping it unseen, and make a dead peer show within about a
# minute (an error, so the listener restarts) rather than leaving a deaf leader holding the lead.
# Options set in DATABASES["default"]["OPTIONS"] win.
LISTENER_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
                       "tcp_user_timeout": 60_000}


def notify_enabled() -> bool:
    return settings.INBOUND_DISPATCH == "notify"


def parse_payload(payload: str) -> list[int]:
    ids = []
    for part in payload.split(","):
        try:
            ids.append(int(part))
        except ValueError:
            logger.warning("inbound dispatch: ignoring malformed id %r in a notification", part[:40])
    return ids


def chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


class Dispatcher:
    """One listener; `run()` until `stop()`. Safe to run several (one leads at a time)."""

    def __init__(self, *, retry_seconds: float = 5.0, batch: int = 10, poll_seconds: float = 1.0):
        self.retry_seconds = retry_seconds
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.leading = threading.Event()  # holds the leader's lock
        self.listening = threading.Event()  # leading, backlog dispatched, waiting for notifications
        self._stop = threading.Event()
        self._broker = None
        self._producer = None

    # --- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    with self._connect() as conn:
                        if self._lead(conn):
                            self._listen(conn)
                except psycopg.Error as exc:
                    logger.warning("inbound dispatch: database connection lost (%s); retrying", exc)
                except Exception:
                    # Whatever it was, the thread must outlive it: the sweeper covers the gap meanwhile.
                    logger.exception("inbound dispatch: listener failed; restarting it")
                finally:
                    if self.leading.is_set():
                        logger.info("inbound dispatch: no longer leading")
                    self.leading.clear()
                    self.listening.clear()
                self._stop.wait(self.retry_seconds)
        finally:
            self._release_broker()
            # Eager tasks (tests, a worker with CELERY_TASK_ALWAYS_EAGER) used Django's connections here.
            connections.close_all()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(autocommit=True, application_name="inbox-dispatch",
                               **{**LISTENER_KEEPALIVES, **connection_params()})

    def _lead(self, conn: psycopg.Connection) -> bool:
        """Hold the leader's lock (released when this connection closes), or wait on standby."""
        while not self._stop.is_set():
            row = conn.execute(_LOCK_SQL).fetchone()
            if row and row[0]:
                logger.info("inbound dispatch: leading")
                self.leading.set()
                return True
            self._stop.wait(self.retry_seconds)
            conn.execute("SELECT 1")  # a dead connection shows here rather than at the next try
        return False

    def _listen(self, conn: psycopg.Connection) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        # After LISTEN, so an event is either in this query or in a notification (perhaps both).
        catch_up = _CATCH_UP_SQL.format(table=sql.Identifier(InboundEvent._meta.db_table).as_string(conn))
        backlog = [row[0] for row in conn.execute(catch_up, [settings.SWEEP_STUCK_AFTER_SECONDS + 5])]
        if backlog:
            logger.info("inbound dispatch: %d events stored while nobody listened", len(backlog))
            self.publish(backlog)
        self.listening.set()
        while not self._stop.is_set():
            ids: list[int] = []
            # Wait for the first notification, then take whatever else has already arrived.
            for note in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                ids += parse_payload(note.payload)
            if ids:
                for note in conn.notifies(timeout=0.001):
                    ids += parse_payload(note.payload)
                self.publish(ids)

    # --- publishing -------------------------------------------------------------------------------
    def publish(self, ids: list[int]) -> None:
        inbound_events_process = jobs.task("inbox.tasks.inbound_events_process")
        ids = list(dict.fromkeys(ids))
        for index, chunk in enumerate(chunks(ids, self.batch)):
            try:
                inbound_events_process.apply_async((chunk,), producer=self._producer_for(inbound_events_process.app))
            except (BrokerError, ConnectionError, OSError) as exc:
                left = len(ids) - index * self.batch
                logger.warning("inbound dispatch: broker unavailable (%s); %d events left for the sweeper", exc, left)
                self._release_broker()
                return

    def _producer_for(self, app):
        # Its own broker connection: the app's shared producer pool is also used by the pool
        # processes this worker forks, and a lock held here at a fork would stay held there.
        if self._producer is None:
            self._broker = app.connection_for_write()
            self._producer = app.amqp.Producer(self._broker, auto_declare=False)
        return self._producer

    def _release_broker(self) -> None:
        if self._broker is not None:
            try:
                self._broker.release()
            except Exception:  # already broken: nothing left to release
                logger.debug("inbound dispatch: broker connection release failed", exc_info=True)
        self._broker = self._producer = None


# --- In a Celery worker ---------------------------------------------------------------------------

_running: tuple[Dispatcher, threading.Thread] | None = None


def start_in_worker() -> Dispatcher | None:
    """Start this worker's listener (a daemon thread); inbox_project/celery.py calls it when ready."""
    global _running
    if not notify_enabled() or _running is not None:
        return None
    dispatcher = Dispatcher(retry_seconds=settings.INBOUND_DISPATCH_RETRY_SECONDS)
    thread = threading.Thread(target=dispatcher.run, name="inbox-dispatch", daemon=True)
    thread.start()
    _running = (dispatcher, thread)
    return dispatcher


def stop_in_worker(timeout: float = 5.0) -> None:
    global _running
    if _running is None:
        return
    dispatcher, thread = _running
    dispatcher.stop()
    thread.join(timeout)
    _running = None
