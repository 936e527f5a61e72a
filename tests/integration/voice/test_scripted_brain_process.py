"""The scripted brain in a process of its own (how the benchmarks run it) answers like the in-process one."""

import json

import httpx

from voxline.voice import scripted_brain


async def test_the_brain_in_its_own_process_streams_a_reply_over_the_openai_wire_format():
    brain = scripted_brain.start_process()
    try:
        async with httpx.AsyncClient(base_url=brain.base_url, timeout=10) as http:
            body = {
                "model": scripted_brain.MODEL_NAME,
                "stream": True,
                "messages": [{"role": "user", "content": "Yes, that works."}],
            }
            async with http.stream("POST", "/chat/completions", json=body) as r:
                assert r.status_code == 200
                events = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        words = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
        assert words == "Great, thank you for confirming."
    finally:
        brain.stop()
    assert not brain._process.is_alive()
