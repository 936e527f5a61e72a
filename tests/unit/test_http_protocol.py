"""The served HTTP protocol sends a response's head and body in one write."""

import asyncio

from voxline.api.http_protocol import _JoinedWrites


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def test_head_and_body_go_out_in_one_write() -> None:
    real = Recorder()
    t = _JoinedWrites(real, asyncio.get_running_loop())
    t.write(HEAD)
    t.write(b"{}")
    assert real.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)
    assert real.writes == [HEAD + b"{}"]  # nothing left to send


async def test_a_head_without_a_body_in_the_same_step_goes_out_at_its_end() -> None:
    real = Recorder()
    t = _JoinedWrites(real, asyncio.get_running_loop())
    t.write(HEAD)
    assert real.writes == []
    await asyncio.sleep(0)
    assert real.writes == [HEAD]
    t.write(b"chunk")  # other writes pass straight through
    assert real.writes == [HEAD, b"chunk"]


async def test_close_sends_what_is_held_first_and_the_rest_is_the_real_transport() -> None:
    real = Recorder()
    t = _JoinedWrites(real, asyncio.get_running_loop())
    t.write(HEAD)
    t.close()
    assert real.writes == [HEAD] and real.closed
    assert t.get_extra_info("socket") == "info:socket"
