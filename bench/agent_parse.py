"""Adapter parse throughput: Claude stream-json in 64 KiB chunks -> normalized events, in MB/s.

A: the claude adapter's parser fed the stream in 64 KiB chunks (line reassembly across
chunk boundaries, event construction, text clipping).  B (same run, same bytes, same
JSON library as the adapter): splitting the stream on newlines and calling
``orjson.loads`` on every line — the least a parser must do.  The sides alternate round
by round; both must see the same number of lines.  A second case streams one 8 MiB line
(beyond the vendor SDK's 1 MiB cap) in the same 64 KiB chunks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import _harness
import orjson

from executive.agents.adapters import RunEnd, get_adapter

CHUNK = 64 * 1024


def make_stream(n_turns: int) -> bytes:
    lines: list[dict[str, Any]] = [
        {"type": "system", "subtype": "init", "session_id": "s", "tools": ["Bash", "Edit"], "model": "m", "cwd": "/w"}
    ]
    for i in range(n_turns):
        lines.append(
            {
                "type": "assistant",
                "message": {
                    "content": [
                        {"type": "text", "text": f"Step {i}: " + "reading the code and deciding what to change. " * 8},
                        {
                            "type": "tool_use",
                            "id": f"t{i}",
                            "name": "Bash",
                            "input": {"command": f"grep -rn pattern_{i} src/"},
                        },
                    ]
                },
                "session_id": "s",
            }
        )
        lines.append(
            {
                "type": "user",
                "message": {
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"t{i}",
                            "content": "src/a.py:10: match\n" * 20,
                            "is_error": False,
                        }
                    ]
                },
                "session_id": "s",
            }
        )
    lines.append(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": n_turns,
            "result": "done",
            "session_id": "s",
            "total_cost_usd": 1.0,
            "usage": {"input_tokens": 1, "output_tokens": 1},
            "permission_denials": [],
        }
    )
    return "".join(json.dumps(o) + "\n" for o in lines).encode()


def baseline(data: bytes) -> int:
    n = 0
    for line in data.split(b"\n"):
        if line:
            orjson.loads(line)
            n += 1
    return n


def adapter(data: bytes) -> int:
    parser = get_adapter("claude").parser(None, max_line=64 * 1024 * 1024, max_text=256 * 1024)
    n = 0
    for i in range(0, len(data), CHUNK):
        n += len(parser.feed(data[i : i + CHUNK]))
    return n + len(parser.finish(RunEnd(exit_code=0)))


def rate(fn: Callable[[bytes], int], data: bytes) -> float:
    """MB/s of one pass of ``fn`` over ``data``."""
    t0 = time.perf_counter()
    fn(data)
    return len(data) / 1e6 / (time.perf_counter() - t0)


def report(bench: _harness.Bench, label: str, data: bytes) -> None:
    lines = baseline(data)
    events = adapter(data)  # also warms both paths
    xs, ys = _harness.interleave(bench.rounds, lambda: rate(adapter, data), lambda: rate(baseline, data))
    bench.record(
        f"{label} ({len(data) / 1e6:.1f} MB, {lines:,} lines)",
        "parse throughput",
        "MB/s",
        "claude adapter, 64 KiB chunks",
        xs,
        "split + orjson.loads per line",
        ys,
        note=f"{events:,} normalized events",
    )


def main() -> None:
    with _harness.Bench("agent_parse", __doc__.splitlines()[0]) as bench:
        report(bench, "stream of 4000 turns", make_stream(4000))
        big = (
            '{"type":"assistant","message":{"content":[{"type":"text","text":"'
            + "x" * (8 * 1024 * 1024)
            + '"}]},"session_id":"s"}\n'
        ).encode()
        report(bench, "one 8 MiB line", big)


if __name__ == "__main__":
    main()
