"""CPU per LLM request: Pipecat's OpenAI service (the OpenAI SDK over httpx) against the call's service
(voice/llm_stream.py: plain JSON over aiohttp), and plain httpx for reference.

Each round issues the same streamed completion (a mid-call context: system prompt, 20 messages, the two
call tools) to the scripted brain in a process of its own and reads every chunk, one request at a time;
what is reported is this process's CPU time per request (the brain's work is in the other process),
and the wall time. Rounds alternate between the clients.

    python bench/llm_client.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import print_table, write_json  # noqa: E402
from voxline.devtools.demo import quiet_logs  # noqa: E402
from voxline.voice import scripted_brain  # noqa: E402
from voxline.voice.engines import LLMEndpoint, make_llm  # noqa: E402


def _context():  # noqa: ANN202
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
    from pipecat.processors.aggregators.llm_context import LLMContext

    tools = [FunctionSchema(n, "a call tool", {}, []) for n in ("end_call", "transfer_call")]
    context = LLMContext(tools=ToolsSchema(standard_tools=tools))
    for i in range(20):
        role = "user" if i % 2 == 0 else "assistant"
        context.add_message({"role": role, "content": "Yes, that works. Great, thank you for confirming."})
    return context


async def _drain(service, context) -> str:  # noqa: ANN001
    """What Pipecat's chunk loop does with a stream, minus the frames: read each chunk's text."""
    stream = await service.get_chat_completions(context)
    words = []
    try:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                words.append(chunk.choices[0].delta.content)
    finally:
        await stream.close()
    return "".join(words)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    quiet_logs()
    import httpx
    from pipecat.services.openai.llm import OpenAILLMService

    brain = scripted_brain.start_process()
    endpoint = LLMEndpoint(brain.base_url, "scripted", scripted_brain.MODEL_NAME, True)
    prompt = "You are a friendly assistant calling on behalf of a clinic. " * 8
    ours = make_llm(endpoint, prompt)
    sdk = OpenAILLMService(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        settings=OpenAILLMService.Settings(model=endpoint.model, system_instruction=prompt),
    )
    context = _context()
    body = json.dumps(
        {
            "model": endpoint.model,
            "stream": True,
            "messages": [{"role": "system", "content": prompt}, *context.messages],
        }
    ).encode()
    http = httpx.AsyncClient(base_url=endpoint.base_url, headers={"Authorization": "Bearer scripted"})

    async def plain_httpx() -> str:
        words = []
        headers = {"Content-Type": "application/json"}
        async with http.stream("POST", "/chat/completions", content=body, headers=headers) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    words.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
        return "".join(words)

    clients = {
        "Pipecat OpenAI service (SDK, httpx)": lambda: _drain(sdk, context),
        "call service (JSON, aiohttp)": lambda: _drain(ours, context),
        "reference: plain httpx, same body": plain_httpx,
    }
    cpu: dict[str, list[float]] = {k: [] for k in clients}
    wall: dict[str, list[float]] = {k: [] for k in clients}
    try:
        for one in clients.values():
            for _ in range(20):
                assert await one() == "Great, thank you for confirming."
        for _ in range(args.rounds):
            for name, one in clients.items():
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(args.requests):
                    await one()
                cpu[name].append((time.process_time() - c0) / args.requests * 1000)
                wall[name].append((time.perf_counter() - w0) / args.requests * 1000)
    finally:
        await http.aclose()
        brain.stop()
    base = statistics.median(cpu[next(iter(clients))])
    rows = [
        {
            "client": name,
            "cpu_ms_per_request": round(statistics.median(cpu[name]), 3),
            "wall_ms_per_request": round(statistics.median(wall[name]), 3),
            "cpu_ratio": round(statistics.median(cpu[name]) / base, 3),
        }
        for name in clients
    ]
    print_table(
        f"LLM request CPU, {args.requests} requests x {args.rounds} rounds (medians)",
        rows,
        ["client", "cpu_ms_per_request", "wall_ms_per_request", "cpu_ratio"],
    )
    write_json("llm_client", {"requests": args.requests, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
