"""Load a scenario file: TOML, `extends`, `--set` overrides, validation, readable errors.

    load_scenario("scenarios/antimony_2024.toml", overrides=["customs.CN.capacity_per_week=900"])

Every problem is reported at once, one line each, as `FILE:LINE: dotted.key: what is wrong`
(`FILE: key: ...` when the line is unknown, `--set: key: ...` for an override), in a
`ScenarioError`. Rules (also in docs/scenario-format.md):

- `extends = "base.toml"` (path relative to the file) deep-merges the file over its base:
  tables merge key by key, arrays and values replace. The base must lie inside the folder
  of the file named on the command line.
- `--set a.b.c=VALUE`: VALUE is read as TOML (`900`, `0.5`, `true`, `2025-01-01`, `"text"`,
  `["xray", "ai_image"]`, `{capacity_per_week = 900}`); a bare word such as `ban` is text.
  The value replaces what the file had at that key.
- Events: each event's `set` is applied, in step order, to the scenario and the result
  must be valid too, with the same countries, commodities, routes, suppliers, markets,
  customs and controls (structure is fixed during a run).
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import os
import re
import stat
import tomllib
import types
import typing
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ValidationError

from sim.scenario.limits import memory_problem
from sim.scenario.schema import Scenario, check_references, runtime_field
from sim.scenario.toml_keys import key_lines, parse_key
from sim.scenario.types import CONTROL

Path_ = tuple[str, ...]
# Tables whose ids (and, for markets, inner ids) must not change during a run.
STRUCTURE = ("countries", "commodities", "routes", "suppliers", "markets", "customs", "controls")


MAX_MESSAGE = 500  # characters of one message; a longer one is cut (values in it are shortened first)


class ScenarioError(Exception):
    """One or more problems with a scenario, each a one-line message.

    Control characters in a message (a line break in a key or a value the user wrote) are
    shown escaped, so that every problem stays on exactly one line."""

    def __init__(self, messages: list[str]):
        self.messages = [_one_line(m) for m in messages]
        super().__init__("\n".join(self.messages))

    def __str__(self) -> str:
        return "\n".join(self.messages)


# ---------------------------------------------------------------- source map ---------
class _Where:
    """Key path -> (file shown to the user, line or None), across extends and --set."""

    def __init__(self, top: str):
        self.top = top
        self.map: dict[Path_, tuple[str, int | None]] = {}

    def find(self, path: Path_) -> tuple[str, int | None]:
        path = tuple(p for p in path if isinstance(p, str))
        for n in range(len(path), 0, -1):
            if path[:n] in self.map:
                return self.map[path[:n]]
        return self.top, None

    def replace(self, path: Path_, src: str) -> None:
        """Everything under `path` now comes from `src` (an override)."""
        self.map = {k: v for k, v in self.map.items() if k[:len(path)] != path}
        for n in range(1, len(path) + 1):  # tables the override creates are its own too
            self.map.setdefault(path[:n], (src, None))


def _one_line(msg: str) -> str:
    msg = CONTROL.sub(lambda m: repr(m.group())[1:-1], str(msg))
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 1] + "…"


def _show_path(path) -> str:
    out = ""
    for p in path:
        p = p if isinstance(p, int) or len(p) <= 60 else f"{p[:30]}…"  # an id of 5,000 characters, say
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _line(src: str, line: int | None, path, msg: str) -> str:
    return f"{src}:{line}: {_show_path(path)}: {msg}" if line else f"{src}: {_show_path(path)}: {msg}"


def _display(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


# ---------------------------------------------------------------- reading files ------
MAX_FILE_BYTES = 1 << 20  # a scenario file is at most 1 MiB (the largest shipped one is ~20 KB)
MAX_DEPTH = 20  # tables and arrays nested at most this deep (shipped scenarios: 5)


def read_text_file(path: Path, shown: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; a BOM is dropped.

    Anything else (a folder, a FIFO, a device such as /dev/zero, a huge or binary file)
    raises ScenarioError with one line naming the file; nothing blocks or reads without end.
    """
    def fail(msg: str):
        raise ScenarioError([f"{shown}: {msg}"])

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO does not wait
    except OSError as e:
        fail(f"cannot read file: {e.strerror or e}")
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            fail("is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            fail(f"is {kind}; give a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        fail(f"cannot read file: {e.strerror or e}")
    finally:
        os.close(fd)
    if len(data) > limit:
        fail(f"file is larger than {limit // 1024} KB ({st.st_size:,} bytes); is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ScenarioError([f"{shown}:{line}: cannot read file: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                             "save the file as UTF-8"]) from None
    return text.removeprefix("\ufeff")


def _too_deep(data, limit: int = MAX_DEPTH) -> Path_ | None:
    """The key path of the first table or array nested deeper than `limit`, or None."""
    stack = [(data, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return path
        if isinstance(node, dict):
            stack += [(v, path + (str(k),)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, path + (i,)) for i, v in enumerate(node)]
    return None


def _depth_error(shown: str, path, lines: dict | None = None) -> str:
    keys = tuple(p for p in path if isinstance(p, str))
    line = next((lines[keys[:n]] for n in range(len(keys), 0, -1) if lines and keys[:n] in lines), None)
    head = _show_path(path[:3]) + "..."
    where = f"{shown}:{line}" if line else shown
    return f"{where}: {head}: tables or arrays nested more than {MAX_DEPTH} levels deep"


def _read(path: Path, shown: str) -> tuple[dict, dict[Path_, int]]:
    text = read_text_file(path, shown)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError([f"{shown}: tables or arrays nested more than {MAX_DEPTH} levels deep"]) from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r" \(at line (\d+), column (\d+)\)$", msg)
        if m:
            where, msg = f"{m.group(1)}:{m.group(2)}", msg[:m.start()]
        else:  # "(at end of document)"
            msg = re.sub(r" \(at end of document\)$", "", msg)
            where = f"{text.count(chr(10)) + 1}:1"
        raise ScenarioError([f"{shown}:{where}: syntax error: {msg}"]) from None
    deep = _too_deep(data)
    lines = key_lines(text)
    if deep is not None:
        raise ScenarioError([_depth_error(shown, deep, lines)])
    return data, lines


def deep_merge(base: dict, over: dict) -> dict:
    """Tables merge recursively; arrays and values in `over` replace those in `base`."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _load_tree(path: Path, root: Path, chain: list[Path], where: _Where, shown: str) -> dict:
    data, lines = _read(path, shown)
    base: dict = {}
    if "extends" in data:
        ext, line = data.pop("extends"), lines.get(("extends",))
        err = f"{shown}:{line}: extends: " if line else f"{shown}: extends: "
        if not isinstance(ext, str) or not ext:
            raise ScenarioError([err + "expected a file name in quotes, e.g. extends = \"base.toml\""])
        target = (path.parent / ext).resolve()
        names = [_display(p) for p in chain + [path, target]]
        if target in chain + [path]:
            raise ScenarioError([err + "extends cycle: " + " -> ".join(names)])
        if not target.is_relative_to(root):
            raise ScenarioError([err + f"'{ext}' lies outside the folder {_display(root)} "
                                       "(a base must be inside the folder of the file given)"])
        if not target.is_file():
            raise ScenarioError([err + f"file not found: '{ext}' (looked for {_display(target)})"])
        base = _load_tree(target, root, chain + [path], where, _display(target))
    lines.pop(("extends",), None)
    where.map.update({k: (shown, ln) for k, ln in lines.items()})
    return deep_merge(base, data)


# ---------------------------------------------------------------- overrides ----------
def parse_override(text: str) -> tuple[Path_, object]:
    """`a.b.c=VALUE` -> (("a", "b", "c"), value). Raises ValueError with an explanation."""
    key, eq, raw = text.partition("=")
    path = parse_key(key) if key.strip() else None
    if not eq or path is None:
        raise ValueError(f"'{text}': expected KEY=VALUE with a dotted key, e.g. customs.CN.capacity_per_week=900")
    try:
        value = tomllib.loads(f"x = {raw.strip()}")["x"]
    except RecursionError:
        raise ValueError(f"{_show_path(path)}: value nested more than {MAX_DEPTH} levels deep") from None
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", raw.strip()):
            return path, raw.strip()
        raise ValueError(f"{_show_path(path)}: cannot read the value {raw.strip()!r}; "
                         "write text in quotes, e.g. name='\"my run\"'") from None
    if _too_deep(value, MAX_DEPTH - len(path)) is not None:
        raise ValueError(f"{_show_path(path)}: value nested more than {MAX_DEPTH} levels deep")
    return path, value


def set_path(data: dict, path: Path_, value) -> None:
    """Assign `value` at `path`, creating tables on the way. Raises ValueError if blocked."""
    node = data
    for i, p in enumerate(path[:-1]):
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(f"{_show_path(path[:i + 1])} is a value, not a table")
    node[path[-1]] = value


# ---------------------------------------------------------------- messages -----------
_EXPECTED = {
    "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "date_parsing": "a date YYYY-MM-DD", "date_type": "a date YYYY-MM-DD",
    "date_from_datetime_parsing": "a date YYYY-MM-DD", "date_from_datetime_inexact": "a date without a time",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "list_type": "an array", "string_type": "text in quotes",
}
# Patterns of text fields -> the rule in words.
_PATTERNS = {r"^[^\x00-\x1f/\\]+$": "a name is any text without slashes or control characters "
                                    "(it names the results folder)"}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}


def _show(v) -> str:
    """A value as the analyst wrote it in TOML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
    if isinstance(v, int) and abs(v) >= 10**30:
        return f"a number with {len(str(abs(v)))} digits"
    if isinstance(v, str):
        return json.dumps(v if len(v) <= 60 else v[:40] + "…", ensure_ascii=False) + (
            f" ({len(v):,} characters)" if len(v) > 60 else "")
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def unwrap_type(tp):
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def model_at(loc) -> type[BaseModel] | None:
    """The pydantic model that validates the table at `loc` (e.g. ("customs", "CN"))."""
    tp = Scenario
    for part in loc:
        tp = unwrap_type(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return None
            tp = tp.model_fields[part].annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    tp = unwrap_type(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def explain(err: dict) -> str:
    """One pydantic error -> a sentence for an analyst."""
    t, ctx, v, loc = err["type"], err.get("ctx") or {}, err.get("input"), err["loc"]
    if t == "missing":
        return "missing required key"
    if t == "extra_forbidden":
        model = model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        kind = "table" if isinstance(v, dict) and len(loc) == 1 else "key"
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        more = f" (did you mean '{hint[0]}'?)" if hint else (f" (allowed: {', '.join(allowed)})" if allowed else "")
        return f"unknown {kind} '{loc[-1]}'{more}"
    if t in _BOUNDS:
        op, name = _BOUNDS[t]
        bound = ctx.get(name)
        return f"must be {op} {bound if isinstance(bound, str) else _show(bound)} (got {_show(v)})"
    if t == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"at least {ctx.get('min_length')} characters"
    if t == "string_too_long":
        return f"at most {ctx.get('max_length')} characters (got {len(v):,})"
    if t == "too_long":
        return f"at most {ctx.get('max_length'):,} entries (got {len(v):,})"
    if t == "string_pattern_mismatch":
        rule = _PATTERNS.get(ctx.get("pattern"), f"must match the pattern {ctx.get('pattern')}")
        return f"{rule} (got {_show(v)})"
    if t == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {_show(v)})"
    if t in _EXPECTED:
        why = f": {ctx['error']}" if isinstance(ctx.get("error"), str) and "date" in t else ""
        return f"expected {_EXPECTED[t]} (got {_show(v)}{why})"
    msg = err["msg"].removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


# ---------------------------------------------------------------- validation ---------
def _split_dotted(key: str, data) -> Path_:
    """A dotted key from check_references -> path, matching keys that contain dots."""
    parts, out, node, i = key.split("."), [], data, 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            cand = ".".join(parts[i:j])
            if isinstance(node, dict) and cand in node:
                out.append(cand)
                node, i = node[cand], j
                break
        else:
            return tuple(out + parts[i:])
    return tuple(out)


def _drop(data: dict, path: list[str]) -> bool:
    """Remove the entry at `path` from nested tables; False if there is nothing to remove."""
    node = data
    for p in path[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
    return isinstance(node, dict) and node.pop(path[-1], None) is not None


def _problems(data: dict) -> tuple[Scenario | None, list[tuple[Path_, str]]]:
    """All problems with a merged dict: pydantic errors, then cross-reference errors.

    When pydantic finds errors only in optional keys, those keys are dropped from a copy
    (so they take their defaults) and the cross-references are checked on it, so that one
    pass reports everything. Errors in required keys stop there: checking references on a
    scenario with holes would report consequences, not mistakes.
    """
    try:
        return _refs(Scenario.model_validate(data), data, [])
    except ValidationError as e:
        errs = [(tuple(x["loc"]), explain(x)) for x in e.errors()]
    trimmed = copy.deepcopy(data)
    for loc, msg in errs:
        strs = [p for p in loc if isinstance(p, str)]
        model = model_at(strs[:-1])
        field = model.model_fields.get(strs[-1]) if model else None
        if msg == "missing required key" or (field is not None and field.is_required()):
            return None, errs
        _drop(trimmed, strs)
    try:
        return None, _refs(Scenario.model_validate(trimmed), trimmed, errs)[1]
    except ValidationError:
        return None, errs


def _refs(model: Scenario, data: dict, errs: list) -> tuple[Scenario, list[tuple[Path_, str]]]:
    known = [tuple(p for p in loc if isinstance(p, str)) for loc, _ in errs]
    for key, msg in check_references(model):
        path = _split_dotted(key, data)
        if not any(path[:len(k)] == k or k[:len(path)] == path for k in known):
            errs.append((path, msg))
    return model, errs


def _ids(data: dict) -> dict[str, set]:
    out = {t: set(data.get(t) or {}) if isinstance(data.get(t), dict) else set() for t in STRUCTURE}
    for c, byk in (data.get("markets") or {}).items() if isinstance(data.get("markets"), dict) else ():
        out[f"markets.{c}"] = set(byk) if isinstance(byk, dict) else set()
    return out


def _check_events(model: Scenario, data: dict, where: _Where) -> list[str]:
    """Apply each event's `set` in step order; the world after it must be valid too."""
    lines: list[str] = []
    current = copy.deepcopy(data)
    for eid in sorted(model.events, key=lambda e: model.event_step(model.events[e])):
        after, keys, ok = copy.deepcopy(current), {}, True

        def report(key: str, rest, msg: str) -> None:
            src, ln = where.find(("events", eid, "set", key))
            lines.append(_line(src, ln, ("events", eid, "set", key, *rest), msg))

        for key, value in model.events[eid].set.items():
            path = parse_key(key)
            if path is None:
                report(key, (), "not a dotted key path")
                ok = False
                continue
            if runtime_field(path) is None:   # reported; the event's other keys are still checked
                report(key, (), "cannot change during a run (it is read once, when the world is built); "
                                 "events may set only the keys marked runtime in docs/scenario-format.md")
                continue
            before = _ids(after)
            try:
                set_path(after, path, value)
            except ValueError as e:
                report(key, (), str(e))
                ok = False
                continue
            now = _ids(after)
            for table in sorted(before.keys() | now.keys()):
                old, new = before.get(table, set()), now.get(table, set())
                if old != new:
                    what = (f"would add {', '.join(sorted(new - old))} to {table}" if new - old else
                            f"would remove {', '.join(sorted(old - new))} from {table}")
                    report(key, (), what + " (the structure is fixed during a run: declare every id in the "
                                           "scenario and let events change only parameters)")
                    ok = False
            keys[key] = path
        if not ok:
            continue
        _, errs = _problems(after)
        for loc, msg in errs:
            strs = tuple(p for p in loc if isinstance(p, str))
            match = [k for k, p in keys.items() if strs[:len(p)] == p or p[:len(strs)] == strs]
            if match:
                report(match[0], loc[len(keys[match[0]]):] if len(loc) > len(keys[match[0]]) else (), msg)
            else:
                src, ln = where.find(("events", eid, "set"))
                lines.append(_line(src, ln, ("events", eid, "set"), f"makes {_show_path(loc)} invalid: {msg}"))
        if not errs:
            current = after
    return lines


def load_scenario(path, overrides=(), root=None) -> Scenario:
    """Read, merge, override and validate a scenario file; raise ScenarioError listing every problem.

    `overrides` are `KEY=VALUE` strings (reported as `--set`), or (label, "KEY=VALUE") pairs
    to name another source such as `--steps`. `root` is the folder `extends` must stay in
    (default: the file's folder).
    """
    path = Path(path)
    shown = str(path)
    root = Path(root if root is not None else path.parent).resolve()
    where = _Where(shown)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13)
        resolved = path  # reading it gives the one-line error
    data = _load_tree(resolved, root, [], where, shown)
    bad = []
    for item in overrides:
        label, text = item if isinstance(item, tuple) else ("--set", item)
        try:
            key, value = parse_override(text)
            set_path(data, key, value)
            where.replace(key, label)
        except ValueError as e:
            bad.append(f"{label}: {e}")
    if bad:
        raise ScenarioError(bad)
    model, errs = _problems(data)
    msgs = [_line(*where.find(loc), loc, msg) for loc, msg in errs]
    if model is not None and not msgs:
        msgs = _check_events(model, data, where)
    if msgs:
        raise ScenarioError(sorted(dict.fromkeys(msgs), key=_order))
    return model


def cut_horizon(s: Scenario, steps: int | None = None, option: str = "--steps") -> tuple[Scenario, str | None]:
    """The scenario as it runs: shortened to `steps` when an option such as --steps gives it,
    without the events and controls dated after its last step (they could not apply).

    The note (None when nothing falls after the end) names what does not apply and why, with
    the option that shortened the run when it did; the commands print it, so nothing is
    dropped silently."""
    if steps is not None and steps < 1:
        raise ScenarioError([f"{option}: must be >= 1 (got {steps})"])
    n = s.steps if steps is None else steps
    if n > s.steps:  # a longer run than the file's: the file's limits apply to it too
        most = next(m.le for m in Scenario.model_fields["steps"].metadata if getattr(m, "le", None) is not None)
        if n > most:
            raise ScenarioError([f"{option}: must be <= {most} (got {n:,})"])
        problem = memory_problem(s, n)
        if problem:
            raise ScenarioError([f"{option} {n}: {problem[1]}"])
    events = {e: v for e, v in s.events.items() if s.event_step(v) < n}
    controls = {c: v for c, v in s.controls.items() if s.control_step(v) < n}
    cut = s.model_copy(update={"steps": n, "events": events, "controls": controls,
                               "headline_event": s.headline_event if s.headline_event in events else ""})
    gone = [f"event {e} ({_when(s, s.event_step(v))})" for e, v in s.events.items() if e not in events]
    gone += [f"control {c} ({_when(s, s.control_step(v))})" for c, v in s.controls.items() if c not in controls]
    if not gone:
        return cut, None
    why = f"{option} {n}: the run ends" if steps is not None and steps != s.steps else f"{s.name}: the run ends"
    return cut, f"{why} on {s.date_of(n - 1)}; after it, so not applied: " + ", ".join(gone)


def _when(s: Scenario, step: int) -> str:
    """The date of a step, or 'step N' when it lies beyond the calendar (after year 9999)."""
    try:
        return str(s.date_of(step))
    except OverflowError:
        return f"step {step:,}"


def _order(msg: str):
    m = re.match(r"(.*?):(\d+):", msg)
    return (m.group(1), int(m.group(2))) if m else (msg.split(":")[0], 0)


# ---------------------------------------------------------------- writing ------------
def toml_literal(v) -> str:
    """A value as a one-line TOML literal (tomli_w writes each scalar; arrays stay on one line)."""
    if isinstance(v, list):
        return "[" + ", ".join(toml_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_literal(x)}" for k, x in v.items()) + "}"
    return tomli_w.dumps({"x": v})[4:-1]


def toml_key(k: str) -> str:
    return tomli_w.dumps({k: 0})[:-5]


def _tables(d: dict, name: str) -> list[str]:
    """TOML lines for table `d`: values first, then one [header] per non-empty sub-table."""
    values = [(k, v) for k, v in d.items() if v is not None and not (isinstance(v, dict) and v)]
    subs = [(k, v) for k, v in d.items() if isinstance(v, dict) and v]
    out = ([f"[{name}]"] if name and (values or not subs) else [])
    out += [f"{toml_key(k)} = {toml_literal(v)}" for k, v in values]
    for k, v in subs:
        out += [""] + _tables(v, f"{name}.{toml_key(k)}" if name else toml_key(k))
    return out


def dump_toml(scenario: Scenario) -> str:
    """The fully resolved scenario (every default filled in) as TOML that load_scenario reads back."""
    head = (f"# Scenario '{scenario.name}', fully resolved: every default filled in, extends and\n"
            "# --set applied. Dates are TOML dates; inf means no limit.\n\n")
    body = "\n".join(_tables(scenario.model_dump(mode="python"), ""))
    return head + re.sub(r"\n{3,}", "\n\n", body) + "\n"


def list_scenarios(folder) -> list[tuple[str, Path, str]]:
    """[(name, path, description)] for every *.toml in `folder`, sorted by file name.

    A file that does not load is listed with the first line of its problem as description.
    """
    out = []
    for p in sorted(Path(folder).glob("*.toml")):
        try:
            s = load_scenario(p)
            out.append((s.name, p, s.description))
        except ScenarioError as e:
            out.append((p.stem, p, f"(invalid: {e.messages[0]})"))
    return out


__all__ = ["ScenarioError", "load_scenario", "cut_horizon", "dump_toml", "list_scenarios", "deep_merge",
           "parse_override", "set_path", "key_lines", "parse_key", "explain"]
