# Shortcuts for the README's commands.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/bin/setlist: setup.py
	python3.11 -m venv $(VENV) && $(VENV)/bin/pip install -q -e ".[test]"

.PHONY: demo test ci clean
demo: $(VENV)/bin/setlist
	$(VENV)/bin/setlist demo

test: $(VENV)/bin/setlist
	$(PY) -m pytest -q

ci:
	CI=true bash .ci/run

clean:
	rm -rf .setlist .ci/venv
