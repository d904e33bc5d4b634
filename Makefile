# Set-up and everyday commands. `make demo` and `make test` work on a fresh Debian 12 machine:
# they install what is missing (system packages via apt as root, else they print the apt
# line), create .venv with the pinned dependencies, then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.esak-installed
APT_PACKAGES := tesseract-ocr tesseract-ocr-deu ghostscript fonts-dejavu-core python3-venv

.PHONY: demo test bench lint i18n system browser venv clean

demo: system venv
	$(BIN)/esak demo

test: system browser venv
	$(BIN)/ruff check esak tests benchmarks
	$(BIN)/pytest

bench: system venv
	$(BIN)/python benchmarks/bench_inspect.py
	$(BIN)/python benchmarks/bench_verify.py
	$(BIN)/python benchmarks/bench_barcodes.py
	$(BIN)/python benchmarks/bench_ingest.py --big-batch 500 --only baseline,limit,esak,esak-cli
	$(BIN)/python benchmarks/bench_ingest.py --dpi 200 --workers 2 --only baseline,limit,esak,esak-cli
	$(BIN)/python benchmarks/bench_ingest.py --dpi 200 --duplex 0 --workers 2
	$(BIN)/python benchmarks/bench_ingest.py --duplex 1 --workers 2
	$(BIN)/python benchmarks/bench_scaling.py

lint: venv
	$(BIN)/ruff check esak tests benchmarks

# Debian packages esak needs at run time. python3-venv is only needed where the system
# Python lacks ensurepip (Debian's own python3).
system:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  if [ "$$pkg" = python3-venv ] && $(PYTHON) -c "import ensurepip, venv" 2>/dev/null; then continue; fi; \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "esak needs these Debian packages:$$missing"; \
	    echo "run:  sudo apt-get install -y$$missing   then run make again"; \
	    exit 1; \
	  fi; \
	fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "esak needs Python 3.11 or newer; set PYTHON=python3.11")'

# Chromium renders the HTML report once in the tests. Optional: without it that test is skipped.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (for the HTML report test)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	      || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	          --no-install-recommends chromium) \
	      || echo "chromium could not be installed: the HTML rendering test will be skipped"; \
	  else \
	    echo "chromium is not installed: the HTML rendering test will be skipped"; \
	  fi; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The German catalog: messages extracted from the code (Babel), merged into the .po that
# holds the translations (new ones are then empty: fill them in), compiled to the .mo.
i18n: venv
	$(BIN)/pybabel extract --no-location --sort-output --project esak --copyright-holder esak \
	  -o esak/locale/esak.pot esak
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -w 100 \
	  -i esak/locale/esak.pot -d esak/locale -D esak -l de
	$(BIN)/pybabel compile --statistics -d esak/locale -D esak

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
