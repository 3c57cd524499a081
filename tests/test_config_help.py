"""`hyperzoo config`: every key, resolved, with its help."""

import dataclasses

import yaml
from typer.testing import CliRunner

from hyperzoo.cli import app
from hyperzoo.config import Config, load_config
from hyperzoo.config_help import HELP, METHOD_HELP, annotated_yaml
from hyperzoo.methods import METHODS


def test_every_key_has_help():
    for section in ("target", "data", "train"):
        fields = {f.name for f in dataclasses.fields(getattr(Config(), section))}
        assert {k.split(".", 1)[1] for k in HELP if k.startswith(section + ".")} == fields
    assert set(METHOD_HELP) == set(METHODS), "a registered method without help in config_help.METHOD_HELP"
    for name, (cls, _) in METHODS.items():
        assert set(METHOD_HELP[name]) == {f.name for f in dataclasses.fields(cls)}
    assert METHOD_HELP["toy_mixture"]["name"].startswith("method: seed 000's toy problem")
    for name in set(METHODS) - {"toy_mixture"}:
        assert set(METHOD_HELP[name]["name"].removeprefix("method: ").split(", ")) == set(METHODS)


def test_printed_config_is_the_resolved_config():
    cfg = load_config(None, ["method.name=hypergan", "train.steps=7"])
    text = annotated_yaml(cfg)
    data = yaml.safe_load(text)  # the comments are YAML comments: it reads back
    assert data["train"]["steps"] == 7 and data["method"]["beta"] == 1.0  # a default filled in
    assert all("  # " in line for line in text.splitlines() if line.startswith("  "))
    r = CliRunner().invoke(app, ["config", "--set", "method.lam=1e4"])
    assert r.exit_code == 0 and "lam: 10000.0" in r.output and "λ: weight of the accuracy term" in r.output
    r = CliRunner().invoke(app, ["config", "--set", "method.name=hypergan", "--set", "method.lam=3"])
    assert r.exit_code == 1 and "unknown config key 'method.lam'" in r.output
