"""The call's LLM: Pipecat's OpenAI service, with the streamed request done in plain JSON over aiohttp.

Pipecat's OpenAILLMService sends each turn through the OpenAI SDK, whose request-body transformation (by
type introspection), response-model construction and header building cost 9-14 ms of CPU for a
20-message turn, on the event loop that carries every call's audio; the same request and stream in
plain JSON over aiohttp cost 0.6-1 ms (bench/llm_client.py; plain httpx ~2 ms). So this service keeps
everything of Pipecat's (the adapter that turns the LLMContext into messages and tools, the chunk loop,
function calls, metrics, interruption and error handling) and replaces only `get_chat_completions`:
the body is `json.dumps` of the same parameters, the stream is parsed line by line with `json.loads`,
and each chunk reaches Pipecat's loop as a dict whose keys read as attributes, which is all that loop
asks of it.

One aiohttp session (a keep-alive connection pool) per event loop serves every call and endpoint; TLS
is checked against the system's trust store (SSL_CERT_FILE / SSL_CERT_DIR), not certifi's. The
SDK's client is built only if something asks this service for an out-of-band inference (`run_inference`,
which nothing in a call does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
from openai._types import NotGiven as _SDKNotGiven
from openai._types import Omit as _SDKOmit
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.types import NotGiven, assert_given

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# A live turn that waits this long for its next byte is lost anyway; the SDK waited 600 s.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRY_PAUSE_S = 0.5
_UNSET = (NotGiven, _SDKNotGiven, _SDKOmit)


class LLMRequestError(Exception):
    """The endpoint refused the request or sent an error in the stream. `status` is read by Pipecat's error
    classification (401 is a permanent authentication failure, 5xx a server one), as the SDK's was."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Fields(dict):
    """A parsed JSON object whose keys also read as attributes, absent ones as None (as the SDK's chunk
    models read to Pipecat's loop: `chunk.choices[0].delta.tool_calls`, `chunk.usage`, ...)."""

    __slots__ = ()
    __getattr__ = dict.get


def request_body(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for the parameters Pipecat builds for the SDK: unset values left out, `extra_body`
    merged in (what the SDK does with them)."""
    body = {k: v for k, v in params.items() if not isinstance(v, _UNSET)}
    body.pop("extra_headers", None)
    extra = body.pop("extra_body", None)
    if extra:
        body.update(extra)
    return body


def parse_event(data: bytes) -> Fields:
    chunk = json.loads(data, object_hook=Fields)
    if isinstance(chunk, Fields) and chunk.error:
        error = chunk.error
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMRequestError(f"error in the stream: {message}")
    return chunk


class ChunkStream:
    """One streamed completion: iterate for its chunks; `close()` hands the connection back to the pool
    (or drops it, if the stream was not read to its end, e.g. on an interruption)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    def __aiter__(self) -> AsyncIterator[Fields]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Fields]:
        # Server-sent events: `data:` lines, an event ends at a blank line; other fields are not used.
        data: list[bytes] = []
        async for raw in self._response.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
                continue
            if line or not data:
                continue
            payload = data[0] if len(data) == 1 else b"\n".join(data)
            data.clear()
            if payload == b"[DONE]":
                continue  # read on to the end of the body, so that the connection can be reused
            yield parse_event(payload)
        if data and data != [b"[DONE]"]:
            yield parse_event(b"\n".join(data))

    async def close(self) -> None:
        self._response.release()


class StreamingChatLLM(OpenAILLMService):
    """Pipecat's OpenAI LLM service without the SDK on the turn path (see the module's docstring)."""

    def create_client(self, api_key: Any = None, base_url: Any = None, **kwargs: Any) -> Any:
        self._url = (base_url or OPENAI_BASE_URL).rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._proxy = proxy_for(self._url)
        self._sdk_args = {"api_key": api_key, "base_url": base_url, **kwargs}
        return None  # the SDK's client is built only if an out-of-band inference asks for it

    async def run_inference(self, *args: Any, **kwargs: Any) -> str | None:
        if self._client is None:
            self._client = super().create_client(**self._sdk_args)
        return await super().run_inference(*args, **kwargs)

    async def get_chat_completions(self, context: LLMContext) -> Any:
        adapter = self.get_llm_adapter()
        self._log_llm_response(context)
        invocation = await adapter.get_llm_invocation_params(
            context,
            system_instruction=assert_given(self._settings.system_instruction),
            convert_developer_to_user=not self.supports_developer_role,
        )
        params = self.build_chat_completion_params(invocation)
        headers = self._headers
        if params.get("extra_headers"):
            headers = {**headers, **params["extra_headers"]}
        return await open_stream(self._url, headers, json.dumps(request_body(params)).encode(), self._proxy)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for this URL (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), as the SDK's
    httpx client honoured them; read once per service, not per request (aiohttp's own `trust_env` would
    also look up ~/.netrc on a thread for every request)."""
    proxies = urllib.request.getproxies()
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy


async def open_stream(url: str, headers: dict[str, str], body: bytes, proxy: str | None = None) -> ChunkStream:
    """POST a streaming completion; a failed connection (e.g. a pooled one the server had closed) or a
    busy endpoint (429, 5xx) gets one more try, as the SDK gave it."""
    for attempt in (1, 2):
        try:
            response = await session().post(url, data=body, headers=headers, proxy=proxy)
        except aiohttp.ClientConnectionError as exc:
            if attempt == 2 or isinstance(exc, asyncio.TimeoutError):
                raise
            log.info("LLM request to %s failed (%s), retrying once", url, exc)
            continue
        if response.status < 300:
            return ChunkStream(response)
        try:
            text = (await response.read()).decode("utf-8", "replace")
        finally:
            response.release()
        if attempt == 1 and response.status in RETRY_STATUSES:
            log.info("LLM endpoint %s answered %s, retrying once", url, response.status)
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        raise LLMRequestError(f"HTTP {response.status} from {url}: {_error_message(text)}", response.status)
    raise AssertionError("unreachable")


def _error_message(text: str) -> str:
    try:
        error = json.loads(text).get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    except (ValueError, AttributeError):
        pass
    return text[:300]


# Per event loop: the session and the suspended generator that closes it (held here: the loop's own
# set of generators is weak).
_sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncGenerator[None, None]]] = {}


def session() -> aiohttp.ClientSession:
    """The running loop's HTTP session, closed when the loop shuts down (see _close_at_shutdown)."""
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is not None and not entry[0].closed:
        return entry[0]
    s = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1000),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S),
        cookie_jar=aiohttp.DummyCookieJar(),
        read_bufsize=2**18,  # a stream's longest line may be twice this
    )
    closer = _close_at_shutdown(loop, s)
    _sessions[loop] = (s, closer)
    asyncio.ensure_future(anext(closer))  # run it to its `yield`
    return s


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, s: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """An async generator left suspended: a loop closes every such generator when it shuts down
    (`asyncio.run`, `uvloop.run`, `loop.shutdown_asyncgens()`), and this one closes the session then."""
    try:
        yield
    finally:
        if loop in _sessions and _sessions[loop][0] is s:
            del _sessions[loop]
        await s.close()
