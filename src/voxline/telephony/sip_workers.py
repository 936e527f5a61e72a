"""SIP user agents in worker processes: PJSIP runs in child processes, never in the server's own.

Why: the pjsua2-python wheel holds 4 calls per process (PJSUA_MAX_CALLS), and PJSIP 2.15 has races of its
own that abort the process under load (its conference clock sending RTP on a transport a call's end has just
closed; fixed upstream after 2.15). A worker that dies ends only its own calls (reported as failed, like a
trunk that dropped them); the next call starts a new worker. The pool offers `SipAgent`'s interface, so the
gateway uses either. Each worker is `python -m voxline.telephony.sip_workers` with one socket to its
parent: pickled tuples both ways (commands down; news of calls, and their audio, up).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from voxline.telephony.sip_agent import SipAgent, SipBusy, SipCallEvents, SipEnd, SipTarget

log = logging.getLogger("voxline.sip")

CALLS_PER_WORKER = 4  # PJSUA_MAX_CALLS of the pjsua2-python wheel
START_TIMEOUT_SECS = 15.0
OUTBOX_MESSAGES = 4 * 50 * 4  # 4 s of 20 ms frames for 4 calls
STUCK_SECS = 3.0  # a worker that has not read what we sent for this long is stopped (its calls end)


@dataclass
class _Call:
    key: str
    events: SipCallEvents
    target: SipTarget
    tried: set[int] = field(default_factory=set)  # workers that refused it (their PJSIP was full)
    placed: Future[None] = field(default_factory=Future)
    transfer: Future[int] | None = None
    answered_at: float | None = None


class _Worker:
    """One child process and the calls it holds (the parent's side)."""

    def __init__(self, index: int, options: dict[str, Any]) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # where `voxline` is importable from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        args = [sys.executable, "-m", "voxline.telephony.sip_workers", str(child.fileno())]
        self.proc = subprocess.Popen(args, pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
        self.index = index
        self.calls: dict[str, _Call] = {}
        self._send_lock = threading.Lock()
        self.alive = True
        self.conn.send(("start", options))
        if not self.conn.poll(START_TIMEOUT_SECS):
            self.kill()
            raise RuntimeError("the SIP worker did not start in time")
        kind, *rest = self.conn.recv()
        if kind != "started":
            self.kill()
            raise RuntimeError(f"the SIP worker did not start: {rest[0] if rest else kind}")
        self.pid = self.proc.pid
        # What goes down to the worker waits here, written by a thread of its own: a stuck worker never
        # blocks the gateway's loop (its audio is dropped; a command that finds the queue full kills it).
        self._outbox: queue.Queue[tuple | None] = queue.Queue(maxsize=OUTBOX_MESSAGES)
        self._writing_since = 0.0  # when the write under way began (0: none): a stuck worker never ends it
        threading.Thread(target=self._write, name=f"sip-worker-{index}-out", daemon=True).start()

    def send(self, message: tuple) -> None:
        if not self.alive:
            return
        since = self._writing_since
        if since and time.monotonic() - since > STUCK_SECS:
            log.error(
                "SIP worker %s (pid %s) has read nothing for %.0f s; stopping it", self.index, self.pid, STUCK_SECS
            )
            self.kill()  # its reader then ends its calls
            return
        try:
            self._outbox.put_nowait(message)
        except queue.Full:
            if message[0] == "audio":
                return  # the worker is seconds behind: drop audio rather than wait
            log.error("SIP worker %s (pid %s) takes no commands; stopping it", self.index, self.pid)
            self.kill()

    def _write(self) -> None:
        while self.alive:
            message = self._outbox.get()
            if message is None:
                return
            self._writing_since = time.monotonic()
            try:
                with self._send_lock:
                    self.conn.send(message)
            except OSError:  # the worker is gone: its reader reports its calls
                self.alive = False
                return
            finally:
                self._writing_since = 0.0

    def kill(self) -> None:
        self.alive = False
        with contextlib.suppress(AttributeError, queue.Full):
            self._outbox.put_nowait(None)  # ends the writer
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class SipWorkerPool:
    """Calls placed through SIP worker processes, up to `max_workers` of them (4 calls each)."""

    def __init__(
        self,
        *,
        max_workers: int = 4,
        bind_host: str = "0.0.0.0",
        public_host: str | None = None,
        log_level: int = 1,
        keepalive_secs: int = 0,
        tls_ca_file: str | None = None,
        tls_verify: bool = True,
    ) -> None:
        self.max_workers = max_workers
        self.options = {
            "bind_host": bind_host,
            "public_host": public_host,
            "log_level": log_level,
            "keepalive_secs": keepalive_secs,
            "tls_ca_file": tls_ca_file,
            "tls_verify": tls_verify,
        }
        self._workers: list[_Worker] = []
        self._where: dict[str, _Worker] = {}
        self._lock = threading.Condition()  # notified when a spare worker has started (or failed to)
        self._spawning = False
        self._stopping = False
        self._keys = itertools.count(1)
        self._indexes = itertools.count(1)
        self.workers_started = 0
        self.workers_lost = 0

    # ---- SipAgent's interface ----

    def start(self) -> None:
        """Start the first worker in the background: the caller (an event loop) does not wait for it."""
        self._spawn_spare()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.send(("stop",))
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(5)
            worker.kill()

    @property
    def running(self) -> bool:
        return any(w.alive for w in self._workers)

    def place(self, target: SipTarget, events: SipCallEvents) -> tuple[str, Future[None]]:
        key = f"sipw-{next(self._keys)}-{int(time.time() * 1000) % 100000000}"
        call = _Call(key, events, target)
        self._send_to_a_worker(call)
        return key, call.placed

    def _send_to_a_worker(self, call: _Call) -> None:
        try:
            worker = self._worker_with_room(call.tried)
        except (SipBusy, RuntimeError, OSError) as exc:
            call.placed.set_exception(exc if isinstance(exc, SipBusy) else SipBusy(str(exc)))
            return
        with self._lock:
            worker.calls[call.key] = call
            self._where[call.key] = worker
        call.tried.add(worker.index)
        worker.send(("place", call.key, call.target))
        with self._lock:
            free = sum(CALLS_PER_WORKER - len(w.calls) for w in self._workers if w.alive)
        if free <= 1:  # start the next worker now, so that the call after next does not wait for it
            self._spawn_spare()

    def _spawn_spare(self) -> None:
        with self._lock:
            if self._spawning or sum(1 for w in self._workers if w.alive) >= self.max_workers:
                return
            self._spawning = True
        threading.Thread(target=self._start_spare, name="sip-worker-start", daemon=True).start()

    def _start_spare(self) -> None:
        worker: _Worker | None = None
        try:
            worker = self._new_worker()
        except (RuntimeError, OSError) as exc:
            log.error("a SIP worker did not start: %s", exc)
        with self._lock:
            if worker is not None:
                self._workers.append(worker)
            self._spawning = False
            self._lock.notify_all()

    def hang_up(self, key: str) -> None:
        worker = self._where.get(key)
        if worker is not None:
            worker.send(("hangup", key))

    def send_audio(self, key: str, pcm: bytes) -> None:
        worker = self._where.get(key)
        if worker is not None:
            worker.send(("audio", key, pcm))

    def transfer(self, key: str, refer_to: str) -> Future[int]:
        done: Future[int] = Future()
        worker = self._where.get(key)
        call = worker.calls.get(key) if worker is not None else None
        if worker is None or call is None:
            done.set_exception(RuntimeError("the call is over"))
            return done
        call.transfer = done
        worker.send(("transfer", key, refer_to))
        return done

    def clear_audio(self, key: str) -> None:
        worker = self._where.get(key)
        if worker is not None:
            worker.send(("clear", key))

    def is_live(self, key: str) -> bool:
        return key in self._where

    def active_calls(self) -> int:
        return len(self._where)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive]

    # ---- the parent's side of the workers ----

    def _worker_with_room(self, tried: set[int]) -> _Worker:
        with self._lock:
            self._workers = [w for w in self._workers if w.alive]
            room = [w for w in self._workers if len(w.calls) < CALLS_PER_WORKER and w.index not in tried]
            if room:
                return min(room, key=lambda w: len(w.calls))
            if self._spawning:  # a worker is starting: take it rather than start another
                self._lock.wait_for(lambda: not self._spawning, START_TIMEOUT_SECS)
                room = [w for w in self._workers if w.alive and len(w.calls) < CALLS_PER_WORKER]
                room = [w for w in room if w.index not in tried]
                if room:
                    return min(room, key=lambda w: len(w.calls))
            if sum(1 for w in self._workers if w.alive) >= self.max_workers:
                raise SipBusy(f"this server's SIP workers hold as many calls as they can ({self.max_workers} x 4)")
            worker = self._new_worker()
            self._workers.append(worker)
            return worker

    def _new_worker(self) -> _Worker:
        worker = _Worker(next(self._indexes), self.options)
        self.workers_started += 1
        threading.Thread(target=self._read, args=(worker,), name=f"sip-worker-{worker.index}", daemon=True).start()
        return worker

    def _read(self, worker: _Worker) -> None:
        """The worker's news, handed to each call's events (which only hand it over in turn)."""
        try:
            while True:
                message = worker.conn.recv()
                self._dispatch(worker, message)
        except (EOFError, OSError):
            pass
        except Exception:
            log.exception("SIP worker %s: unreadable news", worker.index)
        self._lost(worker)

    def _dispatch(self, worker: _Worker, message: tuple) -> None:
        kind, key, *rest = message
        call = worker.calls.get(key)
        if call is None:
            return
        if kind == "audio":
            call.events.audio(rest[0])
        elif kind == "placed":
            error = rest[0]
            if error is None:
                call.placed.set_result(None)
            else:  # that worker's PJSIP is full (calls still ending there): another worker may take it
                self._forget(worker, key)
                self._send_to_a_worker(call)
        elif kind == "ringing":
            call.events.ringing(rest[0])
        elif kind == "answered":
            call.answered_at = time.monotonic()
            call.events.answered()
        elif kind == "dtmf":
            call.events.dtmf(rest[0])
        elif kind == "transfer":
            code, error = rest
            if call.transfer is not None and not call.transfer.done():
                if error is None:
                    call.transfer.set_result(code)
                else:
                    call.transfer.set_exception(RuntimeError(error))
        elif kind == "ended":
            self._forget(worker, key)
            call.events.ended(rest[0])

    def _forget(self, worker: _Worker, key: str) -> None:
        with self._lock:
            worker.calls.pop(key, None)
            self._where.pop(key, None)

    def _lost(self, worker: _Worker) -> None:
        """The worker stopped: by our stop(), or it died (PJSIP aborted it). Its calls end here."""
        stopping = self._stopping
        worker.kill()
        code = worker.proc.returncode
        with self._lock:
            calls = list(worker.calls.values())
            for call in calls:
                self._where.pop(call.key, None)
            worker.calls.clear()
            if worker in self._workers:
                self._workers.remove(worker)
        if not stopping:
            self.workers_lost += 1
            log.error(
                "SIP worker %s (pid %s) stopped with code %s; its %d calls end",
                worker.index,
                worker.pid,
                code,
                len(calls),
            )
        reason = f"the SIP worker process stopped (exit code {code})"
        for call in calls:
            if call.transfer is not None and not call.transfer.done():
                call.transfer.set_exception(RuntimeError(reason))
            if not call.placed.done():
                call.placed.set_exception(SipBusy(reason))
                continue
            talk = time.monotonic() - call.answered_at if call.answered_at else 0.0
            call.events.ended(SipEnd(0, reason, call.answered_at is not None, False, talk))


# ---- the worker process ----


class _Relay:
    """One call's news from PJSIP's threads to the parent (sends are serialised by a lock)."""

    def __init__(self, send: Any, key: str) -> None:
        self._send = send
        self._key = key

    def ringing(self, code: int) -> None:
        self._send(("ringing", self._key, code))

    def answered(self) -> None:
        self._send(("answered", self._key))

    def audio(self, pcm: bytes) -> None:
        self._send(("audio", self._key, pcm))

    def dtmf(self, digit: str) -> None:
        self._send(("dtmf", self._key, digit))

    def ended(self, end: SipEnd) -> None:
        self._send(("ended", self._key, end))


def _serve(conn: Connection) -> None:
    lock = threading.Lock()

    def send(message: tuple) -> None:
        try:
            with lock:
                conn.send(message)
        except OSError:  # the parent is gone
            os._exit(0)

    kind, options = conn.recv()
    assert kind == "start"
    agent = SipAgent(**options)
    try:
        agent.start()
    except Exception as exc:  # noqa: BLE001 - told to the parent, which refuses calls with it
        send(("failed", str(exc)))
        return
    send(("started",))
    ours: dict[str, str] = {}  # the parent's key -> the agent's

    def placed(key: str, future: Future[None]) -> None:
        exc = future.exception()
        send(("placed", key, None if exc is None else str(exc)))

    def transferred(key: str, future: Future[int]) -> None:
        exc = future.exception()
        send(("transfer", key, None if exc is not None else future.result(), None if exc is None else str(exc)))

    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind, *rest = message
            if kind == "stop":
                break
            key = rest[0]
            if kind == "place":
                agent_key, future = agent.place(rest[1], _Relay(send, key))
                ours[key] = agent_key
                future.add_done_callback(functools.partial(placed, key))
            elif key not in ours:
                continue
            elif kind == "audio":
                agent.send_audio(ours[key], rest[1])
            elif kind == "hangup":
                agent.hang_up(ours[key])
            elif kind == "clear":
                agent.clear_audio(ours[key])
            elif kind == "transfer":
                agent.transfer(ours[key], rest[1]).add_done_callback(functools.partial(transferred, key))
            if len(ours) > 256:  # forget calls that are over
                for k in [k for k, a in ours.items() if not agent.is_live(a)]:
                    ours.pop(k, None)
    finally:
        agent.stop()


def main() -> None:
    fd = int(sys.argv[1])
    conn = Connection(fd)
    _serve(conn)
    conn.close()


if __name__ == "__main__":
    main()
