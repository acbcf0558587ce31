"""Instructor side of the assignments: a sandboxed grading kernel and the learner copy.

Introduced with the assignments (``assignments/``, nbgrader; see
docs/instructors.md). Three jobs (the grades themselves are decided by the
trusted grader, ``course_lib.autograde``):

- **Sandbox.** ``nbgrader autograde`` runs each student's notebook as the
  instructor. On Linux the course's grading kernel (``course-sandbox``) runs
  the notebook inside bubblewrap: a fresh root that holds only the
  interpreter, the course library, the course data (read-only) and the
  submission's own folder (read-only), a private ``/tmp``, no network
  namespace shared with the host and resource limits; of ``course_lib`` it
  can import only ``SANDBOX_MODULES`` (the reference models are stubs that
  raise ImportError). The kernel talks to
  nbgrader over ZeroMQ *ipc* (unix sockets in a per-run folder), because a
  kernel in its own network namespace cannot reach the host's loopback.
  ``configure_nbgrader`` wires this in from ``assignments/nbgrader_config.py``;
  where bubblewrap is missing it warns loudly that grading is unsandboxed.
- **Learner copy.** ``write_student_copy`` writes the course as learners get it:
  the git-tracked files minus the instructor-only ones (``STUDENT_EXCLUDE``).
- **Rubric figures.** ``rubric_figures`` / ``stored_figure`` (and
  ``rubric_verdicts`` / ``stored_verdict``) let a test check that the
  figures and verdicts the mark scheme quotes are the ones the lessons print.

Command line: ``python -m course_lib.grading kernel CONNECTION_FILE`` (the
kernelspec's argv) and ``python -m course_lib.grading student DEST``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

#: Name of the sandboxed kernelspec nbgrader's autograde uses.
SANDBOX_KERNEL = "course-sandbox"

#: Limits of one grading kernel (override with these environment variables).
MEMORY_MB = int(os.environ.get("COURSE_GRADING_MEMORY_MB", "8192"))      # address space
CPU_SECONDS = int(os.environ.get("COURSE_GRADING_CPU_S", "1800"))        # CPU time of the kernel
FILE_MB = int(os.environ.get("COURSE_GRADING_FILE_MB", "256"))           # largest file it may write
TMP_MB = int(os.environ.get("COURSE_GRADING_TMP_MB", "512"))             # its private /tmp

#: Environment passed into the sandbox (everything else is cleared: tokens,
#: cloud credentials and paths of the instructor's shell stay outside).
PASS_ENV = ("LANG", "LC_ALL", "TZ", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
            "PYTHONHASHSEED", "OMP_NUM_THREADS")

#: /etc files a Python process needs (not the whole /etc: no shadow, no keys).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "passwd", "group", "nsswitch.conf", "fonts",
             "ssl/certs", "mime.types")

#: The only course_lib modules the grading kernel can import: what the assignments
#: give (setup, column names, checks, toy data, metrics) and the answer format.
#: Every other module (models, explain, features, train...) holds reference
#: versions of what the assignments ask for; inside the sandbox it is replaced
#: by a module that raises ImportError (course_lib.autograde also rejects a
#: submission whose source names one).
SANDBOX_MODULES = ("__init__", "runtime", "columns", "checks", "toys", "metrics", "answers")

_STUB = ('raise ImportError(__name__ + " cannot be imported while grading: an assignment is graded on your own '
         'code (keras, keras.ops, numpy); course_lib.checks, .metrics and .columns remain available.")\n')

#: Paths of the repository a learner must not receive (instructor-only).
STUDENT_EXCLUDE = (
    "assignments/source/",          # solutions, hidden tests, the mark scheme
    "assignments/gradebook.db",
    "assignments/submitted/", "assignments/autograded/", "assignments/feedback/",
    "assignments/exchange/",
    "tests/test_assignments.py",    # re-creates hidden tests' logic and the mark scheme checks
    "tests/test_autograder",        # the wrong-answer suite (prefix: file and folder)
    "tests/wrong_answers/",
    "assignments/graders/",         # the trusted checks (hidden inputs and expected values)
    "docs/instructors.md",
)


# ------------------------------------------------------------------ sandbox ---

def sandbox_available() -> bool:
    """Whether bubblewrap can build a sandbox on this machine (Linux only)."""
    if platform.system() != "Linux" or shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def _course_lib_dir() -> Path:
    return Path(__file__).resolve().parent


def _data_dir() -> Path | None:
    from course_lib.data import cache_dir

    try:
        path = Path(cache_dir()).resolve()
    except Exception:  # noqa: BLE001  (no data folder: grading needs none)
        return None
    return path if path.is_dir() else None


def _reference_stub(runtime_dir: Path) -> Path:
    stub = runtime_dir / "reference_module_stub.py"
    if not stub.exists():
        stub.write_text(_STUB, encoding="utf-8")
    return stub


def sandbox_command(argv: list[str], workdir: str | os.PathLike, runtime_dir: str | os.PathLike,
                    connection_file: str | os.PathLike | None = None) -> list[str]:
    """The bubblewrap command that runs ``argv`` in the grading sandbox.

    Args:
        argv: The command to run inside (the kernel).
        workdir: The submission's folder: read-only, the working directory.
        runtime_dir: The folder of the kernel's ipc sockets: the one
            writable host folder (a per-run folder of configure_nbgrader).
        connection_file: The kernel's connection file (bound read-only).

    Returns:
        The full ``bwrap ...`` argument list.
    """
    workdir, runtime_dir = Path(workdir).resolve(), Path(runtime_dir).resolve()
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL",
           "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
           "--size", str(TMP_MB << 20), "--tmpfs", "/tmp"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        target = Path("/") / link
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            cmd += ["--ro-bind", str(path), str(path)]
    # The interpreter (a venv and the Python it points to) and the library.
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for prefix in sorted(prefixes):
        if not str(prefix).startswith("/usr/"):
            cmd += ["--ro-bind", str(prefix), str(prefix)]
    library = _course_lib_dir()
    cmd += ["--ro-bind", str(library), str(library)]
    # Reference modules read as a stub that raises ImportError; no bytecode cache to load them from.
    stub = _reference_stub(runtime_dir)
    for module in sorted(library.glob("*.py")):
        if module.stem not in SANDBOX_MODULES:
            cmd += ["--ro-bind", str(stub), str(module)]
    # Made if missing: a cache written later on the host would show through the bind.
    with contextlib.suppress(OSError):
        (library / "__pycache__").mkdir(exist_ok=True)
    if (library / "__pycache__").is_dir():
        cmd += ["--tmpfs", str(library / "__pycache__")]
    data = _data_dir()
    if data is not None:
        cmd += ["--ro-bind", str(data), str(data)]
    cmd += ["--ro-bind", str(workdir), str(workdir),
            "--bind", str(runtime_dir), str(runtime_dir),
            "--chdir", str(workdir), "--clearenv",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
            "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "--setenv", "PYTHONPATH", str(library.parent),
            "--setenv", "JUPYTER_RUNTIME_DIR", str(runtime_dir),
            "--setenv", "COURSE_SANDBOXED", "1",
            # "No parent to poll" for ipykernel (--die-with-parent does that job);
            # it also stops its "Ctrl-C will not work" banner on every start.
            "--setenv", "JPY_PARENT_PID", "1"]
    if connection_file is not None:
        cmd += ["--ro-bind", str(connection_file), str(connection_file)]
    if data is not None:
        cmd += ["--setenv", "COURSE_DATA_DIR", str(data)]
    for key in PASS_ENV:
        if key in os.environ:
            cmd += ["--setenv", key, os.environ[key]]
    return cmd + ["--", *argv]


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def launch_kernel(connection_file: str) -> None:
    """Replace this process with an ipykernel inside the sandbox (the kernelspec's argv)."""
    connection_file = str(Path(connection_file).resolve())
    with open(connection_file, encoding="utf-8") as fh:
        info = json.load(fh)
    transport = info.get("transport")
    if transport != "ipc" or not os.path.isabs(info.get("ip", "")):
        sys.exit(f"{SANDBOX_KERNEL}: the connection file uses {transport!r}; the sandbox needs "
                 "transport 'ipc' with an absolute socket path (c.KernelManager.transport = 'ipc' and "
                 "c.KernelManager.ip = '<runtime dir>/kernel', as "
                 "course_lib.grading.configure_nbgrader does).")
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
    # nbclient writes the connection file where it likes (often /tmp): the
    # sandbox gets that one file read-only, and the sockets' folder writable.
    runtime_dir = os.path.dirname(info["ip"])
    cmd = sandbox_command(argv, os.getcwd(), runtime_dir, connection_file)
    _limit(resource.RLIMIT_AS, MEMORY_MB << 20)
    _limit(resource.RLIMIT_CPU, CPU_SECONDS)
    _limit(resource.RLIMIT_FSIZE, FILE_MB << 20)
    _limit(resource.RLIMIT_CORE, 0)
    os.execvp(cmd[0], cmd)


def write_kernelspec(jupyter_dir: str | os.PathLike) -> Path:
    """Write the ``course-sandbox`` kernelspec under ``<jupyter_dir>/kernels/``."""
    folder = Path(jupyter_dir) / "kernels" / SANDBOX_KERNEL
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "course_lib.grading", "kernel", "{connection_file}"],
            "display_name": "Python 3 (grading sandbox)", "language": "python",
            "interrupt_mode": "message", "metadata": {"debugger": False}}
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder


UNSANDBOXED_WARNING = """
************************************************************************
  GRADING IS NOT SANDBOXED: {why}
  Student code will run as you, with read access to assignments/source
  (solutions, hidden tests), write access to gradebook.db and the network.
  Grade on Linux with bubblewrap (apt-get install bubblewrap), or in the
  container described in docs/instructors.md ("Grading safely").
************************************************************************
"""


def configure_nbgrader(c, sandbox: bool | None = None) -> str:
    """Point nbgrader's autograde at the sandboxed kernel (call from nbgrader_config.py).

    Args:
        c: The traitlets config object of nbgrader_config.py.
        sandbox: Force the choice; ``None`` means ``COURSE_GRADING_SANDBOX``
            ("0" turns it off) or, unset, "use it where bubblewrap works".

    Returns:
        The kernel name autograde will use.
    """
    if sandbox is None:
        flag = os.environ.get("COURSE_GRADING_SANDBOX")
        sandbox = sandbox_available() if flag is None else flag not in ("0", "false", "no")
    if sandbox and not sandbox_available():
        raise RuntimeError("COURSE_GRADING_SANDBOX asks for the grading sandbox, but bubblewrap does not "
                           "work here. Install it (Debian/Ubuntu: apt-get install bubblewrap).")
    if not sandbox:
        why = ("bubblewrap is Linux-only" if platform.system() != "Linux"
               else "bubblewrap (bwrap) is missing or cannot create namespaces here")
        if os.environ.get("COURSE_GRADING_SANDBOX") in ("0", "false", "no"):
            why = "COURSE_GRADING_SANDBOX=0"
        message = UNSANDBOXED_WARNING.format(why=why)
        print(message, file=sys.stderr)
        warnings.warn(message.strip(), RuntimeWarning, stacklevel=2)
        return "python3"
    base = Path(tempfile.mkdtemp(prefix="course-grading-"))
    write_kernelspec(base)
    runtime = base / "runtime"
    runtime.mkdir(mode=0o700)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(base), os.environ.get("JUPYTER_PATH")]))
    # Only this run's connection files and sockets live here (not the
    # instructor's Jupyter server files), and it is all the kernel can write.
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
    import atexit

    atexit.register(shutil.rmtree, base, ignore_errors=True)
    c.KernelManager.transport = "ipc"
    # An absolute socket prefix: the default ("kernel-ipc") is relative to
    # the working directory, which is the read-only submission folder.
    c.KernelManager.ip = str(runtime / "kernel")
    c.ExecutePreprocessor.kernel_name = SANDBOX_KERNEL
    c.Execute.kernel_name = SANDBOX_KERNEL
    return SANDBOX_KERNEL


# ------------------------------------------------------------ learner copy ---

def _tracked_files(repo: Path) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=repo, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"{repo} is not a git checkout (git ls-files failed: {exc}); the learner "
                           "copy is built from the repository's files. Run it from a clone.") from exc
    return sorted(p for p in out.stdout.decode().split("\0") if p)


def is_instructor_only(path: str) -> bool:
    """Whether a repository path must stay out of the learner copy."""
    return any(path == rule or path.startswith(rule) for rule in STUDENT_EXCLUDE)


def write_student_copy(dest: str | os.PathLike, repo: str | os.PathLike | None = None) -> list[str]:
    """Write the course as learners receive it into ``dest`` (which must not exist or be empty).

    The copy holds every file git knows (tracked, or new and not ignored)
    except ``STUDENT_EXCLUDE``: the lessons, the library, the data README and
    the released assignments, never ``assignments/source`` or grading state.

    Args:
        dest: Target folder.
        repo: The course repository (default: the one holding this library).

    Returns:
        The relative paths written.
    """
    repo = Path(repo) if repo else _course_lib_dir().parent
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty; give an empty or new folder as DEST.")
    if dest.resolve().is_relative_to(repo.resolve()):
        raise ValueError(f"DEST={dest} lies inside the course repository; choose a folder outside it.")
    files = [p for p in _tracked_files(repo) if not is_instructor_only(p) and (repo / p).is_file()]
    staging = Path(tempfile.mkdtemp(prefix=".student-", dir=dest.parent if dest.parent.exists() else None))
    for rel in files:
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    if dest.exists():
        dest.rmdir()
    staging.rename(dest)  # atomic: a half-written copy never sits at DEST
    return files


# ----------------------------------------------------------- rubric figures ---

FIGURE_ROW = re.compile(r"^\|\s*`(?P<key>[^`]+)`\s*\|\s*(?P<notebook>[\w./-]+\.ipynb)\s*\|\s*(?P<value>[+-]?\d+\.\d+)\s*\|",
                        re.M)
#: A verdict row of the table: ``| `key` | notebook | better / worse / not distinguishable |``.
VERDICT_ROW = re.compile(r"^\|\s*`(?P<key>[^`]+)`\s*\|\s*(?P<notebook>[\w./-]+\.ipynb)\s*\|\s*"
                         r"(?P<value>better|worse|not distinguishable)\s*\|", re.M)
#: A number in a printed line (``key #n`` counts these, integers included).
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
#: A figure as the rubric quotes it (decimals only).
FIGURE = re.compile(r"[+-]?\d+\.\d+")
#: The verdicts of course_lib.compare, as a printed Verdict ends.
VERDICTS = ("not distinguishable", "better", "worse")


def rubric_figures(text: str) -> list[dict]:
    """The figure table of a mark scheme: rows ``| `key` | notebook | value |``.

    A key is the start of a line the notebook prints; ``key #n`` means the
    n-th number after it (default the first); ``head >> key`` means the first
    line starting with ``key`` after a line starting with ``head`` (for a
    comparison printed over several lines).
    """
    return [m.groupdict() for m in FIGURE_ROW.finditer(text)]


def rubric_verdicts(text: str) -> list[dict]:
    """The verdict rows of a mark scheme's table: ``| `key` | notebook | verdict |`` (keys as in figures)."""
    return [m.groupdict() for m in VERDICT_ROW.finditer(text)]


def _output_lines(notebook: dict) -> list[str]:
    lines = []
    for cell in notebook["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            lines += ("".join(text) if isinstance(text, list) else text).splitlines()
    return lines


def _stored_rest(notebook_path: str | os.PathLike, label: str, numbers_needed: int = 0) -> str | None:
    """What follows the key on the first stored output line it names (with enough numbers), or None."""
    *heads, last = label.split(" >> ")
    with open(notebook_path, encoding="utf-8") as fh:
        lines = [line.strip() for line in _output_lines(json.load(fh))]
    start = 0
    for head in heads:
        start = next((i + 1 for i in range(start, len(lines)) if lines[i].startswith(head)), None)
        if start is None:
            return None
    for line in lines[start:]:
        if line.startswith(last) and len(NUMBER.findall(line[len(last):])) >= numbers_needed:
            return line[len(last):]
    return None


def stored_figure(notebook_path: str | os.PathLike, key: str) -> str:
    """The figure ``key`` names in the stored outputs of a notebook, as printed.

    Raises:
        KeyError: No output line starts with the key, or it has too few numbers.
    """
    label, _, nth = key.partition(" #")
    nth = int(nth) if nth else 1
    rest = _stored_rest(notebook_path, label, nth)
    if rest is None:
        raise KeyError(f"no stored output line of {notebook_path} starts with {label!r} and has {nth} number(s) "
                       "after it; re-run the lesson or update the key in the mark scheme's figure table.")
    return NUMBER.findall(rest)[nth - 1]


def stored_verdict(notebook_path: str | os.PathLike, key: str) -> str:
    """The verdict (``course_lib.compare``: better / worse / not distinguishable) on the line ``key`` names.

    Raises:
        KeyError: No output line starts with the key, or it prints no verdict.
    """
    label = key.partition(" #")[0]
    rest = _stored_rest(notebook_path, label)
    found = [v for v in VERDICTS if rest is not None and v in rest]
    if not found:
        raise KeyError(f"no stored output line of {notebook_path} starts with {label!r} and prints a verdict; "
                       "re-run the lesson or update the key in the mark scheme's table.")
    return found[0]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "kernel":
        launch_kernel(argv[1])
    elif len(argv) == 2 and argv[0] == "student":
        files = write_student_copy(argv[1])
        print(f"wrote the learner copy ({len(files)} files) to {argv[1]}")
    else:
        sys.exit("usage: python -m course_lib.grading kernel CONNECTION_FILE | student DEST")


if __name__ == "__main__":
    main()
