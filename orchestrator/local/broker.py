"""The embedded broker: a Knative Kafka Broker's behaviour on one machine, queue on disk.

`orchestrator up` and `replay` need the five functions to talk exactly as they do on Knative, so
this broker reads the same Broker/Trigger YAML and keeps the Kafka broker's contract:

- ingress (`POST /` or `POST /<namespace>/<broker>`) answers 202 only once the event and its
  fan-out to every matching Trigger are committed to SQLite;
- deliveries are binary-mode POSTs with `Prefer: reply` and `Kn-Namespace`; a 2xx with an empty
  body is success, a 2xx with a CloudEvent is a reply published back to the broker, a 2xx with
  anything else is a failure; 404/408/409/429/5xx/network errors are retried with the Trigger's
  backoff; other failures go straight to the dead-letter sink;
- ordered Triggers deliver one event per partition key at a time; nothing is deduplicated.

Beyond Kafka, it bounds reply loops with the MT broker's `knativebrokerttl` (stripped before the
subscriber, decremented on each reply; at 0 the event is dead-lettered, never dropped), and has a
chaos mode that delivers everything twice and picks ready deliveries in a seeded random order
(per-key order on ordered Triggers still holds, as Kafka keeps partition order on redelivery).
Note that in chaos mode replies to both copies are published, so a chain of n replies ends with up
to 2^n copies of its last event: that is the duplication the functions must absorb.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from orchestrator.cloudevent_http import binary_headers, lower_headers
from orchestrator.errors import PermanentError, TransientError
from orchestrator.local import deadletters as dl
from orchestrator.local.queue import Claimed, DeadLetter, Queue, StoredEvent, Tx
from orchestrator.local.triggers import Destination, EventingConfig, Trigger, load_eventing
from orchestrator.local.wire import IngressServer, Outcome, WireEvent, parse, send
from orchestrator.resources import eventing_dir

logger = logging.getLogger(__name__)

MAX_TTL = 255  # the MT broker's default knativebrokerttl
MAX_BODY = 4 * 1024 * 1024


class Broker:
    """Ingress server, durable queue and dispatcher; construct, `start()`, then `close()`."""

    def __init__(self, *, db_path: Path | str, subscribers: Mapping[str, str],
                 config: EventingConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 workers: int = 8, time_scale: float = 1.0, chaos: bool = False, seed: int = 0,
                 max_ttl: int = MAX_TTL, max_body: int = MAX_BODY) -> None:
        self._config = config or load_eventing(eventing_dir())
        self._subscribers = dict(subscribers)
        missing = sorted(self._config.destination_names() - set(self._subscribers))
        if missing:
            raise ValueError(f"no base URL for subscriber(s) {', '.join(missing)}")
        if workers < 1 or time_scale < 0 or max_ttl < 1:
            raise ValueError("workers and max_ttl must be >= 1 and time_scale >= 0")
        self._host, self._port, self._workers = host, port, workers
        self._time_scale, self._max_ttl, self._max_body = time_scale, max_ttl, max_body
        self._copies = 2 if chaos else 1
        rng = random.Random(seed)
        # Called with the queue's lock held, so the shared RNG needs no lock of its own.
        self._pick: Callable[[list[int]], int] | None = rng.choice if chaos else None
        self._queue = Queue(db_path, clock=time.time)
        self._cond = threading.Condition()
        self._generation = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: IngressServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a Broker starts once; construct a new one to restart")
        reset = self._queue.reset_in_flight()
        if reset:
            logger.warning("broker: %d deliveries were in flight at the last stop; resending",
                           reset)
        spec = self._config.broker
        self._server = IngressServer((self._host, self._port), publish=self.publish,
                                     path=f"/{spec.namespace}/{spec.name}", max_body=self._max_body)
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                 name="broker-ingress", daemon=True)
        self._threads = [serve] + [
            threading.Thread(target=self._work, name=f"broker-worker-{i}", daemon=True)
            for i in range(self._workers)]
        for thread in self._threads:
            thread.start()
        logger.info("broker: %s listening on %s", self._config.broker.name, self.url)

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish for up to `grace` seconds, join threads.

        A request still running after `grace` is abandoned: its row stays `in_flight` and the
        next Broker on this file sends it again (at-least-once).
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._changed()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        abandoned = sum(t.is_alive() for t in self._threads)
        if abandoned:
            logger.warning("broker: abandoned %d in-flight deliveries; they will be resent",
                           abandoned)

    def close(self) -> None:
        self.stop()
        self._queue.close()

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The ingress base URL (`POST` here or to `/<namespace>/<broker>`)."""
        if self._server is None:
            raise RuntimeError("the broker is not started")
        return f"http://{self._host}:{self._server.server_address[1]}"

    @property
    def address(self) -> str:
        """The Knative-style ingress URL of this broker, for K_SINK."""
        return f"{self.url}/{self._config.broker.namespace}/{self._config.broker.name}"

    # -- publishing and observing ----------------------------------------------------------

    def publish(self, headers: Mapping[str, str], body: bytes) -> int:
        """Store a CloudEvent (binary or structured) as the ingress would; returns its sequence.

        Raises PermanentError (status 400, or 413 when too large) for what is not a CloudEvent,
        TransientError (503) when the queue cannot store it.
        """
        if len(body) > self._max_body:
            raise PermanentError(f"event larger than {self._max_body} bytes", status=413)
        event = parse(lower_headers(headers), body)  # a WireError is a PermanentError (400)
        ttl = self._max_ttl if event.ttl is None else event.ttl
        try:
            with self._queue.tx() as tx:
                seq = self._fan_out(tx, event, ttl=ttl, origin="ingress", parent=None)
        except sqlite3.OperationalError as e:
            # The sender is told 503 and retries; the operator needs to see why here.
            logger.error("broker: refused %s id=%s: could not store it: %s", event.type,
                         event.id, e)
            raise TransientError(f"could not store the event: {e}") from e
        self._changed()
        logger.info("broker: accepted %s id=%s incident=%s", event.type, event.id,
                    event.attributes.get("incidentkey"))
        return seq

    def wait_idle(self, timeout: float) -> bool:
        """True once no delivery (to a subscriber or the dead-letter sink) is pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                generation = self._generation
            if self._queue.busy() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                if self._generation == generation:
                    # Woken by every state change; the cap only guards against a missed one.
                    self._cond.wait(min(remaining, 0.5))

    def stats(self) -> dict[str, int]:
        """Delivery counts by state (`sink_*` for dead-letter sink POSTs), events, dead letters."""
        return self._queue.stats()

    def events(self, incident_key: str | None = None) -> list[StoredEvent]:
        """Every stored event (optionally of one incident) in arrival order."""
        return self._queue.events(incident_key)

    def list_deadletters(self) -> list[DeadLetter]:
        return self._queue.deadletters()

    def redeliver_deadletter(self, deadletter_id: int) -> int:
        """Queue a dead letter's event to its Trigger again with a fresh retry budget.

        The hop budget is kept (at least 1), so redelivering a hop-limited event cannot restart
        the loop that hit the limit. Returns the new delivery id.
        """
        found = self._queue.deadletters(deadletter_id)
        if not found:
            raise KeyError(f"no dead letter {deadletter_id}")
        dead = found[0]
        trigger = self._config.trigger(dead.trigger)
        if trigger is None:
            raise ValueError(f"dead letter {deadletter_id}: Trigger {dead.trigger!r} no longer "
                             "exists")
        with self._queue.tx() as tx:
            delivery = tx.add_delivery(dead.event.seq, trigger.name, ttl=max(dead.ttl, 1),
                                       order_key=_order_key(trigger, dead.event.wire))
            tx.mark_redelivered(deadletter_id)
        self._changed()
        return delivery

    # -- dispatching -----------------------------------------------------------------------

    def _fan_out(self, tx: Tx, event: WireEvent, *, ttl: int, origin: str,
                 parent: int | None) -> int:
        seq = tx.add_event(event, ttl=ttl, origin=origin, parent_delivery=parent)
        for trigger in self._config.matching(event.attributes):
            if ttl <= 0:
                dest = trigger.subscriber.url(self._subscribers)
                tx.add_deadletter(seq, trigger.name, delivery_id=None, reason=dl.HOP_LIMIT_REASON,
                                  code=None, error_data=dl.HOP_LIMIT_REASON.encode(), attempts=0,
                                  dest=dest, ttl=ttl, sink=self._sink(trigger.name) is not None)
                logger.error("broker: %s id=%s hit the hop limit before trigger %s; dead-lettered",
                             event.type, event.id, trigger.name)
                continue
            for _ in range(self._copies):
                tx.add_delivery(seq, trigger.name, ttl=ttl, order_key=_order_key(trigger, event))
        return seq

    def _sink(self, trigger_name: str) -> Destination | None:
        trigger = self._config.trigger(trigger_name)
        if trigger is not None:
            return trigger.delivery.dead_letter_sink
        return self._config.broker.delivery.dead_letter_sink

    def _changed(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _work(self) -> None:
        client = httpx.Client(trust_env=False, follow_redirects=False,
                              limits=httpx.Limits(max_keepalive_connections=0))
        try:
            while not self._stopping.is_set():
                with self._cond:
                    generation = self._generation
                try:
                    claimed = self._queue.claim(self._pick)
                except sqlite3.OperationalError as e:
                    # Claiming writes to the queue; while it cannot (disk full), nothing can be
                    # sent, and the worker must outlive the outage.
                    logger.error("broker: cannot claim a delivery: %s; retrying in 1s", e)
                    self._stopping.wait(1.0)
                    continue
                if claimed is None:
                    self._wait_for_work(generation)
                    continue
                try:
                    self._dispatch(client, claimed)
                except sqlite3.ProgrammingError:
                    raise
                except Exception:
                    logger.exception("broker: delivery %d failed unexpectedly; retrying in 1s",
                                     claimed.id)
                    self._put_back(claimed)
                finally:
                    self._changed()
        except sqlite3.ProgrammingError:
            # Only after close() abandoned this thread: its row stays in_flight for the next run.
            logger.warning("broker: queue closed under a running delivery; it will be resent")
        finally:
            client.close()

    def _put_back(self, c: Claimed) -> None:
        """Return a delivery whose outcome could not be recorded to the queue, to be sent again
        (at-least-once: the subscriber may see it twice). While the queue cannot be written (disk
        full), keep trying: a row left `in_flight` would wait for the next broker start."""
        while not self._stopping.is_set():
            try:
                with self._queue.tx() as tx:
                    tx.reschedule(c.id, attempts=c.attempts, at=tx.now + 1.0, code=None,
                                  error="internal error")
                return
            except sqlite3.OperationalError as e:
                logger.error("broker: cannot put delivery %d back in line: %s; retrying in 1s",
                             c.id, e)
                self._stopping.wait(1.0)

    def _wait_for_work(self, generation: int) -> None:
        due = self._queue.next_due()
        timeout = 1.0 if due is None else min(1.0, max(0.0, due - time.time()))
        with self._cond:
            if self._generation == generation and not self._stopping.is_set():
                self._cond.wait(timeout)

    def _dispatch(self, client: httpx.Client, c: Claimed) -> None:
        if c.kind == "deadletter":
            self._send_dead_letter(client, c)
            return
        trigger = self._config.trigger(c.trigger)
        event = c.event.wire
        if trigger is None:
            # The YAML changed since this row was queued: dead-letter it to the broker's sink.
            url, retry = f"trigger:{c.trigger}", 0
            text = f"Trigger {c.trigger} no longer exists"
            out = Outcome(False, False, None, text, text.encode())
        else:
            url, retry = trigger.subscriber.url(self._subscribers), trigger.delivery.retry
            headers = binary_headers(event.attributes)
            headers |= {"Prefer": "reply", "Kn-Namespace": self._config.broker.namespace}
            out = send(client, url, headers, event.body, timeout=trigger.delivery.timeout,
                       max_reply=self._max_body)
        attempts = c.attempts + 1
        ids = (event.type, event.id, event.attributes.get("incidentkey"), c.trigger)
        with self._queue.tx() as tx:
            if out.ok:
                tx.finish(c.id, state="done", attempts=attempts, code=out.code, error=None)
                if out.reply is not None:
                    self._fan_out(tx, out.reply, ttl=c.ttl - 1, origin="reply", parent=c.id)
                logger.info("broker: delivered %s id=%s incident=%s to %s: %s", *ids, out.detail)
            elif trigger is not None and out.retryable and attempts <= retry:
                delay = trigger.delivery.backoff(attempts) * self._time_scale
                tx.reschedule(c.id, attempts=attempts, at=tx.now + delay, code=out.code,
                              error=out.detail)
                logger.warning("broker: %s id=%s incident=%s to %s failed (%s); retry %d/%d in "
                               "%.3fs", *ids, out.detail, attempts, retry, delay)
            else:
                reason = dl.give_up_reason(out.detail, attempts=attempts, retryable=out.retryable)
                tx.finish(c.id, state="dead", attempts=attempts, code=out.code, error=out.detail)
                tx.add_deadletter(c.event.seq, c.trigger, delivery_id=c.id, reason=reason,
                                  code=out.code, error_data=out.error_data, attempts=attempts,
                                  dest=url, ttl=c.ttl, sink=self._sink(c.trigger) is not None)
                logger.error("broker: %s id=%s incident=%s to %s dead-lettered: %s", *ids, reason)

    def _send_dead_letter(self, client: httpx.Client, c: Claimed) -> None:
        sink = self._sink(c.trigger)
        trigger = self._config.trigger(c.trigger)
        dl.deliver_to_sink(
            self._queue, client, c, sink_url=sink.url(self._subscribers) if sink else None,
            delivery=trigger.delivery if trigger else self._config.broker.delivery.effective(),
            namespace=self._config.broker.namespace, time_scale=self._time_scale)


def _order_key(trigger: Trigger, event: WireEvent) -> str | None:
    if not trigger.ordered:
        return None
    return event.attributes.get("partitionkey") or event.id
