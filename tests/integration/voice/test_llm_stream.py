"""The call's LLM service (voice/llm_stream.py) over real HTTP on loopback: the scripted brain, and a small
server in this file that answers with the OpenAI streaming format as documented (tool calls split across
chunks, usage), with errors, and with a stream cut midway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import FunctionCallParams
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.utils.errors import ErrorCategory

from voxline.voice import llm_stream, scripted_brain
from voxline.voice.engines import LLMEndpoint, make_llm

TOOLS = ("end_call", "transfer_call")


def _context(user: str, tools: tuple[str, ...] = ()) -> LLMContext:
    schemas = [FunctionSchema(name, f"{name} tool", {}, []) for name in tools]
    context = LLMContext(tools=ToolsSchema(standard_tools=schemas)) if schemas else LLMContext()
    context.add_message({"role": "user", "content": user})
    return context


def _llm(base_url: str, api_key: str = "test-key", model: str = "test-model") -> Any:
    return make_llm(LLMEndpoint(base_url, api_key, model, scripted=False), "You are on a phone call.")


def _calls_into(llm: Any, names: tuple[str, ...]) -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = []

    async def handler(params: FunctionCallParams) -> None:
        calls.append((params.function_name, dict(params.arguments)))
        await params.result_callback({"ok": True})

    for name in names:
        llm.register_function(name, handler)
    return calls


def _text(frames: Any) -> str:
    return "".join(f.text for f in frames if isinstance(f, LLMTextFrame))


# ---- the scripted brain --------------------------------------------------------------------------


async def test_a_reply_streams_as_text_frames_between_start_and_end():
    llm = _llm(scripted_brain.shared().base_url, "scripted", scripted_brain.MODEL_NAME)
    down, up = await run_test(llm, frames_to_send=[LLMContextFrame(_context("Yes, that works."))])
    assert _text(down) == "Great, thank you for confirming."
    kinds = [type(f) for f in down if isinstance(f, (LLMFullResponseStartFrame, LLMTextFrame, LLMFullResponseEndFrame))]
    assert kinds[0] is LLMFullResponseStartFrame and kinds[-1] is LLMFullResponseEndFrame
    assert kinds.count(LLMTextFrame) == 5  # one per word
    assert not [f for f in up if isinstance(f, ErrorFrame)]


@pytest.mark.parametrize(
    ("said", "tool"), [("Okay, goodbye.", "end_call"), ("Can I talk to a human?", "transfer_call")]
)
async def test_the_brain_s_tool_calls_reach_their_handlers(said, tool):
    llm = _llm(scripted_brain.shared().base_url, "scripted", scripted_brain.MODEL_NAME)
    calls = _calls_into(llm, TOOLS)
    down, _ = await run_test(llm, frames_to_send=[LLMContextFrame(_context(said, TOOLS)), SleepFrame(0.2)])
    assert calls == [(tool, {})]
    assert [f for f in down if isinstance(f, FunctionCallResultFrame)]
    assert _text(down) == ""


# ---- a server answering as documented ---------------------------------------------------------------


def _event(delta: dict | None, finish: str | None = None, **extra: Any) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "test-model-2026"}
    chunk["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps({**chunk, **extra}).encode() + b"\n\n"


class Endpoint:
    """An aiohttp server on loopback; `answer` decides each response from the request's JSON body."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.peers: list[Any] = []
        self.answer: Callable[[web.Request, dict], Any] = _words("Hello there.")
        self.client_left = asyncio.Event()
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return await self.answer(request, body)


def _words(text: str) -> Callable[[web.Request, dict], Any]:
    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_event({"role": "assistant", "content": ""}))
        for word in text.split(" "):
            await response.write(_event({"content": word + " "}))
        await response.write(_event({}, "stop"))
        usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        await response.write(_event(None, usage=usage))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return answer


@pytest_asyncio.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", ep.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp has no public accessor
    ep.base_url = f"http://127.0.0.1:{port}/v1"
    yield ep
    await runner.cleanup()


async def test_the_request_is_the_openai_body_with_the_key_as_a_bearer_token(endpoint):
    llm = _llm(endpoint.base_url, api_key="sk-test")
    down, _ = await run_test(llm, frames_to_send=[LLMContextFrame(_context("Hi", ("end_call",)))])
    assert _text(down) == "Hello there. "
    (body,) = endpoint.requests
    assert body["model"] == "test-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "You are on a phone call."},
        {"role": "user", "content": "Hi"},
    ]
    assert [t["function"]["name"] for t in body["tools"]] == ["end_call"]
    assert body["tools"][0]["type"] == "function"
    assert not {"temperature", "seed", "max_tokens", "service_tier", "extra_body"} & body.keys()
    assert endpoint.headers[0]["Authorization"] == "Bearer sk-test"
    assert endpoint.headers[0]["Content-Type"] == "application/json"
    assert llm.get_full_model_name() == "test-model-2026"


async def test_a_proxy_named_by_the_environment_carries_the_request(endpoint, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", endpoint.base_url.removesuffix("/v1"))  # it answers as the model would
    down, _ = await run_test(_llm("http://model.invalid/v1"), frames_to_send=[LLMContextFrame(_context("Hi"))])
    assert _text(down) == "Hello there. "
    assert endpoint.headers[0]["Host"] == "model.invalid"
    monkeypatch.setenv("NO_PROXY", "model.invalid")
    assert llm_stream.proxy_for("http://model.invalid/v1/chat/completions") is None


async def test_without_tools_the_request_names_none(endpoint):
    await run_test(_llm(endpoint.base_url), frames_to_send=[LLMContextFrame(_context("Hi"))])
    assert "tools" not in endpoint.requests[0] and "tool_choice" not in endpoint.requests[0]


async def test_turns_reuse_one_kept_alive_connection(endpoint):
    llm = _llm(endpoint.base_url)
    frames = [LLMContextFrame(_context("Hi")), SleepFrame(0.1), LLMContextFrame(_context("Again"))]
    down, _ = await run_test(llm, frames_to_send=frames)
    assert _text(down) == "Hello there. Hello there. "
    assert len(endpoint.peers) == 2 and endpoint.peers[0] == endpoint.peers[1]


async def test_a_tool_call_split_across_chunks_is_assembled_before_its_handler_runs(endpoint):
    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        first = {
            "index": 0,
            "id": "call_abc",
            "type": "function",
            "function": {"name": "transfer_call", "arguments": ""},
        }
        await response.write(_event({"role": "assistant", "content": None, "tool_calls": [first]}))
        for part in ('{"rea', 'son": "wants a', ' person"}'):
            await response.write(_event({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
        await response.write(_event({}, "tool_calls"))
        # One event split over two writes, with a comment line and CRLF endings, as proxies may send it.
        await response.write(b": keep-alive\r\n\r\ndata: [DO")
        await response.write(b"NE]\r\n\r\n")
        await response.write_eof()
        return response

    endpoint.answer = answer
    llm = _llm(endpoint.base_url)
    calls = _calls_into(llm, TOOLS)
    down, up = await run_test(
        llm, frames_to_send=[LLMContextFrame(_context("A person please", TOOLS)), SleepFrame(0.2)]
    )
    assert calls == [("transfer_call", {"reason": "wants a person"})]
    (result,) = [f for f in down if isinstance(f, FunctionCallResultFrame)]
    assert result.tool_call_id == "call_abc"
    assert not [f for f in up if isinstance(f, ErrorFrame)]


@pytest.mark.parametrize(
    ("status", "attempts", "category"), [(401, 1, ErrorCategory.AUTHENTICATION), (500, 2, ErrorCategory.SERVER)]
)
async def test_a_refused_request_is_an_error_frame_after_one_retry_if_it_may_pass(endpoint, status, attempts, category):
    async def answer(request: web.Request, body: dict) -> web.Response:
        error = {"error": {"message": f"no thanks ({status})", "type": "test", "code": None}}
        return web.json_response(error, status=status)

    endpoint.answer = answer
    down, up = await run_test(_llm(endpoint.base_url), frames_to_send=[LLMContextFrame(_context("Hi"))])
    (error,) = [f for f in up if isinstance(f, ErrorFrame)]
    assert f"HTTP {status}" in error.error and f"no thanks ({status})" in error.error
    assert isinstance(error.exception, llm_stream.LLMRequestError) and error.exception.status == status
    assert error.category == category  # as Pipecat classified the SDK's errors: 401 is permanent, 5xx is not
    assert len(endpoint.requests) == attempts
    assert _text(down) == ""
    assert [f for f in down if isinstance(f, LLMFullResponseEndFrame)]


async def test_a_stream_cut_midway_keeps_what_came_and_reports_an_error(endpoint):
    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_event({"role": "assistant", "content": "Half "}))
        await response.write(_event({"content": "a sent"}))
        await asyncio.sleep(0.05)
        request.transport.close()  # the connection drops before the chunked body's end
        return response

    endpoint.answer = answer
    down, up = await run_test(_llm(endpoint.base_url), frames_to_send=[LLMContextFrame(_context("Hi"))])
    assert _text(down) == "Half a sent"
    (error,) = [f for f in up if isinstance(f, ErrorFrame)]
    assert "Error during completion" in error.error
    assert [f for f in down if isinstance(f, LLMFullResponseEndFrame)]
    # The next turn gets a fresh connection and a whole answer.
    endpoint.answer = _words("Whole again.")
    down, up = await run_test(_llm(endpoint.base_url), frames_to_send=[LLMContextFrame(_context("Hi"))])
    assert _text(down) == "Whole again. " and not [f for f in up if isinstance(f, ErrorFrame)]


async def test_an_error_event_in_the_stream_is_an_error_frame(endpoint):
    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"error": {"message": "overloaded"}}\n\n')
        await response.write_eof()
        return response

    endpoint.answer = answer
    _, up = await run_test(_llm(endpoint.base_url), frames_to_send=[LLMContextFrame(_context("Hi"))])
    (error,) = [f for f in up if isinstance(f, ErrorFrame)]
    assert "overloaded" in error.error


async def test_nothing_listening_is_an_error_frame():
    llm = _llm("http://127.0.0.1:9/v1")  # nothing listens on port 9
    _, up = await run_test(llm, frames_to_send=[LLMContextFrame(_context("Hi"))])
    (error,) = [f for f in up if isinstance(f, ErrorFrame)]
    assert "Cannot connect" in error.error


async def test_an_interruption_cancels_the_stream_and_the_server_sees_the_client_leave(endpoint):
    async def answer(request: web.Request, body: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_event({"role": "assistant", "content": "One "}))
        try:
            for _ in range(100):  # a long answer, one word every 50 ms
                await asyncio.sleep(0.05)
                await response.write(_event({"content": "more "}))
        except (ConnectionResetError, asyncio.CancelledError):
            endpoint.client_left.set()
            raise
        return response

    endpoint.answer = answer
    frames = [LLMContextFrame(_context("Hi")), SleepFrame(0.2), InterruptionFrame(), SleepFrame(0.2)]
    down, _ = await run_test(_llm(endpoint.base_url), frames_to_send=frames)
    await asyncio.wait_for(endpoint.client_left.wait(), 3)
    assert _text(down).startswith("One ") and len(_text(down)) < len("One ") + 20 * len("more ")


async def test_the_session_is_shared_and_closed_when_its_loop_shuts_down():
    def in_a_loop_of_its_own() -> tuple[bool, bool]:
        async def main() -> tuple[Any, bool]:
            first = llm_stream.session()
            return first, first is llm_stream.session()

        session, shared = asyncio.run(main())
        return shared, session.closed

    assert await asyncio.to_thread(in_a_loop_of_its_own) == (True, True)
