"""Setting config keys in place: comments and order survive, odd forms are refused."""

from __future__ import annotations

import tomllib

import pytest

from fxconsole.tuning.toml_edit import TomlEditError, set_values

TEXT = """# my settings
[ppo]  # the agent
gamma = 0.99  # my old gamma
n_envs = 4

[train]
timesteps = 5
"""


def test_keys_are_replaced_in_place_added_to_their_section_or_a_new_one() -> None:
    out = set_values(TEXT, {"ppo": {"gamma": 0.995, "net_arch": "64,64"},
                            "env": {"reward": "mtm"}, "train": {"timesteps": 7}}, "tuned")
    lines = out.splitlines()
    assert lines[:5] == ["# my settings", "[ppo]  # the agent", "gamma = 0.995  # tuned",
                         "n_envs = 4", 'net_arch = "64,64"  # tuned']
    assert "timesteps = 7  # tuned" in lines and lines[-2:] == ["[env]", 'reward = "mtm"  # tuned']
    assert tomllib.loads(out) == {"ppo": {"gamma": 0.995, "n_envs": 4, "net_arch": "64,64"},
                                  "train": {"timesteps": 7}, "env": {"reward": "mtm"}}


def test_an_empty_file_gets_sections_and_booleans_are_toml() -> None:
    out = set_values("", {"ppo": {"mask_actions": True, "learning_rate": 1e-05}}, "t")
    assert tomllib.loads(out) == {"ppo": {"mask_actions": True, "learning_rate": 1e-05}}


@pytest.mark.parametrize("text", ['ppo.gamma = 0.9\n', 'ppo = { gamma = 0.9 }\n'])
def test_forms_it_does_not_edit_are_refused(text: str) -> None:
    with pytest.raises(TomlEditError, match="edit it by hand"):
        set_values(text, {"ppo": {"gamma": 0.99}}, "t")


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(TomlEditError, match="not valid TOML"):
        set_values("[ppo\n", {"ppo": {"gamma": 0.99}}, "t")
