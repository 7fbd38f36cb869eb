"""The toolkit's console log (redirected to a file per job): its errors and distinct warnings."""

from __future__ import annotations

import os
import re
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ToolkitError(RuntimeError):
    """A toolkit step failed. ``step`` names it; ``log_lines`` are the toolkit's own error lines."""

    def __init__(self, step: str, message: str, log_lines: list[str] | None = None, log_file: str | None = None):
        self.step, self.reason, self.log_lines, self.log_file = step, message, list(log_lines or []), log_file
        text = f"rknn-toolkit2 step '{step}' failed: {message}"
        if self.log_lines:
            text += "\ntoolkit log:\n  " + "\n  ".join(self.log_lines)
        if log_file:
            text += f"\nfull log: {log_file}"
        super().__init__(text)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def read_log(log_file: str | os.PathLike) -> list[str]:
    try:
        text = Path(log_file).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in (strip_ansi(raw).rstrip() for raw in text.replace("\r", "\n").splitlines()) if line]


def is_error(line: str) -> bool:
    return line.startswith("E ") or " E RKNN:" in line or line.startswith("E RKNN") or "Error" in line[:40] \
        or line.startswith("Traceback") or "Aborted" in line


def log_digest(log_file: str | os.PathLike, max_lines: int = 12) -> dict:
    """The toolkit log, compactly: error lines, distinct warnings (with counts), total lines."""
    lines = read_log(log_file)
    errors = [ln for ln in lines if is_error(ln)]
    warns: dict[str, int] = {}
    for ln in lines:
        if ln.startswith("W ") or " W RKNN:" in ln:
            key = re.sub(r"\[\d\d:\d\d:\d\d\.\d+\]\s*", "", ln)
            key = re.sub(r"'[^']*'", "'…'", key)[:160]
            warns[key] = warns.get(key, 0) + 1
    return {"lines": len(lines), "errors": errors[-max_lines:],
            "warnings": [f"{n}× {w}" for w, n in sorted(warns.items(), key=lambda kv: -kv[1])][:max_lines],
            "log_file": str(log_file)}


_RULE_ADVICE = re.compile(r"disable_rules=\[([^\]]*)\]")


def advised_disable_rules(log_file: str | os.PathLike) -> list[str]:
    """Graph-fusion rules the toolkit names when one of them breaks a build ("You can add
    disable_rules=['…'] in rknn.config() to temporarily disable the error rule!")."""
    rules: list[str] = []
    for line in read_log(log_file):
        for group in _RULE_ADVICE.findall(line):
            rules += [r.strip().strip("'\"") for r in group.split(",") if r.strip().strip("'\"") not in rules]
    return rules


def error_tail(log_file, n: int = 8) -> list[str]:
    """The last ``n`` error lines of a log (its last lines when none looks like an error), and the toolkit's
    advice to disable a graph rule when it gave one."""
    lines = read_log(log_file)
    errs = [ln for ln in lines if is_error(ln)]
    advice = [ln for ln in lines if _RULE_ADVICE.search(ln)][-1:]
    return (errs or lines)[-n:] + advice


_LAYER_ROW = re.compile(r"RKNN: \[[0-9:.]+\]\s+(\d+)\s+([A-Za-z][A-Za-z0-9_]*)\s+([A-Z0-9]+)\s+(NPU|CPU|GPU)\s")


def layer_table(log_file: str | os.PathLike) -> list[dict]:
    """The built graph as the toolkit prints it (verbose log, "Network Layer Information Table"): one row per
    layer with its id, op type, data type and target. The first table of the log; [] when there is none."""
    rows, inside = [], False
    for line in read_log(log_file):
        if "Network Layer Information Table" in line:
            if rows:
                break
            inside = True
            continue
        if not inside:
            continue
        m = _LAYER_ROW.search(line)
        if m:
            rows.append({"id": int(m.group(1)), "op": m.group(2), "dtype": m.group(3), "target": m.group(4)})
        elif rows and "-----" in line:
            break
    return rows


def layer_ops(log_file: str | os.PathLike) -> dict:
    """``{op type: layers}`` of :func:`layer_table`, most frequent first."""
    from collections import Counter

    return dict(Counter(r["op"] for r in layer_table(log_file)).most_common())
