# Two commands do all set-up: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check postgres bench clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,server]'
	@touch $(STAMP)

# The window; on a Linux machine with no display (a server, CI) the headless demo instead.
run: install
	@if [ "$$(uname)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY$$QT_QPA_PLATFORM" ]; then \
		echo "No display found: running the headless demo (the window needs a desktop session)."; \
		$(BIN)/huleedu demo; \
	else \
		$(BIN)/huleedu gui; \
	fi

check: install
	$(BIN)/ruff check core app ui tests
	$(BIN)/ruff format --check core app ui tests
	$(BIN)/mypy

# The sync service's tests start their own throwaway PostgreSQL cluster: the server binaries
# (initdb, pg_ctl) are installed here when missing (Debian/Ubuntu package, as root or by sudo).
postgres:
	@.ci/ensure-postgres

test: check postgres
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 tests

bench: install
	$(BIN)/huleedu bench engine

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache

# The bundle a teacher runs without Python (packaging/README.md): dist/huleedu/ (one folder),
# or dist/huleedu-onefile with `make package ONEFILE=1`. `make package-test` starts it and checks it.
.PHONY: package package-test
ONEFILE ?= 0
PACKAGE_STAMP := $(VENV)/.package-installed

$(PACKAGE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,package]'
	@touch $(PACKAGE_STAMP)

package: $(PACKAGE_STAMP)
	HULEEDU_ONEFILE=$(ONEFILE) $(BIN)/pyinstaller packaging/huleedu.spec --noconfirm \
		--distpath dist --workpath build/pyinstaller

package-test: install
	$(BIN)/python packaging/package_test.py $(if $(filter 1,$(ONEFILE)),--bundle dist/huleedu-onefile)
