"""``config/reference.yaml`` documents every config key with its real default.

The test walks the config models (:class:`Settings` and every pydantic model
under it, the parameters of every registered check under ``checks.<id>``, and
the settings model of every channel type) and compares each field with the
reference. The conventions it enforces (also in docs/developing.md, "Config"):

- **Fixed sections** (``state``, ``server``, ``letters.delivery``,
  ``checks.<id>``, …): every field is present, with its default as the value.
  A field that is required, or whose default is empty (``None``, ``[]``,
  ``{}``, ``""``), may show an example value instead, if its line carries a
  comment starting with ``# example``.
- **Entries of a map or a list** (``sources.<name>``, ``routes[]``,
  ``channels.<name>`` per channel type, ``tiers.overrides[]``,
  ``checks.overrides[].match``, …) are examples by nature: every field of the
  entry's model appears in at least one entry, and a field with a non-empty
  default appears at least once with exactly that default.
- Every model field has a comment, on its line or on the line just above.

The reference must also stay a valid config: it loads with the real loader, and
every channel entry builds with its channel type's settings model.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from sunlight.alerts.channels import build_channel, channel_types
from sunlight.alerts.channels.base import settings_models
from sunlight.checks.registry import OverrideMatch, load_all
from sunlight.monitor.configure import Settings, load_settings
from sunlight.monitor.settings import substitute_env

REFERENCE = Path(__file__).resolve().parents[1] / "config" / "reference.yaml"
#: ``Settings`` fields that are not written by an office (the loader sets them)
INTERNAL = {"base_dir"}
#: values for the ``${NAME}`` references in the file (URLs where a URL is expected)
ENV = {"APPROVAL_DB_PASSWORD": "x", "FINANCE_DB_PASSWORD": "x", "SMTP_PASSWORD": "x",
       "SUNLIGHT_DB_PASSWORD": "x", "WECOM_HOOK": "http://127.0.0.1:1/hook",
       "WEBHOOK_SECRET": "x", "OA_TOKEN": "x", "DINGTALK_TOKEN": "x", "DINGTALK_SECRET": "x",
       "FEISHU_HOOK": "http://127.0.0.1:1/hook", "FEISHU_SECRET": "x"}
_EXAMPLE = re.compile(r"(^|\s)#\s*example\b")
_COMMENT = re.compile(r"(^|\s)#")

Node = Mapping[str, object]


# --- the reference as data, with the line of every key -----------------------------


@dataclass
class Reference:
    """The reference's values (after ``${NAME}`` substitution) and where each key is written."""

    data: dict[str, object]
    lines: list[str]
    #: id(mapping) → {key: 0-based line of the key}
    key_lines: dict[int, dict[str, int]] = field(default_factory=dict)

    def line_of(self, node: Node, key: str) -> int | None:
        return self.key_lines.get(id(node), {}).get(key)

    def marked_example(self, node: Node, key: str) -> bool:
        line = self.line_of(node, key)
        return line is not None and bool(_EXAMPLE.search(self.lines[line]))

    def commented(self, node: Node, key: str) -> bool:
        line = self.line_of(node, key)
        if line is None:
            return False
        above = self.lines[line - 1].strip() if line > 0 else ""
        return bool(_COMMENT.search(self.lines[line])) or above.startswith("#")


def read_reference(path: Path = REFERENCE) -> Reference:
    text = path.read_text(encoding="utf-8")
    data = substitute_env(yaml.safe_load(text), env=ENV)
    ref = Reference(data, text.splitlines())
    _index_lines(ref, data, yaml.compose(text, Loader=yaml.SafeLoader))
    return ref


def _index_lines(ref: Reference, value: object, node: yaml.Node | None) -> None:
    """Walk the loaded data and the composed node tree together, noting each key's line."""
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
        lines = ref.key_lines.setdefault(id(value), {})
        for key_node, value_node in node.value:
            key = key_node.value
            lines[key] = key_node.start_mark.line
            if key in value:
                _index_lines(ref, value[key], value_node)
    elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
        for item, item_node in zip(value, node.value, strict=True):
            _index_lines(ref, item, item_node)


# --- values as one would write them in YAML -----------------------------------------


def _duration_text(td: dt.timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plain(value: object) -> object:
    """A default as the YAML an office writes (durations as ``5m``, secrets in clear)."""
    if isinstance(value, BaseModel):
        return {(f.alias or name): plain(getattr(value, name))
                for name, f in type(value).model_fields.items()}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path | dt.date):
        return str(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def as_yaml(value: object) -> str:
    text = yaml.safe_dump(plain(value), default_flow_style=True, allow_unicode=True,
                          width=10**6, sort_keys=False).strip()
    return text.removesuffix("...").strip()


# --- the walk ----------------------------------------------------------------------


def _strip(ann: object) -> object:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def _is_model(ann: object) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _shapes(ann: object) -> list[tuple[str, type[BaseModel]]]:
    """The model shapes a field may take: ('model'|'list'|'dict', Model), through unions."""
    ann = _strip(ann)
    if _is_model(ann):
        return [("model", typing.cast(type[BaseModel], ann))]
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        return [shape for arg in args for shape in _shapes(arg)]
    if origin in (list, Sequence, tuple) and args and _is_model(_strip(args[0])):
        return [("list", typing.cast(type[BaseModel], _strip(args[0])))]
    if origin in (dict, Mapping) and len(args) == 2 and _is_model(_strip(args[1])):
        return [("dict", typing.cast(type[BaseModel], _strip(args[1])))]
    return []


def _adapter(f: FieldInfo) -> TypeAdapter[Any]:
    """The field's type with its validators (``Duration`` reads ``5m``), as the model reads it."""
    ann: Any = f.annotation  # a type form built at run time: no static type says more
    if f.metadata:
        ann = typing.Annotated[(ann, *f.metadata)]
    return TypeAdapter(ann)


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


@dataclass
class Walk:
    ref: Reference
    problems: list[str] = field(default_factory=list)

    def problem(self, node: Node | None, key: str | None, text: str) -> None:
        line = self.ref.line_of(node, key) if node is not None and key is not None else None
        where = f"{REFERENCE.name} line {line + 1}" if line is not None else REFERENCE.name
        self.problems.append(f"{where}: {text}")

    def equals_default(self, f: FieldInfo, value: object, default: object) -> bool:
        try:
            return bool(_adapter(f).validate_python(value) == default)
        except ValidationError:
            return False

    def fixed(self, model: type[BaseModel], node: object, path: str,
              defaults: BaseModel | None = None, skip: frozenset[str] = frozenset()) -> None:
        """A section written once: every field present, with its default (or a marked example)."""
        if not isinstance(node, Mapping):
            self.problem(None, None, f"{path} must be a mapping documenting {model.__name__}")
            return
        for name, f in model.model_fields.items():
            if name in skip:
                continue
            key, keypath = f.alias or name, f"{path}.{f.alias or name}" if path else (f.alias or name)
            required = f.is_required()
            default = None if required else (
                getattr(defaults, name) if defaults is not None
                else f.get_default(call_default_factory=True))
            if key not in node:
                what = ("an example value, marked `# example`" if required
                        else f"its default: `{key}: {as_yaml(default)}`")
                self.problem(None, None, f"{keypath} is missing: add it under "
                             f"`{path or '(top level)'}` with {what} and a comment saying what it does")
                continue
            if not self.ref.commented(node, key):
                self.problem(node, key, f"{keypath} has no comment: say in a few words what it does")
            value = node[key]
            shapes = _shapes(f.annotation)
            model_shape = next((m for kind, m in shapes if kind == "model"), None)
            if isinstance(value, Mapping) and model_shape is not None and not self.ref.marked_example(
                    node, key):
                sub_default = default if isinstance(default, BaseModel) else None
                self.fixed(model_shape, value, keypath, sub_default)
                continue
            if self.ref.marked_example(node, key):
                if not (required or _empty(default)):
                    self.problem(node, key, f"{keypath} is marked `# example` but has a default: "
                                 f"write `{key}: {as_yaml(default)}` and drop the mark")
            elif required:
                self.problem(node, key, f"{keypath} is required: mark its example value with a "
                             "comment starting `# example`")
            elif not self.equals_default(f, value, default):
                hint = " (or mark an example value `# example`)" if _empty(default) else ""
                self.problem(node, key, f"{keypath} is {as_yaml(value)} but the default is "
                             f"{as_yaml(default)}: write `{key}: {as_yaml(default)}`{hint}")
            # the entries of a map or list (or a model in a union) are walked in any case
            self.entries(f, value, keypath)

    def entries(self, f: FieldInfo, value: object, path: str) -> None:
        """Walk the entries of a map-of-model or list-of-model field (or a model in a union)."""
        for kind, model in _shapes(f.annotation):
            if kind == "list" and isinstance(value, list):
                self.union(model, [v for v in value if isinstance(v, Mapping)], f"{path}[]")
                return
            if kind == "dict" and isinstance(value, Mapping):
                self.union(model, [v for v in value.values() if isinstance(v, Mapping)],
                           f"{path}.<name>")
                return
            if kind == "model" and isinstance(value, Mapping):
                self.union(model, [value], path)
                return

    def union(self, model: type[BaseModel], nodes: Sequence[Node], path: str,
              uncommented: frozenset[str] = frozenset()) -> None:
        """Entries are examples: each field in some entry, a non-empty default shown at least once.

        A field that is itself a model is walked instead of compared whole.
        """
        if not nodes:
            self.problem(None, None, f"{path}: give at least one example entry "
                         f"({model.__name__}: {', '.join(model.model_fields)})")
            return
        for name, f in model.model_fields.items():
            key, keypath = f.alias or name, f"{path}.{f.alias or name}"
            having = [n for n in nodes if key in n]
            if not having:
                default = None if f.is_required() else f.get_default(call_default_factory=True)
                value = "an example value" if f.is_required() else f"`{key}: {as_yaml(default)}`"
                self.problem(None, None, f"{keypath} is in none of the example entries: add "
                             f"{value} to one of them, with a comment saying what it does")
                continue
            if key not in uncommented and not any(self.ref.commented(n, key) for n in having):
                self.problem(having[0], key, f"{keypath} has no comment in any entry: say in a "
                             "few words what it does")
            if not f.is_required():
                default = f.get_default(call_default_factory=True)
                if not _empty(default) and not isinstance(default, BaseModel) and not any(
                        self.equals_default(f, n[key], default) for n in having):
                    self.problem(having[0], key, f"{keypath}: no entry shows the default: "
                                 f"write `{key}: {as_yaml(default)}` in one of them")
            values = [n[key] for n in having]
            for kind, sub in _shapes(f.annotation):
                if kind == "model":
                    self.union(sub, [v for v in values if isinstance(v, Mapping)], keypath)
                elif kind == "list":
                    self.union(sub, [e for v in values if isinstance(v, list)
                                     for e in v if isinstance(e, Mapping)], f"{keypath}[]")
                elif kind == "dict":
                    self.union(sub, [e for v in values if isinstance(v, Mapping)
                                     for e in v.values() if isinstance(e, Mapping)],
                               f"{keypath}.<name>")


def reference_problems(ref: Reference) -> list[str]:
    """Every way ``ref`` fails to document the config models, in words that say what to write."""
    walk = Walk(ref)
    walk.fixed(Settings, ref.data, "", skip=frozenset(INTERNAL | {"checks", "channels"}))
    checks = ref.data.get("checks")
    if not isinstance(checks, Mapping) or not ref.commented(ref.data, "checks"):
        walk.problem(None, None, "checks: write the section, with a comment, and every check in it")
        checks = {}
    for cid, cls in sorted(load_all().items()):
        if cid not in checks:
            walk.problem(None, None, f"checks.{cid} is missing: add `{cid}: "
                         f"{as_yaml(cls.Params())}` under `checks` with a comment saying what it finds")
            continue
        walk.fixed(cls.Params, checks[cid] if checks[cid] is not None else {}, f"checks.{cid}")
    overrides = checks.get("overrides", [])
    walk.union(OverrideMatch, [o["match"] for o in overrides if isinstance(o, Mapping)
                               and isinstance(o.get("match"), Mapping)], "checks.overrides[].match")
    channels = ref.data.get("channels")
    if not isinstance(channels, Mapping) or not ref.commented(ref.data, "channels"):
        walk.problem(None, None, "channels: write the section, with a comment, and one entry per type")
        channels = {}
    for kind, model in settings_models().items():
        walk.union(model, [c for c in channels.values()
                           if isinstance(c, Mapping) and c.get("type") == kind],
                   f"channels.<a {kind} channel>", uncommented=frozenset({"type"}))
    return walk.problems


# --- the tests ---------------------------------------------------------------------


def test_reference_documents_every_key_with_its_default() -> None:
    problems = reference_problems(read_reference())
    assert not problems, ("config/reference.yaml is out of step with the config models "
                          "(see docs/developing.md, 'Config'):\n  " + "\n  ".join(problems))


def test_reference_is_a_valid_config_and_its_channels_build(tmp_path: Path) -> None:
    values = "\n".join(_COMMENT.split(line, maxsplit=1)[0]
                        for line in REFERENCE.read_text(encoding="utf-8").splitlines())
    assert set(re.findall(r"\$\{(\w+)\}", values)) <= set(ENV), "give the new ${NAME} a value in ENV"
    settings = load_settings(REFERENCE, env=ENV)
    assert set(settings.sources) == {"approvals", "finance"}
    kinds = set()
    for name, entry in settings.channels.items():
        channel = build_channel(name, entry, tmp_path)  # the channel's own settings model
        assert channel.name == name
        kinds.add(entry["type"])
    assert kinds == set(channel_types()), "every channel type has an example entry"


def _walk_text(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "reference.yaml"
    path.write_text(text, encoding="utf-8")
    return reference_problems(read_reference(path))


@pytest.fixture(scope="module")
def reference_text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_a_missing_key_is_named_with_the_default_to_write(reference_text: str, tmp_path: Path) -> None:
    text = re.sub(r"^  deliver_every:.*\n", "", reference_text, flags=re.MULTILINE)
    assert text != reference_text
    problems = _walk_text(text, tmp_path)
    assert len(problems) == 1, problems
    assert "server.deliver_every is missing" in problems[0]
    assert "`deliver_every: 10s`" in problems[0]


def test_a_wrong_default_is_named_with_its_line(reference_text: str, tmp_path: Path) -> None:
    text = reference_text.replace("url: sqlite:///sunlight-state.db", "url: sqlite:///state.db")
    assert text != reference_text
    problems = _walk_text(text, tmp_path)
    line = 1 + next(i for i, s in enumerate(text.splitlines()) if "sqlite:///state.db" in s)
    assert problems == [f"reference.yaml line {line}: state.url is sqlite:///state.db but the "
                        "default is sqlite:///sunlight-state.db: write "
                        "`url: sqlite:///sunlight-state.db`"]


def test_a_missing_check_parameter_is_named(reference_text: str, tmp_path: Path) -> None:
    text = re.sub(r"^    max_supplements:.*\n", "", reference_text, flags=re.MULTILINE)
    assert text != reference_text
    problems = _walk_text(text, tmp_path)
    assert len(problems) == 1, problems
    assert "checks.repeated_supplement.max_supplements is missing" in problems[0]
    assert "`max_supplements: 1`" in problems[0]


def test_an_example_mark_does_not_excuse_a_wrong_default(reference_text: str, tmp_path: Path) -> None:
    text = re.sub(r"^(  shutdown_grace:) 30s(\s+#)", r"\1 1m\2 example,", reference_text,
                  flags=re.MULTILINE)
    assert text != reference_text
    problems = _walk_text(text, tmp_path)
    assert len(problems) == 1, problems
    assert "server.shutdown_grace is marked `# example` but has a default" in problems[0]
    assert "`shutdown_grace: 30s`" in problems[0]


def test_a_field_in_no_example_entry_is_named(reference_text: str, tmp_path: Path) -> None:
    text = re.sub(r"^    misfire_grace:.*\n", "", reference_text, flags=re.MULTILINE)
    assert text != reference_text
    problems = _walk_text(text, tmp_path)
    assert len(problems) == 1, problems
    assert "sources.<name>.misfire_grace is in none of the example entries" in problems[0]
    assert "`misfire_grace: 5m`" in problems[0]
