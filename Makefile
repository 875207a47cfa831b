# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q -e contrib/sst-example-plugin
	touch $(STAMP)

install: $(STAMP)

MODELS := vgg16 lpips-vgg16 dlib68 dlib-mmod selfie-segmentation face-detection-short-range face-landmark

demo: $(STAMP)
	$(BIN)/sst models fetch $(MODELS)
	$(BIN)/sst demo -o demo-out

# The browser test drives Debian's Chromium (Playwright's own browser download cannot work offline).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(BIN)/sst models fetch $(MODELS)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) demo-out
