"""README.md must not drift from the code: every option, exit code and the CI command."""

from __future__ import annotations

import ast
import io
import re
import tokenize
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


# -- every path named in a docstring, a comment or README exists -------------------------------

# A path of the repository as prose names it: `crawler/fetch/http.py`, `tests/routes.py`,
# `benchmarks/`, or a bare module name such as `netguard.py` (then some file has that name).
_TOP = ("crawler", "tests", "benchmarks", "seeds", ".ci")
_TOPS = "|".join(map(re.escape, _TOP))
_PATH = re.compile(rf"(?<![\w./-])((?:{_TOPS})/[\w./-]*|[\w-]+\.py)(?![\w/-])")


def _prose(path: Path) -> list[str]:
    """The docstrings and comments of a Python file."""
    source = path.read_text(encoding="utf-8")
    texts = [
        ast.get_docstring(node, clean=False) or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    texts += [tok.string for tok in tokens if tok.type == tokenize.COMMENT]
    return texts


def _named_paths() -> list[tuple[str, str]]:
    """(where, path) for every repository path named in README and the code's prose."""
    found = [("README.md", m) for m in _PATH.findall(README)]
    files = [
        *ROOT.glob("crawler/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("benchmarks/*.py"),
    ]
    for file in files:
        for text in _prose(file):
            found += [(str(file.relative_to(ROOT)), m) for m in _PATH.findall(text)]
    return found


def test_every_path_named_in_a_docstring_or_readme_exists() -> None:
    names = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    missing = []
    for where, named in _named_paths():
        path = named.rstrip(".")
        exists = (ROOT / path).exists() if "/" in path else path in names
        if not exists:
            missing.append(f"{where}: {named}")
    assert not missing, "paths named that do not exist:\n" + "\n".join(sorted(set(missing)))


def test_the_path_check_sees_paths() -> None:
    named = {p for _, p in _named_paths()}
    assert {"crawler/sitegen.py", "tests/routes.py", "netguard.py"} <= named
