# Shortcuts for the README's commands.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/bin/setlist: setup.py
	python3.11 -m venv $(VENV) && $(VENV)/bin/pip install -q -e ".[test]"

.PHONY: demo test lint ci clean
demo: $(VENV)/bin/setlist
	$(VENV)/bin/setlist demo

test: $(VENV)/bin/setlist
	$(PY) -m pytest -q

lint: $(VENV)/bin/setlist
	$(PY) -m pyflakes dags jobs features governance setlist tests setup.py

ci:
	CI=true bash .ci/run

clean:
	rm -rf .setlist .ci/venv
