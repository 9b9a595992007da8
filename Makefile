# `make run` and `make test` set up everything they need, from nothing:
# a Python 3.10 venv with pinned packages, the spaCy pipeline, and a model
# that is retrained only when the training data, domain or config changed.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV   := .venv
PY     := $(VENV)/bin/python
# Every rasa command goes through tools/rasa_cli.py (it keeps jax out of the server).
RASA   := $(PY) -m tools.rasa_cli
MODEL  := models/klonopin-faq.tar.gz
SPACY  := build/spacy_en
WORDLLAMA := build/wordllama/SOURCE
PATTERNS := build/entity_patterns.jsonl
TRAINING := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)

# Quiet TensorFlow's start-up chatter; SQLAlchemy 1.4 warns about 2.0 on every query.
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test test-unit lint screenshots setup model shell actions validate clean lock browser web eval bench retention cluster cluster-stop cluster-test

help:  ## list the targets and what they do (`make` alone runs `run`)
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-zA-Z_-]+:[^=]*## / { printf "  %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: $(MODEL)  ## set up, then serve the assistant (REST on :5005, actions on :5055, web chat on :8080)
	scripts/run.sh

test: $(MODEL)  ## set up, then run every test: tests/unit/ and tests/system/ (about 11 min)
	scripts/ensure-browser.sh
	$(PY) -m pytest

# The fast lane: no model, no servers, no browser, so it needs only the set-up.
test-unit: setup  ## only the unit tests (tests/unit/, seconds; no trained model needed)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

# The browser tests that take the screenshots; `make test` saves them in build/screenshots/.
SHOT_TESTS := readable_sourced_answer or crisis_card_with_large or crisis_message_shows_988 or no_answer_within_10 or assistant_down_shows
screenshots: $(MODEL)  ## renew the web chat screenshots in docs/ (the browser tests that take them, about 3 min)
	scripts/ensure-browser.sh
	SCREENSHOTS_DIR=docs $(PY) -m pytest -q -p no:cacheprovider tests/system/test_browser.py -k "$(SHOT_TESTS)"

setup: $(VENV)/.installed $(SPACY)/meta.json $(WORDLLAMA)  ## only the venv, the spaCy pipeline and WordLlama

model: $(MODEL)  ## only (re)train the model when its inputs changed

lint: $(VENV)/.installed  ## ruff (lint and format check) and mypy over the code, as configured in pyproject.toml (seconds)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt scripts/find-python.sh
	rm -rf $(VENV)
	python=$$(scripts/find-python.sh) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $@

$(PATTERNS): data/nlu/entities.yml spacy_pipeline/build_patterns.py $(VENV)/.installed
	$(PY) spacy_pipeline/build_patterns.py data/nlu/entities.yml $@

$(SPACY)/meta.json: spacy_pipeline/config.cfg $(PATTERNS)
	rm -rf $(SPACY)
	$(PY) -m spacy assemble spacy_pipeline/config.cfg $(SPACY) --paths.patterns $(PATTERNS)

# WordLlama's embedding table and tokenizer, out of the pinned wheel (sha256 checked).
$(WORDLLAMA): tools/fetch_wordllama.py $(VENV)/.installed
	$(PY) -m tools.fetch_wordllama $(dir $@)

$(MODEL): $(TRAINING) $(SPACY)/meta.json $(WORDLLAMA) knowledge/crisis_phrases.yml $(wildcard nlu_components/*.py)
	$(RASA) train --fixed-model-name klonopin-faq --out models

eval: $(MODEL)  ## NLU evaluation of config.yml against eval/configs/: cross-validation and held-out set (about 70 min) -> docs/eval.md
	$(PY) -m tools.evaluate

bench: $(MODEL)  ## the assistant and the stock `rasa init` bot side by side over REST (about 10 min) -> docs/bench.md
	$(PY) -m tools.bench

cluster: $(MODEL)  ## the cluster profile here: PostgreSQL, Redis, HAProxy (REST on :55005), 2 Rasa replicas, 2 action servers (apt-get installs what is missing; Ctrl-C stops it)
	$(PY) -m cluster.run

cluster-stop:  ## stop whatever a killed `make cluster` left running (.cluster/run/pids.json)
	$(PY) -m cluster.run stop

cluster-test: $(MODEL)  ## fault test: 20 senders x 15 messages through HAProxy, a Rasa replica SIGKILLed, an action server stopped (under a minute) -> docs/cluster.json
	$(PY) -m cluster.fault_test

shell: $(MODEL)  ## talk to the assistant in the terminal (own ports: Rasa :5006, actions :5056, so it runs beside `make run`)
	scripts/run.sh shell

actions: $(VENV)/.installed  ## only the action server (127.0.0.1:5055; ACTIONS_HOST, ACTION_SERVER_TOKEN)
	scripts/run_actions.sh

browser:  ## the headless Chromium the browser tests drive (apt-get install when missing)
	scripts/ensure-browser.sh

web: $(VENV)/.installed  ## only the web chat page (http://localhost:8080)
	$(PY) -m web.server

DAYS ?= 30
retention: $(VENV)/.installed  ## delete conversations idle for more than DAYS days (default 30) from the tracker store in endpoints.yml; DRY_RUN=1 only counts
	$(PY) -m ops.retention --days $(DAYS) --endpoints endpoints.yml $(if $(DRY_RUN),--dry-run)

validate: $(VENV)/.installed  ## rasa data validate, warnings fail
	$(RASA) data validate --fail-on-warnings

lock:  ## rewrite constraints.txt from the current venv
	{ echo "# Full pin set (pip freeze of a working Python 3.10 install of requirements.txt)."; \
	  echo "# Regenerate with: make lock"; $(PY) -m pip freeze --all --exclude pip --exclude setuptools; } > constraints.txt

clean:  ## delete build/, models/, results/ (the next make rebuilds them)
	rm -rf build models results .pytest_cache
