"""Every code block of the README and docs/, as written: python blocks run (in a folder holding a
small stand-in for the demo's run), bash blocks name commands, options and scripts that exist,
YAML blocks are valid config sections; and every relative link leads to a file that exists (the
JSON behind a number), every anchor to a heading of its page."""

import re
import runpy
import shlex
import unicodedata
from pathlib import Path

import pytest
import typer

from hyperzoo.cli import app
from hyperzoo.config import load_config
from hyperzoo.train import train
from hyperzoo.workflows import export_networks
from tests.helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [block for page in PAGES
          for block in re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.S | re.M)]


def blocks(lang: str) -> list[str]:
    return [code for kind, code in BLOCKS if kind == lang]


def test_the_readme_has_blocks_of_each_kind():
    assert len(blocks("python")) >= 3 and len(blocks("bash")) >= 5 and blocks("yaml")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """A working directory with ``runs/demo`` as ``hyperzoo demo`` leaves it (a tiny run)."""
    root = tmp_path_factory.mktemp("readme")
    train(tiny_config("train.steps=2", "train.threads=1"), root / "runs" / "demo", argv=["x"],
          progress=False)
    export_networks(root / "runs" / "demo", 5, root / "runs" / "demo" / "networks")
    return root


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block_runs(index, demo_dir, monkeypatch, capsys):
    monkeypatch.chdir(demo_dir)
    script = demo_dir / f"block{index}.py"
    script.write_text(blocks("python")[index])
    runpy.run_path(str(script), run_name="__main__")


def _commands(code: str) -> list[list[str]]:
    """Shell commands of a block: continuation lines joined, comments dropped, split at &&."""
    text = code.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1:]
    return [c for c in out if c]


def _options() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    return {name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for name, cmd in group.commands.items()}


def test_bash_blocks_use_commands_and_options_that_exist():
    options = _options()
    checked = 0
    for code in blocks("bash"):
        for words in _commands(code):
            program = Path(words[0]).name
            if program == "hyperzoo":
                sub = words[1]
                assert sub in options, f"README: unknown command 'hyperzoo {sub}'"
                for w in words[2:]:
                    if w.startswith("--"):
                        assert w.split("=")[0] in options[sub], f"README: hyperzoo {sub} has no {w}"
                checked += 1
            elif program in ("python", "python3") and words[1].endswith(".py"):
                assert (ROOT / words[1]).is_file(), f"README: no script {words[1]}"
                checked += 1
    assert checked >= 20


def test_yaml_blocks_are_valid_config(tmp_path):
    for i, code in enumerate(blocks("yaml")):
        path = tmp_path / f"block{i}.yaml"
        path.write_text(code)
        load_config(path)  # unknown keys and wrong types raise ConfigError


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case; letters, marks, decimal digits, letter numbers,
    connectors, hyphens and spaces kept (Python's \\w also keeps superscripts, which GitHub drops);
    spaces as hyphens."""
    kept = (c for c in heading.strip().lower() if c in "- " or unicodedata.category(c)[0] in "LM"
            or unicodedata.category(c) in ("Nd", "Nl", "Pc"))
    return "".join(kept).replace(" ", "-")


def _headings(text: str) -> list[str]:
    """Markdown headings outside fenced code (a '# comment' in a shell block is none)."""
    return re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), re.M)


def test_the_slug_is_githubs():
    assert _slug("λ = 300, 10³ and 10⁴: `a` & b – c") == "λ--300-10-and-10-a--b--c"
    assert _slug("Analyses: `hyperzoo report`") == "analyses-hyperzoo-report"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_lead_to_files_and_headings_that_exist(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if re.match(r"(https?|mailto):", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: link to missing {link}"
        if anchor:
            assert anchor in {_slug(h) for h in _headings(target.read_text())}, \
                f"{page.name}: no heading for #{anchor} in {target.name}"
