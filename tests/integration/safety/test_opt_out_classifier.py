"""When a model is configured, an utterance the phrase rules miss is asked of it (OpenAI chat completions,
over real HTTP on loopback). The model here is a stand-in server that answers as a model would and records
what it was asked; a model that fails or is unreachable counts as "no"."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from fastapi import FastAPI, Request

from voxline.core.opt_out import CLASSIFIER_PROMPT
from voxline.safety import opt_out
from voxline.settings import Settings

PARAPHRASE = "I'd rather your company never phones this number, thanks"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_model_is_asked_only_what_the_rules_miss_and_its_yes_counts(tmp_path):
    asked: list[dict] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await request.json()
        asked.append(body)
        said = body["messages"][-1]["content"]
        answer = "YES" if "never phones" in said else "NO"
        return {"choices": [{"message": {"role": "assistant", "content": answer}}]}

    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.02)
    try:
        settings = Settings(data_dir=tmp_path, llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="m")
        assert await opt_out.asks_to_stop(settings, PARAPHRASE)
        assert asked[-1]["messages"][0]["content"] == CLASSIFIER_PROMPT and asked[-1]["model"] == "m"
        assert not await opt_out.asks_to_stop(settings, "What number should I call to reschedule?")
        n = len(asked)
        assert await opt_out.asks_to_stop(settings, "Stop calling me")  # the rules decide: no request
        assert not await opt_out.asks_to_stop(settings, "Sounds good")  # nothing about calls: no request
        assert len(asked) == n
        without_model = Settings(data_dir=tmp_path, llm_base_url=None)
        assert not await opt_out.asks_to_stop(without_model, PARAPHRASE)
        dead = Settings(data_dir=tmp_path, llm_base_url=f"http://127.0.0.1:{_port()}/v1", llm_model="m")
        assert not await opt_out.asks_to_stop(dead, PARAPHRASE)
    finally:
        server.should_exit = True
        await task
