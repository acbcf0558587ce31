"""nbgrader configuration of the course's assignments (run nbgrader from this folder).

Introduced with the assignments. Every path is relative to this file, so the
course folder works wherever the repository is cloned (and in the temporary
copies the tests grade in). See docs/instructors.md for the commands.
"""

import os
import sys

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "wide-deep-course"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
# A local exchange (git-ignored), for `nbgrader release_assignment/collect`
# on a shared machine; nothing is written to /srv/nbgrader.
c.Exchange.root = os.path.join(ROOT, "exchange")

# nbgrader starts kernels and helper commands by name: put this environment's
# bin/ first on PATH so they come from the course venv, not the system.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

# The kernel of the current environment (nbgrader is run from the venv)...
c.ExecutePreprocessor.kernel_name = "python3"
c.Execute.kernel_name = "python3"
# ...run, on Linux, inside the bubblewrap grading sandbox: student code sees
# only its own folder, the library and the course data, read-only; not
# source/, not gradebook.db, no network (course_lib.grading; on macOS and
# Windows this prints a loud warning instead, see docs/instructors.md).
# COURSE_GRADING_SANDBOX=0 turns it off, =1 makes a missing bwrap an error.
from course_lib.grading import configure_nbgrader  # noqa: E402

configure_nbgrader(c)
# Grading decisions are made outside the student's kernel (issue 21): the
# notebook runs there, but each graded test cell is decided by the trusted
# check of graders/<assignment>.py, run in this process on data the kernel
# returns (course_lib.autograde). Everything else is nbgrader's own pipeline.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades,
)

from course_lib.autograde import TrustedExecute  # noqa: E402

# nbgrader's default pipeline with Execute replaced (tests/test_assignments.py checks it).
c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.TrustedExecute.graders_dir = os.path.join(ROOT, "graders")
# TensorFlow's first import and the training cells take far longer than
# nbgrader's default 30 s per cell. Override per run with --Execute.timeout=N.
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300

# Keep a student's runaway print from bloating the gradebook and feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows the student's graded notebook, but not the hidden tests'
# code (a failing hidden check still shows its plain-language message).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# The stub a released solution region becomes (nbgrader's default, stated here).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
