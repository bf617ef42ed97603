# The two commands: `make demo` and `make test`. Both set up .venv first (`make install`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp

.PHONY: install demo test lint bench clean system-deps

install: $(STAMP) system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "make install: updating $(VENV) from pyproject.toml" >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2
	@$(BIN)/python -m pip install --quiet -e '.[local,test]' >&2
	@touch $(STAMP)

# Debian packages the tests use: docker-compose validates docker-compose.yml (no engine needed),
# chromium runs the browser tests (driven by Playwright; never `playwright install`), with a
# colour-emoji font for the emoji that customers' words hold (the dashboard's own indicators
# need none: tests/test_web_indicators.py checks them with the emoji font left out).
APT_PACKAGES := docker-compose chromium fonts-noto-color-emoji
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

system-deps:
	@missing=""; \
	command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -f $(EMOJI_FONT) || missing="$$missing fonts-noto-color-emoji"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$missing >/dev/null 2>&1)) || \
	    echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else echo "note:$$missing not installed (needs root and apt-get); those tests will skip"; fi; \
	fi

demo: install
	$(BIN)/python -m localstack.demo

# The benchmark suite (issue 6): one JSON document on stdout, progress on stderr; about 13
# minutes on two cores. BENCH_ARGS=--smoke runs every figure at a tiny size.
bench: install
	@$(BIN)/python -m bench $(BENCH_ARGS)

# Lint: ruff's rules and its formatting, and mypy (strict) over escalation/, workflows/ and
# activities/ (the files are listed in pyproject.toml [tool.mypy]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

test: install lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .state .pytest_cache .ruff_cache *.egg-info
