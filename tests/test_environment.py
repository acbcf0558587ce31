"""The pins in pyproject.toml, environment.yml and the installed venv agree.

Notebooks are committed executed and compared by strict nbval, so learners
(pip or conda) and CI must run the same versions.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _norm(name: str) -> str:
    """PEP 503 normalisation: case and ``-_.`` runs do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_pins(specs: list[str], where: str) -> dict[str, str]:
    pins = {}
    for spec in specs:
        m = PIN.match(spec)
        assert m, f"{where}: {spec!r} is not pinned with '=='; pin an exact version"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def pyproject_pins() -> dict[str, str]:
    project = _pyproject()["project"]
    specs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        specs += group
    return _parse_pins(specs, "pyproject.toml")


def environment_pip_list(text: str) -> list[str]:
    """The entries under ``- pip:`` in an environment.yml (tolerant line parser, no YAML library)."""
    entries, pip_indent = [], None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        if pip_indent is None:
            if re.fullmatch(r"-\s*pip\s*:", item):
                pip_indent = indent
            continue
        if indent <= pip_indent:
            break  # the pip block ended
        if item.startswith("-"):
            entries.append(item[1:].strip().strip("'\""))
    return entries


def environment_pins() -> dict[str, str]:
    entries = environment_pip_list((REPO / "environment.yml").read_text(encoding="utf-8"))
    assert entries, "environment.yml has no '- pip:' list"
    # "-e ." installs course_lib itself; everything else must be a pin.
    specs = [e for e in entries if not e.startswith("-e")]
    return _parse_pins(specs, "environment.yml")


def test_line_parser_reads_a_pip_block():
    text = (
        "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
        "      - Foo_Bar==1.0  # c\n      - -e .\nother: 1\n"
    )
    assert environment_pip_list(text) == ["Foo_Bar==1.0", "-e ."]


def test_pyproject_and_environment_yml_pin_the_same_versions():
    py, env = pyproject_pins(), environment_pins()
    only_py = sorted(set(py) - set(env))
    only_env = sorted(set(env) - set(py))
    assert not only_py and not only_env, (
        f"package lists differ: only in pyproject.toml {only_py}, only in environment.yml {only_env}"
    )
    differ = {n: (py[n], env[n]) for n in py if py[n] != env[n]}
    assert not differ, f"versions differ (pyproject, environment.yml): {differ}"


def test_environment_yml_installs_course_lib():
    text = (REPO / "environment.yml").read_text(encoding="utf-8")
    assert "-e ." in environment_pip_list(text)


@pytest.mark.parametrize("name,version", sorted(pyproject_pins().items()))
def test_installed_version_matches_pin(name, version):
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name} is pinned but not installed; run: pip install -e '.[dev]'")
    assert installed == version, f"{name}: installed {installed}, pinned {version}; run: pip install -e '.[dev]'"


def _python_allowed(version: tuple[int, int, int], spec: str | None = None) -> bool:
    """Whether ``version`` satisfies a ``>=3.11,<3.14``-style specifier (default: requires-python)."""
    spec = _pyproject()["project"]["requires-python"] if spec is None else spec
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for clause in spec.split(","):
        m = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*", clause)
        assert m, f"cannot read requires-python clause {clause!r}"
        bound = tuple(int(x) for x in m.group(2).split("."))
        bound = bound + (0,) * (3 - len(bound))
        if not ops[m.group(1)](version, bound):
            return False
    return True


def test_requires_python_covers_this_interpreter():
    assert _python_allowed(tuple(sys.version_info[:3])), (
        f"Python {sys.version.split()[0]} is outside requires-python "
        f"{_pyproject()['project']['requires-python']}"
    )


#: Minor versions any of the course's Python ranges could plausibly name.
CANDIDATE_MINORS = [(3, m) for m in range(8, 20)]


def supported_minors(spec: str | None = None) -> list[tuple[int, int]]:
    """The 3.x minor versions a specifier admits (x.y.0 as the probe)."""
    return [v for v in CANDIDATE_MINORS if _python_allowed((*v, 0), spec)]


def test_supported_pythons_are_311_to_313():
    # TF 2.21 ships cp311-cp313 wheels; Python 3.13 is the default of Debian 13,
    # Fedora and Homebrew, so the course installs there.
    assert supported_minors() == [(3, 11), (3, 12), (3, 13)]


def test_environment_yml_python_equals_requires_python():
    text = (REPO / "environment.yml").read_text(encoding="utf-8")
    m = re.search(r"^\s*-\s*python\s*([<>=!][^#\n]*)$", text, re.M)
    assert m, "environment.yml does not constrain python (e.g. `- python>=3.11,<3.14`)"
    spec = m.group(1).strip()
    if re.fullmatch(r"=\d+\.\d+", spec):  # conda's "python=3.11" means 3.11.*
        major, minor = map(int, spec[1:].split("."))
        allowed = [(major, minor)]
    else:
        allowed = supported_minors(spec)
    assert allowed == supported_minors(), (
        f"environment.yml allows Python {allowed}, pyproject.toml's requires-python {supported_minors()}"
    )


def test_makefile_python_check_equals_requires_python():
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    m = re.search(r"\((\d+),(\d+)\)\s*<=\s*v\s*<=\s*\((\d+),(\d+)\)", text)
    assert m, "the Makefile's Python version check ((3,11)<=v<=(3,13)) is missing"
    low, high = (int(m.group(1)), int(m.group(2))), (int(m.group(3)), int(m.group(4)))
    assert [v for v in CANDIDATE_MINORS if low <= v <= high] == supported_minors()
    # The message that check prints names every supported version (however it is worded).
    message = next(line for line in text.splitlines() if m.group(0) in line)
    assert all(f"{a}.{b}" in message for a, b in supported_minors()), message


def test_readme_states_the_supported_pythons():
    """Every supported version is named, and no other candidate is offered as "Python 3.x"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    named = {tuple(map(int, v.split("."))) for v in re.findall(r"Python (3\.\d+)", text)}
    assert all(f"3.{b}" in text for _, b in supported_minors()), "README.md should name every supported Python"
    assert named <= set(supported_minors()), f"README.md offers unsupported Pythons: {named - set(supported_minors())}"


def test_license_is_an_spdx_string():
    build = _pyproject()["build-system"]["requires"]
    # The SPDX string form of `license` (PEP 639) needs setuptools 77 or newer.
    assert any(re.fullmatch(r"setuptools\s*>=\s*(\d+).*", r) and int(re.match(r"setuptools\s*>=\s*(\d+)", r)
               .group(1)) >= 77 for r in build), f"build requires {build}: needs setuptools>=77"
    assert isinstance(_pyproject()["project"]["license"], str), "license must be an SPDX string, e.g. \"MIT\""


def test_make_lab_trusts_the_lessons_and_says_how_it_runs_as_root(tmp_path):
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make here (Windows: see the README)")
    # -n prints the recipe without running it; a fake venv path keeps the real one untouched.
    out = subprocess.run(["make", "-n", "lab", f"VENV={tmp_path / 'venv'}"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    lessons = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    trust = next(line for line in out.splitlines() if "jupyter trust" in line)
    assert all(f"notebooks/{name}" in trust for name in lessons), trust
    lab = next(line for line in out.splitlines() if "jupyter lab" in line)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    assert ("--allow-root" in lab) == is_root, lab
    if is_root:
        assert "Running as root" in out
