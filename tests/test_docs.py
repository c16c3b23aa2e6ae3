"""README.md must not drift from the code: every option, exit code and the CI command."""

from __future__ import annotations

import re
from pathlib import Path

from crawler.cli import build_parser
from crawler.errors import ErrorKind, ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_option_is_documented() -> None:
    options = [
        opt
        for action in build_parser()._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]
    assert options
    missing = [opt for opt in options if f"`{opt}" not in README]
    assert not missing, f"options missing from README.md: {missing}"


def test_every_exit_code_is_documented() -> None:
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", README, re.MULTILINE), code


def test_every_error_kind_is_documented() -> None:
    for kind in ErrorKind:
        assert f"`{kind.value}`" in README, kind


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    after = README.split("<!-- test-command -->", 1)[1].splitlines()
    assert after[1] == "```sh" and "pytest" in after[2]
