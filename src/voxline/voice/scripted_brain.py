"""The scripted brain: a stand-in language model for when no LLM is configured (demo, tests, benchmarks).

It is NOT a model. It is a tiny OpenAI-compatible HTTP server on loopback that answers with fixed rules,
so the platform still talks to it through the real path (Pipecat's OpenAI LLM service, streaming, tool
calls; the extraction client) and nothing is short-circuited. Point VOXLINE_LLM_BASE_URL at a real
endpoint and the same code talks to a real model.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MODEL_NAME = "voxline-scripted-brain"

# (pattern on the callee's last words, tool to call if offered, spoken reply otherwise)
_RULES: list[tuple[str, str | None, str]] = [
    (r"\b(bye|goodbye|that'?s all|hang up|end the call)\b", "end_call", "Goodbye, and thank you!"),
    (
        r"\b(human|person|someone else|representative|transfer|real agent)\b",
        "transfer_call",
        "Let me find someone who can help you.",
    ),
    (r"\b(book|appointment|schedule)\b", None, "Sure. I have booked your appointment for tomorrow at ten thirty."),
    (r"\b(cancel)\b", None, "Okay, your appointment is cancelled."),
    (r"\b(yes|yeah|sure|correct)\b", None, "Great, thank you for confirming."),
    (r"\b(no|not)\b", None, "I understand. Is there anything else I can help with?"),
]
_FALLBACK = "I see. Could you tell me a little more?"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reply_for(messages: list[dict[str, Any]], tools: list[str]) -> tuple[str | None, str | None]:
    """(tool to call, text to say) for a conversation, by the rules above."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return None, "Alright."
    user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    for pattern, tool, text in _RULES:
        if re.search(pattern, user.lower()):
            if tool and tool in tools:
                return tool, None
            return None, text
    return None, _FALLBACK


def extraction_answer(messages: list[dict[str, Any]]) -> str:
    """Answer an extraction request: the keys are listed as JSON in the system message (see extraction.py)."""
    system = next((_text_of(m.get("content")) for m in messages if m.get("role") == "system"), "")
    transcript = " ".join(_text_of(m.get("content")) for m in messages if m.get("role") == "user")
    match = re.search(r"KEYS_JSON:\s*(\[.*\])", system, re.S)
    keys = json.loads(match.group(1)) if match else []
    lowered = transcript.lower()
    values: dict[str, Any] = {}
    for key in keys:
        kind = key.get("type", "string")
        if kind == "boolean":
            values[key["name"]] = bool(re.search(r"\b(yes|yeah|sure|book)\b", lowered))
        elif kind in ("number", "integer"):
            num = re.search(r"\b(\d+(?:\.\d+)?)\b", transcript)
            value = float(num.group(1)) if num else None
            values[key["name"]] = int(value) if kind == "integer" and value is not None else value
        elif kind == "array":
            values[key["name"]] = re.findall(r"\b(appointment|tomorrow|cancel)\b", lowered)
        elif kind in ("date", "datetime"):
            values[key["name"]] = None
        else:
            found = re.search(r"\b(book|appointment|cancel)\w*", lowered)
            values[key["name"]] = found.group(0) if found else None
    return json.dumps(values)


def _chunks(base: dict[str, Any], tool: str | None, text: str | None) -> Iterator[str]:
    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return "data: " + json.dumps(body) + "\n\n"

    yield event({"role": "assistant", "content": ""})
    if tool:
        call = {
            "index": 0,
            "id": "call_" + uuid.uuid4().hex[:12],
            "type": "function",
            "function": {"name": tool, "arguments": ""},
        }
        yield event({"tool_calls": [call]})
        yield event({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
        yield event({}, "tool_calls")
    else:
        for word in re.findall(r"\S+\s*", text or ""):
            yield event({"content": word})
        yield event({}, "stop")
    yield "data: [DONE]\n\n"


async def _stream(events: list[str]) -> AsyncIterator[str]:
    """The events one by one, as a model streams them (an async iterator: a plain one would cost a
    thread hop per event in Starlette)."""
    for event in events:
        yield event


def make_app() -> FastAPI:
    app = FastAPI(title="Voxline scripted brain (stand-in LLM)")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "voxline"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        messages = body.get("messages") or []
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        base = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12],
            "created": int(time.time()),
            "model": body.get("model", MODEL_NAME),
        }
        if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
            tool, text = None, extraction_answer(messages)
        else:
            tool, text = reply_for(messages, tools)
        if body.get("stream"):
            return StreamingResponse(_stream(list(_chunks(base, tool, text))), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool:
            message["tool_calls"] = [
                {
                    "id": "call_" + uuid.uuid4().hex[:12],
                    "type": "function",
                    "function": {"name": tool, "arguments": "{}"},
                }
            ]
        return JSONResponse(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )

    return app


@dataclass
class RunningBrain:
    base_url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


_shared: RunningBrain | None = None
_shared_lock = threading.Lock()


def start() -> RunningBrain:
    """Serve the brain on a free loopback port in a background thread (its own event loop)."""
    import uvicorn

    # IPPROTO_TCP named explicitly: asyncio only turns Nagle off (TCP_NODELAY) on accepted sockets whose
    # listener says so, and with Nagle on every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make_app(), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)

    def serve() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=serve, name="scripted-brain", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return RunningBrain(f"http://127.0.0.1:{port}/v1", server, thread)


def shared() -> RunningBrain:
    """One brain per process, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared._thread.is_alive():  # noqa: SLF001 - this module's own brain
            _shared = start()
        return _shared


def _serve_child(ready) -> None:  # noqa: ANN001 - a multiprocessing queue
    brain = start()
    ready.put(brain.base_url)
    brain._thread.join()  # noqa: SLF001


@dataclass
class BrainProcess:
    """The brain in a process of its own, as a real model server would be (benchmarks use it so that the
    stand-in's own work does not share the measured process's interpreter lock)."""

    base_url: str
    _process: Any

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(timeout=5)


def start_process() -> BrainProcess:
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Queue()
    process = spawn.Process(target=_serve_child, args=(ready,), name="scripted-brain", daemon=True)
    process.start()
    return BrainProcess(ready.get(timeout=60), process)
