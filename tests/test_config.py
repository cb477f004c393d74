"""Configuration: defaults, file, environment, and errors that name key, value and rule."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fxconsole.config import Config, ConfigError, default_toml, load_config, with_overrides


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fxconsole.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "missing.toml", environ={})
    assert cfg == Config()
    assert cfg.data.symbol == "GBPJPY" and cfg.data.mm_window == 1440


def test_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\nsymbol = "USDJPY"\nmm_window = 100\n[synth]\nyears = 1\n')
    cfg = load_config(path, environ={"FXCONSOLE_DATA__MM_WINDOW": "200"})
    assert cfg.data.symbol == "USDJPY"
    assert cfg.data.mm_window == 200  # the environment wins
    assert cfg.synth.years == 1.0 and isinstance(cfg.synth.years, float)


@pytest.mark.parametrize(
    ("text", "env", "fragments"),
    [
        ('[data]\nsymbl = "X"\n', {}, ["data.symbl", "allowed in [data]", "symbol"]),
        ("[dta]\n", {}, ["unknown section", "dta", "allowed: data, synth, env"]),
        ('[data]\ntimeframe = "M2"\n', {}, ["data.timeframe", "'M2'", "allowed", "M1"]),
        ("[data]\nmm_window = 1\n", {}, ["data.mm_window", "1", "≥ 2"]),
        ('[data]\nmm_window = "big"\n', {}, ["data.mm_window", "'big'", "must be of type int"]),
        ("[synth]\nsignal = 4.5\n", {}, ["synth.signal", "4.5", "≤ 4.0"]),
        ("", {"FXCONSOLE_SYNTH__SEED": "x"}, ["FXCONSOLE_SYNTH__SEED", "synth.seed", "'x'"]),
        ("", {"FXCONSOLE_DATA__DROP_INVALID_ROWS": "maybe"}, ["DROP_INVALID_ROWS", "bool"]),
        ("[data]\ntrain_fraction = 0.9\n", {}, ["train_fraction = 0.9", "validation_fraction"]),
        ("[data\n", {}, ["not valid TOML"]),
    ],
)
def test_errors_name_key_value_and_rule(
    tmp_path: Path, text: str, env: dict[str, str], fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=env)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_default_toml_round_trips_and_documents_every_key() -> None:
    text = default_toml()
    parsed = tomllib.loads(text)
    assert parsed["data"]["mm_window"] == 1440
    assert parsed["synth"]["seed"] == Config().synth.seed
    for key in parsed["data"]:
        assert f"\n{key} = " in text
    assert text.count("\n# ") >= len(parsed["data"]) + len(parsed["synth"])


def test_with_overrides_validates() -> None:
    cfg = with_overrides(Config(), "synth", years=0.5)
    assert cfg.synth.years == 0.5
    with pytest.raises(ConfigError, match="synth.years"):
        with_overrides(Config(), "synth", years=-1.0)
    with pytest.raises(ConfigError, match="unknown key synth.nope"):
        with_overrides(Config(), "synth", nope=1)
