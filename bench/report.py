"""The benchmark's table and details, from the results run.py gathered (the same dictionary --json writes).

Columns: scenario, direct (the mock upstream alone), baseline, current, current/baseline, target, result.
A row PASSes when the current tree meets the row's own target, stays within 10% of the baseline (when there is
one: at least 0.9x its rate, at most 1.1x its milliseconds or MiB) and had no errors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from history import MEASURED

MIB = 1024 * 1024
WITHIN = 0.10
"""How far the current tree may fall behind the baseline on every figure."""
HISTORY_RATIO = 1.20
"""Scenario 8: the 1M user's figure at most this many times the 1k user's."""
HEADER = ("scenario", "direct", "baseline", "current", "cur/base", "target", "result")


@dataclass(frozen=True)
class Row:
    """One figure of one load: `value(side figures, direct figures)` -> the number compared."""

    label: str
    load: str
    value: Callable[[dict[str, Any], dict[str, Any]], float | None]
    direct: Callable[[dict[str, Any]], str]
    shown: Callable[[float, dict[str, Any]], str]
    higher_is_better: bool
    target: float | None = None
    target_text: str = ""


def _rate(value: float) -> str:
    return f"{value:,.1f}/s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _added(metric: str) -> Callable[[dict[str, Any], dict[str, Any]], float | None]:
    def value(side: dict[str, Any], direct: dict[str, Any]) -> float | None:
        mine, theirs = side[metric]["p50"], direct[metric]["p50"]
        return None if mine is None or theirs is None else mine - theirs

    return value


def _throughput(label: str, load: str, target: float | None = None) -> Row:
    return Row(
        label,
        load,
        lambda side, direct: side["rps"],
        lambda direct: _rate(direct["rps"]),
        lambda value, direct: f"{_rate(value)} ({100 * value / direct['rps']:.1f}%)" if direct["rps"] else _rate(value),
        higher_is_better=True,
        target=target,
        target_text=f">= {target:g}/s" if target else "",
    )


def _added_ms(label: str, load: str, metric: str, target: float | None = None) -> Row:
    return Row(
        label,
        load,
        _added(metric),
        lambda direct: _ms(direct[metric]["p50"]),
        lambda value, direct: f"+{value:.2f} ms",
        higher_is_better=False,
        target=target,
        target_text=f"<= +{target:g} ms" if target else "",
    )


ROWS = (
    _throughput("1 streamed c=32", "1-stream-c32", 150),
    _throughput("2 non-stream c=32", "2-plain-c32", 300),
    _added_ms("3 streamed c=1 TTFT p50 added", "3-stream-c1", "ttft_ms", 3.0),
    _added_ms("3 streamed c=1 latency p50 added", "3-stream-c1", "latency_ms"),
    _added_ms("4 non-stream c=1 latency p50 added", "4-plain-c1", "latency_ms", 4.0),
    _throughput("6 paced streamed c=32", "6-paced-c32"),
    _added_ms("7 paced c=1 TTFT p50 added", "7-paced-c1", "ttft_ms"),
    _added_ms("7 paced c=1 latency p50 added", "7-paced-c1", "latency_ms"),
    _throughput("9 /v1/messages streamed c=32", "9-messages-c32", 150),
)


def _ratio(current: float | None, baseline: float | None) -> float | None:
    if current is None or baseline is None or baseline == 0:
        return None
    return current / baseline


def _verdict(met: bool, errors: int, note: str = "") -> str:
    text = "PASS" if met and not errors else "FAIL"
    if errors:
        text += f" ({errors} errors)"
    return text + (f" ({note})" if note else "")


def _compare(current: float | None, baseline: float | None, higher_is_better: bool) -> tuple[str, str, bool]:
    """(ratio cell, target part, met) of the 10% rule; met when there is no baseline."""
    ratio = _ratio(current, baseline)
    if baseline is None:
        return "-", "", True
    rule = f">= {1 - WITHIN:g}x base" if higher_is_better else f"<= {1 + WITHIN:g}x base"
    if ratio is None:
        return "-", rule, current is not None and current == baseline
    met = ratio >= 1 - WITHIN if higher_is_better else ratio <= 1 + WITHIN
    return f"{ratio:.2f}x", rule, met


def _targets(*parts: str) -> str:
    return ", ".join(part for part in parts if part) or "-"


def load_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for row in ROWS:
        figures = results.get("loads", {}).get(row.load)
        if figures is None or "current" not in figures:
            continue
        direct = figures["direct"]
        values = {name: row.value(figures[name], direct) for name in ("baseline", "current") if name in figures}
        cells = {name: "-" if v is None else row.shown(v, direct) for name, v in values.items()}
        current = values["current"]
        ratio, rule, within = _compare(current, values.get("baseline"), row.higher_is_better)
        met = current is not None and within
        if row.target is not None and current is not None:
            met = met and (current >= row.target if row.higher_is_better else current <= row.target)
        capped = "capped by quota" if figures["current"]["capped"] else ""
        out.append(
            (
                row.label,
                row.direct(direct),
                cells.get("baseline", "-"),
                cells["current"],
                ratio,
                _targets(row.target_text, rule),
                _verdict(met, figures["current"]["errors"], capped),
            )
        )
    out.extend(wire_rows(results))
    return out


def wire_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """Scenario 9 against scenario 1 on each side, same run: the Messages API's streams/s within 10% of chat
    completions' (the two wire formats in front of the same chat turn)."""
    loads = results.get("loads", {})
    messages, chat = loads.get("9-messages-c32"), loads.get("1-stream-c32")
    if messages is None or chat is None or "current" not in messages:
        return []
    cells = {
        name: f"{messages[name]['rps'] / chat[name]['rps']:.2f}x"
        for name in ("baseline", "current")
        if name in messages and name in chat and chat[name]["rps"]
    }
    ratio = messages["current"]["rps"] / chat["current"]["rps"] if chat["current"]["rps"] else 0.0
    met = ratio >= 1 - WITHIN
    return [
        (
            "9 vs 1: /v1/messages / chat completions",
            "-",
            cells.get("baseline", "-"),
            cells.get("current", "-"),
            f"{ratio:.2f}x",
            f">= {1 - WITHIN:g}x chat",
            _verdict(met, messages["current"]["errors"]),
        )
    ]


def hold_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    hold = results.get("5-hold")
    if not hold or "current" not in hold:
        return []
    n = hold["current"]["streams"]
    peaks = {name: hold[name]["rss_peak"] / MIB for name in ("baseline", "current") if name in hold}
    cells = {name: f"{peak:.0f} MiB (idle {hold[name]['rss_idle'] / MIB:.0f})" for name, peak in peaks.items()}
    ratio, rule, within = _compare(peaks["current"], peaks.get("baseline"), higher_is_better=False)
    errors = hold["current"]["errors"]
    opened = {name: str(hold[name]["peak_open"]) for name in ("baseline", "current") if name in hold}
    return [
        (
            f"5 {n:,} open streams: peak RSS",
            "-",
            cells.get("baseline", "-"),
            cells["current"],
            ratio,
            _targets("< 500 MiB", rule),
            _verdict(peaks["current"] < 500 and within, errors),
        ),
        (
            "5 streams open at once",
            str(hold["direct"]["peak_open"]),
            opened.get("baseline", "-"),
            opened["current"],
            "-",
            str(n),
            _verdict(hold["current"]["peak_open"] == n, errors),
        ),
    ]


def history_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    figures = results.get("8-history")
    if not figures or "current" not in figures:
        return []
    small, large = MEASURED
    out = []
    for metric, label in (("usage_ms", "GET /api/usage p50"), ("cold_ttft_ms", "TTFT p50, counter lost")):
        p50 = {name: {user: f[user][metric]["p50"] for user in MEASURED} for name, f in figures.items()}
        for user, records in MEASURED.items():
            cells = {}
            for name, values in p50.items():
                cells[name] = _ms(values[user])
                times = _ratio(values[large], values[small])
                if user == large and times is not None:
                    cells[name] += f" ({times:.2f}x 1k)"
            ratio = _ratio(p50["current"][user], p50.get("baseline", {}).get(user))
            verdict, target = "-", "-"
            if user == large:
                times = _ratio(p50["current"][large], p50["current"][small])
                failures = len(figures["current"]["failures"])
                deleted = [figures["current"][u]["counter_keys_deleted"] for u in MEASURED]
                lost = all(all(counts) for counts in deleted) if metric == "cold_ttft_ms" else True
                met = times is not None and times <= HISTORY_RATIO and lost
                verdict = _verdict(met, failures, "" if lost else "no quota counter found to delete")
                target = f"<= {HISTORY_RATIO:g}x 1k"
            out.append(
                (
                    f"8 {label}, {records:,} records",
                    "-",
                    cells.get("baseline", "-"),
                    cells["current"],
                    "-" if ratio is None else f"{ratio:.2f}x",
                    target,
                    verdict,
                )
            )
    return out


def durability_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    checks = results.get("durability")
    if not checks or "current" not in checks:
        return []

    def good(check: dict[str, Any]) -> bool:
        ok = check["successful_replies"]
        return check["usage_records"] == ok and check["assistant_messages"] == ok and not check["ledger_mismatches"]

    def cell(check: dict[str, Any]) -> str:
        text = f"{check['successful_replies']}/{check['usage_records']}/{check['assistant_messages']}"
        return text + (f", {len(check['ledger_mismatches'])} ledgers off" if check["ledger_mismatches"] else "")

    cells = {name: cell(check) for name, check in checks.items()}
    return [
        (
            "durability: replies/usage/messages",
            "-",
            cells.get("baseline", "-"),
            cells["current"],
            "-",
            "equal",
            _verdict(good(checks["current"]), 0),
        )
    ]


def table(results: dict[str, Any]) -> str:
    lines = load_rows(results) + hold_rows(results) + history_rows(results) + durability_rows(results)
    widths = [max(len(row[i]) for row in [HEADER, *lines]) for i in range(len(HEADER))]
    render = lambda row: "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))  # noqa: E731
    return "\n".join([render(HEADER), "  ".join("-" * w for w in widths), *map(render, lines)])


def _line(name: str, side: str, r: dict[str, Any]) -> str:
    line = f"{name:<13} {side:<8} ok={r['total_ok']:<6} errors={r['errors']:<4}"
    if "rps" in r:
        line += f" {r['rps']:,.1f}/s"
    if r["mode"] != "plain":
        line += " ttft p50/p95/p99 {p50}/{p95}/{p99} ms".format(**r["ttft_ms"])
    line += " latency p50/p95/p99 {p50}/{p95}/{p99} ms".format(**r["latency_ms"])
    if r["mode"] == "hold":
        line += f", {r['peak_open']} open at once, all open after {r['all_open_after_s']} s"
    if "server_cpu" in r:
        line += f", server CPU {r['server_cpu']:.0%} of a core"
        line += f", {r['db_connections_opened']} database connections opened"
    if "rounds" in r:
        line += ", rounds " + " / ".join(f"{x['rps']:,.1f}/s" for x in r["rounds"])
    return line


def details(results: dict[str, Any]) -> str:
    lines = []
    for name, figures in [*results.get("loads", {}).items(), ("5-hold", results.get("5-hold", {}))]:
        for side in ("direct", "baseline", "current"):
            if side in figures:
                lines.append(_line(name, side, figures[side]))
                if figures[side].get("failures"):
                    lines.append(
                        f"{'':<23} failures {figures[side]['failures']}; e.g. {figures[side]['error_samples'][:2]}"
                    )
    for side, figures in results.get("8-history", {}).items():
        for user in MEASURED:
            f = figures[user]
            lines.append(
                f"8-history     {side:<8} {user}: usage p50/p95 {f['usage_ms']['p50']}/{f['usage_ms']['p95']} ms,"
                f" TTFT counter lost p50/p95 {f['cold_ttft_ms']['p50']}/{f['cold_ttft_ms']['p95']} ms,"
                f" counter kept {f['warm_ttft_ms']['p50']} ms; keys deleted {f['counter_keys_deleted']}"
            )
        if figures["failures"]:
            lines.append(f"{'':<23} failures {figures['failures'][:3]}")
    return "\n".join(lines)


def server_log_summary(path: Path, limit: int = 20) -> str:
    """The server's warnings and errors, grouped by event, with one example of each."""
    if not path.exists():
        return "(no server log)"
    groups: Counter[str] = Counter()
    example: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            key = f"{entry.get('level', '?')} {entry.get('event', '?')}"
            # What went wrong is the exception's last line: show it, not the first of a long traceback.
            cause = str(entry.get("exception", "")).strip().rpartition("\n")[2]
            shown = f"{cause[:300]} | {line[:300]}" if cause else line[:600]
        except (json.JSONDecodeError, AttributeError):
            key, shown = line[:120], line[:600]
        groups[key] += 1
        example.setdefault(key, shown)
    if not groups:
        return "(the server logged nothing at WARNING or above)"
    return "\n".join(f"{count:>6} x {key}\n         {example[key]}" for key, count in groups.most_common(limit))


def print_report(results: dict[str, Any]) -> None:
    from profiling import print_profile

    print()
    print(table(results))
    print("\nDetails (p50/p95/p99 in ms over the measured window; ok counts include warm-up):")
    print(details(results))
    for side, facts in results.get("sides", {}).items():
        shown = {k: (f"{v / MIB:.1f} MiB" if k == "rss_fresh" else v) for k, v in facts.items()}
        print(f"{side}: {shown}")
    for side, check in results.get("durability", {}).items():
        print(f"durability {side}: {check}")
    for profile in results.get("profiles", []):
        print_profile(profile)
    for side, log in results.get("server_logs", {}).items():
        print(f"\nServer log of {side} (WARNING and above):")
        print(log)
    for warning in results.get("warnings", []):
        print(f"\nwarning: {warning}")
    if "run_seconds" in results:
        print(f"\nThe run took {results['run_seconds']:.0f} s.")
