# The course's commands. Windows without make: see README ("Windows").
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.course-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg --nbval-cell-timeout=900
# Paths strict nbval runs over (executed solutions, never release/).
NBVAL_PATHS := notebooks $(wildcard assignments/source)

.PHONY: install data lab course notebooks test test-fast unit nbval nbval3 bench release student grade clean help

help:
	@echo "make lab        set up .venv, fetch MovieLens, open JupyterLab on notebooks/"
	@echo "make test       set up, then unit tests + strict nbval over every notebook"
	@echo "make test-fast  the fast tier: tests not marked slow (no notebooks, browser, nbgrader)"
	@echo "make course     execute every notebook headless into build/ (HTML copies)"
	@echo "make notebooks  re-execute the notebooks in place (refresh stored outputs)"
	@echo "make bench      run benchmarks/ and write benchmarks/results.json, RESULTS.md"
	@echo "make release    regenerate the nbgrader student versions (assignments/release)"
	@echo "make student DEST=dir  write the learner copy (no solutions, hidden tests or rubric)"
	@echo "make grade A=a01_crosses  autograde submissions in the grading sandbox"

# The venv is rebuilt only when the pins change.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v=sys.version_info[:2]; sys.exit(0 if (3,11)<=v<=(3,13) else "Python 3.11, 3.12 or 3.13 is needed (found %d.%d); run: make PYTHON=python3.13 ..." % v)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

data: install
	$(PY) -m course_lib fetch

# Trusting the course's own notebooks lets JupyterLab render their stored
# widget views. As root (classroom Docker images) JupyterLab refuses to start
# unless told: we pass --allow-root and say so.
LAB_FLAGS := $(shell [ "$$(id -u 2>/dev/null)" = 0 ] && echo --allow-root)

lab: data
	$(BIN)/jupyter trust $(NOTEBOOKS)
	@if [ -n "$(LAB_FLAGS)" ]; then echo "Running as root (e.g. in a container): starting JupyterLab with --allow-root."; \
	  echo "On a shared machine, prefer a normal user account."; fi
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/

course: data
	mkdir -p build
	$(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=900 --output-dir build $(NOTEBOOKS)

notebooks: data
	$(PY) -m course_lib execute $(NOTEBOOKS)

# The maintainer's inner loop: tests not marked slow (no notebooks, browser,
# nbgrader, kernels, workers or exercise solutions); a few minutes.
test-fast: data
	$(PY) -m pytest tests -m "not slow"

# Every test of tests/, slow ones included, but not the notebooks (nbval).
unit: data
	$(PY) -m pytest tests

nbval: data
	$(PY) -m pytest $(NBVAL) $(NBVAL_PATHS)

# --durations: the slowest tests and notebooks at the end, to keep the 20-minute budget in sight.
test: data
	$(PY) -m pytest tests $(NBVAL) $(NBVAL_PATHS) --durations=20

# Strict nbval three runs in a row (the determinism check before committing).
nbval3: data
	for i in 1 2 3; do $(PY) -m pytest -q $(NBVAL) $(NBVAL_PATHS) || exit 1; done

bench: data
	$(PY) -m benchmarks.run

# Regenerate the nbgrader student versions from assignments/source.
ASSIGNMENTS := a01_crosses a02_embeddings a03_wide_and_deep
release: install
	cd assignments && for a in $(ASSIGNMENTS); do PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment $$a --force || exit 1; done

# The course as learners receive it: release/ versions only; no
# assignments/source, gradebook, hidden tests or mark scheme.
student: install
	@test -n "$(DEST)" || { echo "usage: make student DEST=/path/to/learner-copy"; exit 2; }
	$(PY) -m course_lib.grading student "$(DEST)"

# Autograde every submission of assignment A (in the bubblewrap sandbox on Linux).
grade: install
	@test -n "$(A)" || { echo "usage: make grade A=a01_crosses"; exit 2; }
	cd assignments && PATH="$(abspath $(BIN)):$$PATH" COURSE_GRADING_SANDBOX=$${COURSE_GRADING_SANDBOX:-1} \
		$(abspath $(BIN))/nbgrader autograde $(A)

clean:
	rm -rf build test-artifacts
