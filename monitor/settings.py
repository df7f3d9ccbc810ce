"""The configuration an office writes, as validated pydantic models.

One YAML file (see ``config/reference.yaml``, the single documented truth).
``${NAME}`` anywhere in a string is replaced by the environment variable NAME
so that passwords never sit in the file; values that carry secrets are
:class:`pydantic.SecretStr` and never appear in ``repr`` or logs.

Loading never half-works: :func:`read_settings` either returns a complete,
checked :class:`Settings` or raises :class:`ConfigError` naming the file, the
key path and the problem (the CLI turns that into exit code 2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url

from sunlight.alerts.config import ChannelsConfig, LettersConfig, RouteConfig, TiersConfig
from sunlight.monitor.calendar import CalendarError, load_overrides
from sunlight.monitor.config_error import ConfigError, first_problem
from sunlight.monitor.durations import Duration, parse_duration
from sunlight.monitor.webconsole.config import ConsoleConfig

__all__ = ["ConfigError", "Settings", "read_settings", "register_validator"]

ENTITIES = (
    "units",
    "people",
    "cases",
    "case_pauses",
    "case_extensions",
    "case_steps",
    "publications",
    "expenses",
    "expense_signatures",
    "decisions",
    "complaints",
    "info_requests",
    "post_tenures",
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityMapping(_Model):
    """How one canonical entity is found in a source database.

    Either ``table`` (with optional ``columns`` renames: canonical field → the
    site's column) or ``query``: a read-only SELECT returning canonical names.
    """

    table: str | None = None
    columns: dict[str, str] = {}
    query: str | None = None

    @field_validator("query")
    @classmethod
    def _select_only(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^\s*(select|with)\b", v, re.IGNORECASE):
            raise ValueError("a mapping query must be a SELECT (or WITH … SELECT)")
        return v

    def model_post_init(self, _ctx: Any) -> None:
        if self.table and self.query:
            raise ValueError("give either 'table' or 'query', not both")
        if self.query and self.columns:
            raise ValueError("'columns' renames apply to 'table'; a query returns canonical names")


class CronSchedule(_Model):
    """A crontab time (5 fields, in the config's time zone) at which the daemon evaluates a source.

    ``workdays_only`` skips days the work calendar says are not working days, so
    that 调休 Saturdays count and statutory holidays do not (cron's ``mon-fri``
    knows neither). A plain string is read as ``{crontab: <string>}``.
    """

    crontab: str
    workdays_only: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, v: Any) -> Any:
        return {"crontab": v} if isinstance(v, str) else v

    @field_validator("crontab")
    @classmethod
    def _valid_crontab(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # the scheduler's own parser; only for a crontab

        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a crontab expression (minute hour day month weekday): "
                             f"{exc}") from None
        return v


_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class WatermarkConfig(_Model):
    """How an incremental cycle finds the rows changed since the last one.

    ``watermark`` names the column every change of a row moves forward
    (``updated_at``, a version number): a canonical field name mapped
    through the entity's ``columns``, else the site's column itself. The
    cycle reads the rows whose value is at least the greatest it read before.
    """

    watermark: str

    @field_validator("watermark")
    @classmethod
    def _column(cls, v: str) -> str:
        if not _COLUMN.match(v):
            raise ValueError(f"{v!r} is not a column name (letters, digits and _, not starting "
                             "with a digit)")
        return v


class IncrementalConfig(_Model):
    """Which entities the daemon re-reads incrementally between full scans (issue 11, item 4).

    Only the cases in this version: the other entities are read by the full
    scans (``server.full_scan``) and by every cycle of a source without this
    section.
    """

    cases: WatermarkConfig

    @model_validator(mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        if isinstance(v, dict):
            other = sorted(set(v) - {"cases"})
            if other:
                raise ValueError(f"{other[0]!r} cannot be read incrementally: only 'cases' can "
                                 "(the other entities are read by every full scan)")
        return v


class SourceConfig(_Model):
    """One read-only source database."""

    url: SecretStr
    interval: Duration = parse_duration("5m")
    chunk_size: int = Field(default=5000, ge=100, le=100_000)
    entities: dict[str, EntityMapping] = {}
    data_owner: str | None = None  # who fixes bad rows (routing of data_quality findings)
    #: evaluate the case and voucher checks column by column (monitor/columnar); false: record by record
    columnar: bool = True
    #: what letters and notices call this source, e.g. 县政务服务中心审批系统 (default: its key)
    display_name: str | None = None
    #: extra evaluation times besides ``interval`` (the daemon's scheduler), e.g.
    #: ``[{crontab: "30 8 * * *", workdays_only: true}]`` for reminders at 08:30 on working days
    cron: list[CronSchedule] = []
    #: a run that could not start on time (the daemon was busy or asleep) still runs this late
    misfire_grace: Duration = parse_duration("5m")
    #: how long to wait for the database to answer a connection (a hung server is reported
    #: down after this, and the other sources go on)
    connect_timeout: Duration = parse_duration("10s")
    #: how long one statement (one fetch of a streamed read) may run; also SQLite's busy timeout
    statement_timeout: Duration = parse_duration("300s")
    #: between full scans (``server.full_scan``), the daemon re-reads only the rows changed
    #: since its last cycle and the records a time boundary reached (monitor/incremental.py)
    incremental: IncrementalConfig | None = None

    @field_validator("connect_timeout", "statement_timeout")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if v.total_seconds() < 1:
            raise ValueError("must be at least 1s")
        return v

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, v: dict[str, EntityMapping]) -> dict[str, EntityMapping]:
        unknown = sorted(set(v) - set(ENTITIES))
        if unknown:
            raise ValueError(f"unknown entity {unknown[0]!r}; known: {', '.join(ENTITIES)}")
        return v

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        if not re.match(r"^(sqlite|postgresql|mysql|mariadb)(\+\w+)?://", raw):
            raise ValueError("must be an SQLAlchemy URL for sqlite, postgresql or mysql/mariadb")
        return v


class StateConfig(_Model):
    """The daemon's own database (findings, letters, outbox, audit)."""

    url: SecretStr = SecretStr("sqlite:///sunlight-state.db")
    #: ``sunlight cycle`` / ``scan --record``: how long to wait for another process that is
    #: scanning the same source (or, on SQLite, delivering) before skipping it
    claim_wait: Duration = parse_duration("5m")
    #: SQLite: how long a writer waits for another process's lock before the command fails
    #: (one line naming the store; the daemon's job retries at its next run)
    lock_timeout: Duration = parse_duration("30s")


class CalendarConfig(_Model):
    overrides: list[Path] = []


class ServerConfig(_Model):
    """The daemon's HTTP endpoint and its own timing (``sunlight run``)."""

    listen: str = "127.0.0.1:9464"
    #: how often the delivery worker drains the outbox
    deliver_every: Duration = parse_duration("10s")
    #: on SIGTERM/SIGINT: how long running work may take before the process exits anyway
    shutdown_grace: Duration = parse_duration("30s")
    #: accept ``POST /-/reload`` (SIGHUP always works)
    reload_endpoint: bool = True
    #: this replica's name in logs, metrics and scan runs; empty: ``host:pid``
    replica: str = ""
    #: when the daemon scans the sources with ``incremental`` fully (their other cycles re-read
    #: only what changed): a full scan catches child-row edits and what a watermark misses
    full_scan: str = "10 0 * * *"

    @field_validator("full_scan")
    @classmethod
    def _crontab(cls, v: str) -> str:
        return CronSchedule._valid_crontab(v)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{v!r} must be host:port, e.g. 127.0.0.1:9464")
        return v


class Settings(_Model):
    """The whole validated configuration."""

    timezone: str = "Asia/Shanghai"
    state: StateConfig = StateConfig()
    calendar: CalendarConfig = CalendarConfig()
    sources: dict[str, SourceConfig]
    checks: dict[str, Any] = {}
    tiers: TiersConfig = TiersConfig()
    letters: LettersConfig = LettersConfig()
    #: ``none`` (explicit) keeps letters undelivered; an empty list is refused (alerts/validation.py)
    routes: list[RouteConfig] | Literal["none"] = []
    channels: ChannelsConfig = {}
    server: ServerConfig = ServerConfig()
    console: ConsoleConfig = ConsoleConfig()
    #: where the file was loaded from: relative paths in it are relative to this
    base_dir: Path = Path(".")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("sources")
    @classmethod
    def _some_source(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not v:
            raise ValueError("at least one source is required")
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def state_url(self) -> str:
        """The state store URL; a relative SQLite path is relative to the config file."""
        return resolve_sqlite_url(self.state.url.get_secret_value(), self.base_dir)

    def resolve(self, p: Path | str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(p)
        return p if p.is_absolute() else (self.base_dir / p)


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """``sqlite:///x.db`` means x.db beside the config file, wherever sunlight is started."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return url
    if Path(u.database).is_absolute():
        return url
    return u.set(database=str((base_dir / u.database).resolve())).render_as_string(
        hide_password=False
    )


def substitute_env(node: Any, path: str = "", env: Mapping[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` in every string; a missing variable is a config error."""
    values: Mapping[str, str] = os.environ if env is None else env
    if isinstance(node, dict):
        return {k: substitute_env(v, f"{path}.{k}" if path else str(k), values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, f"{path}[{i}]", values) for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in values:
                raise KeyError(path, name)
            return values[name]

        return _ENV_REF.sub(repl, node)
    return node


class DuplicateKey(yaml.YAMLError):
    """One mapping names a key twice: YAML would silently keep the last (two ``state:``)."""

    def __init__(self, key: str, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"{key}: duplicated key")


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, naming its key path.

    PyYAML keeps the last of two equal keys without a word; an office that
    writes a second ``state:`` at the bottom of the file would run against
    a store it did not mean (issue 10, item 7). Merge keys (``<<``) may still
    be overridden, as YAML intends.
    """

    _paths: dict[int, str]

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        self._paths = {}
        if node is not None:
            self._walk(node, "")
        return node

    def _walk(self, node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            self._paths[id(node)] = path
            for k, v in node.value:
                name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
                self._walk(v, f"{path}.{name}" if path else name)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, f"{path}[{i}]")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(k)
            line = k.start_mark.line + 1
            try:
                hash(key)
            except TypeError:  # an unhashable key: the constructor reports it
                continue
            if key in seen:
                path = self._paths.get(id(node), "")
                raise DuplicateKey(f"{path}.{key}" if path else str(key), line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _decode(path: Path, data: bytes) -> str:
    """The file as text: UTF-8 (a BOM is allowed), or a ConfigError naming the encoding it has."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            found = f"byte 0x{data[exc.start]:02x} at line {line} is not UTF-8"
        else:
            found = f"it is encoded as GBK (GB18030), not UTF-8 (first non-UTF-8 byte at line {line})"
        raise ConfigError(path, "", f"the file must be UTF-8: {found}; save it as UTF-8 "
                                    "(e.g. iconv -f GBK -t UTF-8)") from None


def read_settings(path: str | Path, env: dict[str, str] | None = None) -> Settings:
    """Read, substitute and validate a config file, or raise :class:`ConfigError`.

    Runs the validators registered so far; load configs through
    :func:`sunlight.monitor.configure.load_settings`, which registers them all.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the file: {exc.strerror}") from exc
    text = _decode(path, data)
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKey as exc:
        raise ConfigError(path, exc.key, f"the key is given twice (line {exc.first_line} and line "
                                         f"{exc.line}); keep one") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, "", f"not valid YAML: {where}{getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(path, "", "the file must hold a mapping of keys (timezone, sources, ...)")
    try:
        raw = substitute_env(raw, env=env)
    except KeyError as exc:
        key, name = exc.args
        raise ConfigError(path, key, f"environment variable {name} is not set") from None
    raw["base_dir"] = path.resolve().parent
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, *first_problem(exc)) from None
    for validate in _VALIDATORS.values():
        for key, problem in validate(settings):
            raise ConfigError(path, key, problem)
    return settings


#: (key path, problem in plain words)
Problem = tuple[str, str]
Validator = Callable[["Settings"], Iterable[Problem]]
_VALIDATORS: dict[str, Validator] = {}


def register_validator(name: str) -> Callable[[Validator], Validator]:
    """Register a cross-field check of one config section; :func:`read_settings` runs them all.

    Each layer registers the checks of its own section (the check registry its
    ``checks:`` parameters, the letters their routes and tiers, the channels
    their entries), so this module imports none of them:
    :mod:`sunlight.monitor.configure` is where they are all imported together.
    """

    def add(fn: Validator) -> Validator:
        _VALIDATORS[name] = fn
        return fn

    return add


def registered_validators() -> tuple[str, ...]:
    return tuple(_VALIDATORS)


@register_validator("calendar")
def _calendar_overrides(settings: Settings) -> Iterable[Problem]:
    try:
        load_overrides([settings.resolve(p) for p in settings.calendar.overrides])
    except CalendarError as exc:
        yield "calendar.overrides", str(exc)
