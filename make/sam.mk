# SAM build targets; `include make/sam.mk` from the top-level Makefile (or `make -f make/sam.mk`).
#
#   build        sam validate --lint, sam build (no Docker: functions/Makefile), bundle sizes
#   build-check  train a small model with the dev environment, then import and invoke the built
#                recommend function with a bare python3.12 (its folder, the layer and, after them,
#                the SDK Lambda's runtime provides) and check that model answers
#
# Offline-safe: needs no AWS credentials. Paths are relative to the repository root.

# Keep whatever default goal the including Makefile has (restored at the end of this file).
_SAM_MK_DEFAULT_GOAL := $(.DEFAULT_GOAL)

VENV ?= .venv
SAM ?= $(VENV)/bin/sam
SAM_TEMPLATE ?= template.yaml
SAM_BUILD_DIR ?= .aws-sam/build
SAM_REGION ?= us-east-1
BUNDLE_LIMIT_MB ?= 250
BUILD_CHECK_VENV ?= .build/py312-bare
BUILD_CHECK_WORLD ?= .build/build-check-world
BUILD_CHECK_MODEL ?= build-check
# Stands in for Lambda's /var/runtime: the SDK for Python that the python3.12 runtime provides and the
# layer leaves out (functions/Makefile, RUNTIME_PROVIDED). The runtime's version varies by Region and
# over time; the check takes the boto3 of the dev environment (and the botocore it resolves).
BUILD_CHECK_RUNTIME ?= .build/lambda-runtime
BUILD_CHECK_SDK ?= boto3==$(shell $(VENV)/bin/python -c 'import importlib.metadata as m; print(m.version("boto3"))')

# A python3.12 that really runs (a pyenv shim named python3.12 may exist and still fail): it
# compiles the bundle's bytecode (build) and runs the built function (build-check).
PYTHON312 ?= $(firstword $(foreach candidate,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),\
	$(shell $(candidate) -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && echo $(candidate))))

# SAM runs functions/Makefile from a scratch folder, so the pip it uses needs an absolute path.
SAM_ENV = MAKEFLAGS= MAKELEVEL= SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$(SAM_REGION) PYTHON=$(abspath $(VENV))/bin/python \
	PYTHON312=$(PYTHON312)

.PHONY: build build-check

build:
	@test -n "$(PYTHON312)" || { echo "no python3.12 found (the bundle's bytecode is compiled by Lambda's Python): pass PYTHON312=/path/to/python3.12" >&2; exit 2; }
	$(SAM_ENV) $(SAM) validate --lint --template-file $(SAM_TEMPLATE) --region $(SAM_REGION)
	$(SAM_ENV) $(SAM) build --template-file $(SAM_TEMPLATE) --build-dir $(SAM_BUILD_DIR) --no-cached
	$(VENV)/bin/python -m scripts.bundle_size --build-dir $(SAM_BUILD_DIR) --limit-mb $(BUNDLE_LIMIT_MB)

build-check:
	@test -n "$(PYTHON312)" || { echo "no python3.12 found: pass PYTHON312=/path/to/python3.12" >&2; exit 2; }
	@test -f $(SAM_BUILD_DIR)/template.yaml || { echo "no $(SAM_BUILD_DIR): run make build first" >&2; exit 2; }
	# a small world with a trained model, published and activated (the dev environment has torch)
	rm -rf $(BUILD_CHECK_WORLD) && mkdir -p $(BUILD_CHECK_WORLD)
	cd $(BUILD_CHECK_WORLD) && MEDIAREC_DB_PATH=mediarec.sqlite MEDIAREC_MODELS_URI=models \
		$(abspath $(VENV))/bin/mediarec seed --users 300 --items 200 --events 30000 --quiet
	cd $(BUILD_CHECK_WORLD) && MEDIAREC_DB_PATH=mediarec.sqlite MEDIAREC_MODELS_URI=models \
		$(abspath $(VENV))/bin/mediarec train --epochs 3 --model-version $(BUILD_CHECK_MODEL) \
		--runs-dir runs --publish --quiet
	cd $(BUILD_CHECK_WORLD) && MEDIAREC_DB_PATH=mediarec.sqlite $(abspath $(VENV))/bin/mediarec refresh
	# the runtime's SDK, installed apart from the layer as Lambda's /var/runtime is
	rm -rf $(BUILD_CHECK_RUNTIME)
	$(VENV)/bin/python -m pip install --platform manylinux2014_x86_64 --implementation cp \
		--python-version 3.12 --only-binary=:all: --no-compile --disable-pip-version-check --quiet \
		"$(BUILD_CHECK_SDK)" -t $(BUILD_CHECK_RUNTIME)
	# the built function alone (its folder, the layer, the runtime's SDK; no torch, no pandas)
	# serves that model
	rm -rf $(BUILD_CHECK_VENV)
	$(PYTHON312) -m venv --without-pip $(BUILD_CHECK_VENV)
	$(BUILD_CHECK_VENV)/bin/python scripts/check_built_function.py --build-dir $(SAM_BUILD_DIR) \
		--runtime-dir $(BUILD_CHECK_RUNTIME) --world $(BUILD_CHECK_WORLD) --expect-model $(BUILD_CHECK_MODEL)

.DEFAULT_GOAL := $(_SAM_MK_DEFAULT_GOAL)
