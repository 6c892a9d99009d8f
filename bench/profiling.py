"""`--profile`: one load repeated (its own user, not the table's run) with `py-spy record` on a side's server,
summarised three ways: the event loop's functions by own time, Parley's functions by time on the stack, and
the samples by layer (HTTP, use cases, router and LLM adapters, SQL, Redis, event loop).

Only the main thread counts: py-spy cannot tell idle threads in this container (the in-process jobs worker's
threads waiting on a condition are sampled as busy), and the event loop is where a request's CPU goes.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from servers import BIN

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("router + LLM adapters", ("application/conversation/router.py", "application/conversation/circuit_breaker.py")),
    ("router + LLM adapters", ("adapters/llm/", "openai/", "anthropic/", "aiohttp/", "httpx", "httpcore", "yarl/")),
    ("router + LLM adapters", ("multidict/", "aiohappyeyeballs/", "propcache/", "jiter/", "distro/")),
    ("SQL", ("adapters/sql/", "sqlalchemy/", "asyncpg/", "advanced_alchemy/", "aiosqlite/", "greenlet/")),
    ("Redis", ("adapters/redis/", "redis/")),
    ("use cases + domain", ("application/", "domain/")),
    ("HTTP", ("uvicorn/", "h11/", "httptools/", "litestar/", "starlette/", "anyio/", "msgspec/", "entrypoints/")),
    ("other adapters", ("adapters/",)),
    ("event loop", ("uvloop/",)),
)
"""First match wins, by the start of the frame's file path (py-spy prints it relative to its sys.path entry)."""
ROOTS = ("parley", "entrypoints/cli.py", "uvicorn/main.py", "uvicorn/server.py", "uvicorn/_compat.py")
"""The frames under which the event loop runs: time with only these (and the standard library, and uvloop) on
the stack is the loop's own (uvloop's C code: polling, socket reads and writes, callbacks)."""


async def profiled(
    py_spy_pid: int, seconds: float, load: Awaitable[dict[str, Any]], tmp: Path, keep: Path | None
) -> dict[str, Any]:
    """Run `load` while py-spy records process `py_spy_pid` for `seconds` (100 Hz, every thread, raw stacks).
    `keep`: where to copy py-spy's collapsed stacks (flamegraph.pl and speedscope read them)."""
    py_spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if py_spy is None:
        load_result = await load
        return {"error": f"py-spy is not installed: {BIN / 'pip'} install py-spy", "load": load_result}
    output = tmp / "profile.txt"
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(py_spy_pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        "100",
        "--format",
        "raw",
        "--nolineno",
        "--threads",
        "--output",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    load_result = await load
    log, _ = await spy.communicate()
    if spy.returncode != 0 or not output.exists():
        return {"error": f"py-spy could not record (exit {spy.returncode}): {log.decode().strip()[-500:]}"}
    if keep is not None:
        shutil.copyfile(output, keep)
    return {"load": load_result, **summarise(output.read_text())}


def summarise(raw: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks, one thread per stack's first frame -> shares of the main thread's
    samples: functions by own time (`own`), Parley's functions anywhere on the stack (`total_parley`), packages
    by own time, layers by own time (`own_by_layer`), and layers with the standard library's time given to its
    nearest caller outside it (`by_layer`: `json.loads` under the OpenAI adapter counts for the adapter; only
    samples with nothing but the standard library and uvloop on the stack are the event loop's)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    own_layers: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    samples = other = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        thread, *frames = stack.split(";")
        count = int(count_text)
        if not thread.endswith(": MainThread") or not frames:
            other += count
            continue
        samples += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        own_layers[layer(frames[-1])] += count
        layers[_attributed_layer(frames)] += count
        for frame in set(frames):
            total[frame] += count

    def share(counts: Counter[str], top: int = 15) -> list[dict[str, Any]]:
        return [{"function": k, "percent": round(100 * n / max(samples, 1), 1)} for k, n in counts.most_common(top)]

    ours = Counter({frame: n for frame, n in total.items() if _is_parley(frame)})
    return {
        "samples": samples,
        "other_thread_samples": other,
        "own": share(own),
        "total_parley": share(ours),
        "own_by_package": share(packages),
        "own_by_layer": share(own_layers),
        "by_layer": share(layers),
    }


def _path(frame: str) -> str:
    return frame.rpartition("(")[2].rstrip(")")


def _package(frame: str) -> str:
    """`send (uvicorn/protocols/http/httptools_impl.py)` -> `uvicorn`; a module on its own keeps its name."""
    path = _path(frame)
    return path.split("/", 1)[0] if "/" in path else path


def _is_stdlib(frame: str) -> bool:
    return _package(frame).removesuffix(".py") in sys.stdlib_module_names or _path(frame).startswith("<")


def layer(frame: str) -> str:
    path = _path(frame)
    if _is_root(frame):
        return "event loop (asyncio, stdlib)"
    for name, prefixes in LAYERS:
        if path.startswith(prefixes):
            return name
    return "event loop (asyncio, stdlib)" if _is_stdlib(frame) else f"other ({_package(frame)})"


def _is_root(frame: str) -> bool:
    return _path(frame) in ROOTS


def _attributed_layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        if _is_root(frame):
            break
        if not _is_stdlib(frame) and not _path(frame).startswith("uvloop/"):
            return layer(frame)
    return "event loop (asyncio, stdlib)"


def _is_parley(frame: str) -> bool:
    parley = any(f"({layer}/" in frame for layer in ("domain", "application", "adapters", "entrypoints"))
    return parley and not _is_root(frame)


def print_profile(profile: dict[str, Any]) -> None:
    print(f"\nProfile (py-spy record, 100 Hz, {profile.get('what', '?')}, repeated with its own user):")
    if "error" in profile:
        print(f"  {profile['error']}")
        return
    load = profile["load"]
    per_reply = 1000 * load["server_cpu"] / load["rps"] if load["rps"] else 0.0
    print(
        f"  profiled load: {load['rps']:,.1f}/s, server CPU {load['server_cpu']:.0%} ({per_reply:.2f} ms a reply);"
        f" {profile['samples']} event-loop samples ({profile['other_thread_samples']} in other threads, left out)"
    )
    sections = (
        ("by layer, standard library time given to its caller (% of event-loop samples)", "by_layer"),
        ("own time by layer (the sampled function's own layer)", "own_by_layer"),
        ("top by own time", "own"),
        ("Parley's code by total time (on the stack)", "total_parley"),
        ("own time by package (the sampled function's top-level package or module)", "own_by_package"),
    )
    for title, key in sections:
        print(f"  {title}:")
        for entry in profile[key]:
            cost = f"  ({entry['percent'] * per_reply / 100:.2f} ms a reply)" if key.endswith("layer") else ""
            print(f"    {entry['percent']:5.1f}%  {entry['function']}{cost}")
