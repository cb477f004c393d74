"""Typed, validated configuration: defaults, then a TOML file, then the environment.

Every key has a default and a one-line doc (``fxconsole config init`` writes them all as a
commented TOML file). A file key ``[data] symbol`` is overridden by the environment
variable ``FXCONSOLE_DATA__SYMBOL``. A wrong key or value raises :class:`ConfigError`
naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from fxconsole.market.bars import TIMEFRAME_SECONDS

CONFIG_FILE = "fxconsole.toml"
ENV_PREFIX = "FXCONSOLE_"


class ConfigError(ValueError):
    """A configuration key or value is not allowed."""


def _opt(default: Any, doc: str, **rules: Any) -> Any:
    """A config field with its doc and validation rules (choices, min, max, gt)."""
    return field(default=default, metadata={"doc": doc, **rules})


@dataclass(frozen=True)
class DataConfig:
    """Market data, features and sessions (SPEC §1–§3)."""

    symbol: str = _opt("GBPJPY", "symbol traded and stored by default")
    timeframe: str = _opt("M1", "bar timeframe", choices=tuple(TIMEFRAME_SECONDS))
    mm_window: int = _opt(1440, "min-max scaling window W, in rows (SPEC §2)", min=2)
    session_bars: int = _opt(360, "bars per session / episode (SPEC §3)", min=2)
    max_gap_periods: int = _opt(
        10, "largest allowed ts step inside a session, in bar periods", min=1
    )
    warmup_rows: int = _opt(31, "rows before a session start that must have features", min=0)
    min_session_range_pips: float = _opt(
        1.0, "minimum mean (high - low) in pips over a session", min=0.0
    )
    train_fraction: float = _opt(0.70, "train split: ts < t0 + f * span", gt=0.0, max=1.0)
    validation_fraction: float = _opt(
        0.85, "validation split ends at t0 + f * span (test after)", gt=0.0, max=1.0
    )
    drop_invalid_rows: bool = _opt(
        False, "drop invalid bars on import (reporting the count) instead of failing"
    )


@dataclass(frozen=True)
class SynthConfig:
    """The embedded default data set (``fxconsole data synth``)."""

    years: float = _opt(3.5, "years of synthetic M1 bars (3.5 ≈ 1.3M bars)", gt=0.0, max=50.0)
    seed: int = _opt(7, "random seed: the same seed gives the same bars")
    signal: float = _opt(
        0.0, "planted short-term predictability, 0 (none) to 1", min=0.0, max=1.0
    )
    start: str = _opt("2021-01-03", "first calendar day (UTC, ISO date)")


@dataclass(frozen=True)
class Config:
    """The whole configuration, one section per concern."""

    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)

    def validated(self) -> Config:
        """Check cross-key rules; return self."""
        if self.data.train_fraction >= self.data.validation_fraction:
            raise ConfigError(
                f"data.train_fraction = {self.data.train_fraction} must be below "
                f"data.validation_fraction = {self.data.validation_fraction}"
            )
        return self


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the config: defaults, then ``path`` (if it exists), then the environment.

    Args:
        path: a TOML file; a missing file means all defaults.
        environ: the environment to read overrides from (``os.environ`` by default).

    Raises:
        ConfigError: naming the file, key, value and what is allowed.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None and path.exists():
        source = str(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    env = os.environ if environ is None else environ
    sections: dict[str, Any] = {}
    for f in fields(Config):
        section_type = get_type_hints(Config)[f.name]
        values = raw.pop(f.name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{f.name}] must be a table, got {values!r}")
        sections[f.name] = _build_section(f.name, section_type, values, env, source)
    if raw:
        allowed = ", ".join(f.name for f in fields(Config))
        raise ConfigError(f"{source}: unknown section(s) {sorted(raw)}; allowed: {allowed}")
    return Config(**sections).validated()


def _build_section(
    name: str, cls: type, values: dict[str, Any], env: Mapping[str, str], source: str
) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
            f"allowed in [{name}]: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for key, f in known.items():
        env_key = f"{ENV_PREFIX}{name.upper()}__{key.upper()}"
        where = source
        if env_key in env:
            value: Any = _from_env(f"{name}.{key}", env[env_key], hints[key], env_key)
            where = f"environment {env_key}"
        elif key in values:
            value = values[key]
        else:
            continue
        kwargs[key] = _check(f"{name}.{key}", value, hints[key], f.metadata, where)
    return cls(**kwargs)


def _from_env(key: str, text: str, typ: type, env_key: str) -> Any:
    try:
        if typ is bool:
            lowered = text.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(text)
            return lowered in {"1", "true", "yes", "on"}
        return typ(text)
    except ValueError:
        raise ConfigError(
            f"environment {env_key}: {key} = {text!r} is not a valid {typ.__name__}"
        ) from None


def _check(key: str, value: Any, typ: type, rules: Mapping[str, Any], where: str) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} = {value!r} must be of type {typ.__name__}")
    choices = rules.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {key} = {value!r} is not allowed; allowed: {list(choices)}")
    if "min" in rules and value < rules["min"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be ≥ {rules['min']}")
    if "gt" in rules and value <= rules["gt"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be > {rules['gt']}")
    if "max" in rules and value > rules["max"]:
        raise ConfigError(f"{where}: {key} = {value!r} must be ≤ {rules['max']}")
    return value


def with_overrides(config: Config, section: str, **values: Any) -> Config:
    """Return ``config`` with keys of one section replaced (validated like the file)."""
    current = getattr(config, section)
    hints = get_type_hints(type(current))
    known = {f.name: f for f in fields(current)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown key {section}.{key}; allowed: {', '.join(known)}")
        checked[key] = _check(f"{section}.{key}", value, hints[key], known[key].metadata, "option")
    return replace(config, **{section: replace(current, **checked)}).validated()


def default_toml() -> str:
    """Render every key with its default and doc as a commented TOML file."""
    lines = ["# fxconsole configuration. Every key is optional; shown with its default.",
             f"# Environment variables override: {ENV_PREFIX}<SECTION>__<KEY>.", ""]
    for section in fields(Config):
        cls = get_type_hints(Config)[section.name]
        lines.append(f"[{section.name}]  # {(cls.__doc__ or '').strip()}")
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"{f.name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
