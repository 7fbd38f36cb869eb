"""A notebook's parameters: declared with a type in its ``parameters`` cell, checked before anything runs.

Every parameter is declared as ``NAME: type = literal`` (``int``, ``float``, ``bool``, ``str``, ``list``).
Two places take values from outside and both refuse a value of the wrong type *before the first
stage runs*, saying what to type instead:

- the runner (``python -m helpers.workbook run -p NAME=VALUE``): :func:`parse_cli` reads VALUE by the
  declared type (a ``str`` parameter takes the text as it is; a ``list`` needs brackets and quotes);
- a notebook run by papermill or by hand: its first cell calls ``stages.open_stage(..., params=globals())``,
  which calls :func:`check_namespace` on the values the kernel holds against the declared annotations.
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list}


class ParameterError(ValueError):
    """A parameter value that does not fit its declaration; the message says what to type."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str        # one of TYPES
    default: Any

    @property
    def item_type(self) -> str | None:
        """A list's item type, taken from its default (``None``: empty default, any items)."""
        if self.type != "list" or not self.default:
            return None
        kinds = {type(v).__name__ for v in self.default}
        return kinds.pop() if len(kinds) == 1 else None


def declared(notebook: str | Path) -> dict[str, Param]:
    """The parameters a notebook declares in its cell tagged ``parameters``, with type and default."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        out = {}
        for node in ast.parse("".join(cell["source"])).body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                raise ParameterError(f"{Path(notebook).name}: every parameter is declared as NAME: type = literal; "
                                     f"got {ast.unparse(node)!r}")
            kind = ast.unparse(node.annotation)
            if kind not in TYPES:
                raise ParameterError(f"{Path(notebook).name}: {node.target.id} is declared as {kind!r}; "
                                     f"parameter types are {', '.join(TYPES)}")
            out[node.target.id] = Param(node.target.id, kind, ast.literal_eval(node.value))
        return out
    raise ParameterError(f"{notebook} has no cell tagged 'parameters'")


def _fits(value, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _example(p: Param, typed: str = "") -> str:
    if p.type == "list":
        items = p.default or ["..."]
        if typed.strip().startswith("[") and typed.strip().endswith("]"):  # [rk3588, rk3576] as people type it
            words = [w.strip().strip("'\"") for w in typed.strip()[1:-1].split(",") if w.strip()]
            if words:
                items = [ast.literal_eval(w) if _number(w) and p.item_type in ("int", "float") else w for w in words]
        return f"-p {p.name}='{json.dumps(items)}'  (brackets, and quotes around text items)"
    if p.type == "str":
        return f"-p {p.name}={p.default or 'text'}"
    return f"-p {p.name}={p.default!r}"


def _number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def problem(p: Param, value, typed: str = "") -> str | None:
    """Why ``value`` (typed as ``typed`` on a command line, if so) does not fit ``p`` (``None``: it fits)."""
    if not _fits(value, p.type):
        return (f"{p.name} is {_article(p.type)} (default {p.default!r}); got {type(value).__name__} {value!r}. "
                f"Type it like: {_example(p, typed)}")
    if p.type == "list" and p.item_type:
        bad = [v for v in value if not _fits(v, p.item_type)]
        if bad:
            return (f"{p.name} is a list of {p.item_type} (default {p.default!r}); got items {bad!r}. "
                    f"Type it like: {_example(p, typed)}")
    return None


def check(values: Mapping[str, Any], params: Mapping[str, Param], where: str = "") -> None:
    """Raise :class:`ParameterError` listing every value that does not fit its declaration."""
    issues = [msg for name, v in values.items() if name in params and (msg := problem(params[name], v))]
    if issues:
        raise ParameterError((f"{where}: " if where else "") + "parameter values of the wrong type, nothing was run:\n  "
                             + "\n  ".join(issues))


def check_namespace(ns: Mapping[str, Any], where: str = "") -> None:
    """A notebook's own check: the values its kernel holds against the annotations of its parameters cell."""
    annotations = ns.get("__annotations__", {})
    params = {}
    for name, ann in annotations.items():
        kind = getattr(ann, "__name__", str(ann))
        if kind in TYPES and name in ns:
            params[name] = Param(name, kind, None)
    check({n: ns[n] for n in params}, params, where)


def parse_cli(name: str, text: str, params: Mapping[str, Param]):
    """A ``-p NAME=VALUE`` value read by the declared type of ``NAME`` (refused with a hint when it does not fit)."""
    p = params[name]
    if p.type == "str":
        try:  # a quoted literal ('"abc"') is accepted too
            v = ast.literal_eval(text)
            return v if isinstance(v, str) else text
        except (ValueError, SyntaxError):
            return text
    if p.type == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    msg = problem(p, value, text)
    if msg:
        raise ParameterError(f"-p {name}={text}: {msg}")
    return value


def unknown(names, params: Mapping[str, Param]) -> list[str]:
    """Messages for names no notebook declares, with the closest declared name."""
    out = []
    for n in names:
        if n not in params:
            near = difflib.get_close_matches(n, params, n=1)
            out.append(f"no notebook run here declares {n}" + (f"; did you mean {near[0]}?" if near else ""))
    return out
