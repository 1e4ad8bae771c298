# kubedr.etcd — everyday commands. Run as root on Debian (the lab needs
# namespaces, mounts and sshd). `make help` lists the targets.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
MASTERS  ?= 3
ETCD_VERSION ?= 3.4
PYTEST_ARGS ?=
LAB      := $(BIN)/python -m tests.lab

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help deps venv lint sanity importer changelog unit unit-oldest integration molecule test demo lab-up lab-down lab-status build clean

help:
	@echo "make demo         bring up the lab, seed it, run the collection against it"
	@echo "make test         lint, unit and integration tests (brings labs up and down)"
	@echo "make lab-up       lab of MASTERS=$(MASTERS) masters on etcd ETCD_VERSION=$(ETCD_VERSION)"
	@echo "make lab-down     remove everything the lab made"
	@echo "make lab-status   masters, pods and etcd health"
	@echo "make lint         ruff, ansible-lint and ansible-test sanity"
	@echo "make sanity       ansible-test sanity only"
	@echo "make importer     build the tarball and check it with the Galaxy importer"
	@echo "make build        build the collection tarball"
	@echo "make changelog    CHANGELOG.rst from changelogs/ (antsibull-changelog)"
	@echo "make molecule     the molecule scenario restore_ha on a lab of its own"
	@echo "make unit-oldest  all unit tests on the oldest ansible-core admitted (make test runs those that load ansible-core)"

deps:
	@bash tests/lab/install-deps.sh

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --offline -q
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory importer

# ansible-test sanity on a copy of the tree (see .ci/sanity: the copy, and the
# stand-in for the get-pip download ansible-test would otherwise need).
sanity: venv
	KUBEDR_VENV_BIN=$(CURDIR)/$(BIN) bash .ci/sanity

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The unit tests on the oldest ansible-core meta/runtime.yml admits, in a virtualenv of
# its own (requirements-oldest.txt), its binaries first in PATH. `make test` runs there the
# unit tests that load ansible-core (UNIT_ON_ANSIBLE: the modules through AnsibleModule, the
# action plugins, the doc fragments, the collection's layout; module_utils import none of
# it), and one lab backup and restore with that ansible-core
# (tests/integration/test_ansible_core_range.py).
UNIT_ON_ANSIBLE := tests/unit/plugins/modules tests/unit/plugins/action \
	tests/unit/plugins/doc_fragments $(wildcard tests/unit/test_*.py)
OLDEST := .venv-oldest
$(OLDEST)/.installed: requirements-oldest.txt
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install -q --upgrade pip
	$(OLDEST)/bin/pip install -q -r requirements-oldest.txt
	touch $@

unit-oldest: $(OLDEST)/.installed
	PATH=$(CURDIR)/$(OLDEST)/bin:$$PATH $(OLDEST)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: deps venv
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

# The molecule scenario brings a lab of its own up and down (extensions/molecule/README.md).
molecule: deps venv
	$(BIN)/molecule test -s restore_ha

test: deps venv lint $(OLDEST)/.installed
	PATH=$(CURDIR)/$(OLDEST)/bin:$$PATH $(OLDEST)/bin/pytest -q $(UNIT_ON_ANSIBLE)
	KUBEDR_OLDEST_ANSIBLE_BIN=$(CURDIR)/$(OLDEST)/bin \
	$(BIN)/pytest --durations=25 tests/unit tests/integration $(PYTEST_ARGS)
	$(MAKE) --no-print-directory molecule

lab-up: deps venv
	$(LAB) up --masters $(MASTERS) --etcd $(ETCD_VERSION)

lab-down: venv
	$(LAB) down

lab-status: venv
	$(LAB) status

demo: deps venv
	bash tests/lab/demo.sh

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

# The Galaxy importer, in a virtualenv of its own (requirements-importer.txt), on
# the tarball `make build` writes; it fails on anything Galaxy would refuse.
IMPORTER := .venv-importer
$(IMPORTER)/.installed: requirements-importer.txt
	test -x $(IMPORTER)/bin/python || $(PYTHON) -m venv $(IMPORTER)
	$(IMPORTER)/bin/pip install -q --upgrade pip
	$(IMPORTER)/bin/pip install -q -r requirements-importer.txt
	touch $@

importer: build $(IMPORTER)/.installed
	bash .ci/importer build/kubedr-etcd-$$($(BIN)/python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])').tar.gz

# CHANGELOG.rst is generated: add a fragment under changelogs/fragments/, and at a
# release run `antsibull-changelog release --version X.Y.Z` (which runs ansible-doc
# on the collection, found through ansible.cfg).
changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog generate

clean: lab-down
	rm -rf build .pytest_cache .ruff_cache $(IMPORTER) $(OLDEST)
