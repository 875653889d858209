"""The public surface: ``dir(rillet)`` against a checked-in list, and the README.

After adding or removing public names, regenerate ``tests/public_api.txt`` and the README's op
list (then review the diff) with::

    .venv/bin/python -m tests.test_public_api --write
"""

import doctest
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import rillet as rl

ROOT = Path(__file__).resolve().parents[1]
API_FILE = Path(__file__).with_name("public_api.txt")
README = ROOT / "README.md"
OPS_BEGIN = "<!-- ops:begin"
OPS_END = "<!-- ops:end -->"


@functools.cache
def public_names() -> list[str]:
    """Public names right after ``import rillet``, in a fresh interpreter: in this process,
    test modules import more submodules (``rillet.testing``), which would show up in ``dir``."""
    code = "import rillet; print('\\n'.join(n for n in dir(rillet) if not n.startswith('_')))"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    return sorted(result.stdout.split())


def listed_names() -> list[str]:
    lines = API_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_public_names_match_the_checked_in_list():
    public, listed = set(public_names()), set(listed_names())
    assert {"Tensor", "GradientTape", "add", "asarray"} <= public
    unlisted, missing = sorted(public - listed), sorted(listed - public)
    assert not unlisted and not missing, (
        f"rl names not in tests/public_api.txt: {unlisted}; "
        f"listed but missing from rl: {missing}. If intended, run "
        "`.venv/bin/python -m tests.test_public_api --write` and review the diff."
    )


def test_checked_in_list_is_sorted_without_duplicates():
    listed = listed_names()
    assert listed == sorted(set(listed))


def test_every_op_family_name_is_public():
    names = rl.ops.__all__
    assert len(names) == len(set(names)), "an op is exported by two families"
    assert [n for n in names if not hasattr(rl, n)] == []


# ---- README ----------------------------------------------------------------------------------


def _readme() -> str:
    return README.read_text()


def _ops_section() -> str:
    text = _readme()
    start, end = text.index(OPS_BEGIN), text.index(OPS_END)
    return text[start:end]


def test_readme_starts_with_the_setup_commands():
    top = "\n".join(_readme().splitlines()[:25])
    assert "make demo" in top and "make test" in top


def test_readme_example_runs():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(_readme(), {}, "README.md", str(README), 0)
    assert len(test.examples) >= 10, "the README should show a runnable example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=sys.stdout.write)
    assert runner.failures == 0, f"{runner.failures} README example(s) failed (output above)"


def test_every_public_op_appears_in_the_readme():
    section = _ops_section()
    missing = [name for name in rl.ops.__all__ if f"`{name}`" not in section]
    assert not missing, f"ops missing from the README's op list: {missing}"


def test_readme_op_list_is_the_generated_one():
    assert _ops_section() == render_ops_section(), (
        "the README's op list is out of date: run `.venv/bin/python -m tests.test_public_api "
        "--write` and review the diff"
    )


def test_readme_op_list_names_only_real_functions():
    listed = re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", _ops_section())
    unknown = [name for name in listed if not _resolves(name)]
    assert not unknown, f"the README lists names rillet does not have: {unknown}"


def _resolves(dotted: str) -> bool:
    obj = rl
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


# ---- regeneration --------------------------------------------------------------------------


def _first_sentence(module) -> str:
    """A module docstring's first sentence, on one line, without reST markup."""
    paragraph = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
    sentence = paragraph.split(". ")[0].rstrip(".")
    return sentence.replace("``", "").replace("*", "\\*").replace("|", "\\|")


def render_ops_section() -> str:
    """The README's op list, from each family's ``__all__`` and ``rl.random``."""
    rows = ["| family | what | ops |", "|---|---|---|"]
    for family in rl.ops.families():
        if family.__all__:
            short = family.__name__.rsplit(".", 1)[-1]
            names = ", ".join(f"`{n}`" for n in family.__all__)
            rows.append(f"| {short} | {_first_sentence(family)} | {names} |")
    extra = [n for n in getattr(rl.random, "__all__", []) if callable(getattr(rl.random, n))]
    if extra:
        names = ", ".join(f"`random.{n}`" for n in extra)
        rows.append(f"| rl.random | {_first_sentence(rl.random)} | {names} |")
    note = "(generated by `python -m tests.test_public_api --write`; edit the families, not this)"
    return f"{OPS_BEGIN} {note} -->\n" + "\n".join(rows) + "\n"


def write() -> None:
    """Rewrite tests/public_api.txt and the README's op list from the live package."""
    header = "# Public names of `import rillet as rl` (see tests/test_public_api.py).\n"
    API_FILE.write_text(header + "\n".join(public_names()) + "\n")
    text = _readme()
    start, end = text.index(OPS_BEGIN), text.index(OPS_END)
    README.write_text(text[:start] + render_ops_section() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_public_api --write")
    write()
    print(f"wrote {API_FILE.relative_to(ROOT)} and the op list in README.md")
