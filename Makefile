# mlite — the README's commands: `make demo` and `make test` (both run `install` first).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
DEMO_OUT ?= demo_out
# pip warns once per package about this machine's unused local index paths; keep real errors.
PIPFILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install demo test test-fast android-test bench lint clean system-packages

install: $(STAMP) system-packages

# A Python 3.10 interpreter: python3.10 on PATH, else pyenv's 3.10.x (paddlelite wheels stop at cp310).
define find_python310
for c in "$$(command -v python3.10 2>/dev/null)" $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do \
  [ -n "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$c"; exit 0; }; \
done; exit 1
endef

$(STAMP): requirements.lock pyproject.toml
	@if ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
	  py=$$( $(find_python310) ) || { echo "make install: Python 3.10 not found (needed: paddlelite has cp310 wheels only); install it, e.g. 'pyenv install 3.10.13', then rerun" >&2; exit 1; }; \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); \
	fi
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(PIPFILTER)
	$(PY) -m pip install -q -r requirements.lock 2>&1 | $(PIPFILTER)
	$(PY) -m pip install -q --no-deps -e . 2>&1 | $(PIPFILTER)
	@touch $(STAMP)

# Debian packages: the real adb client; JUnit 4 and a JDK for the Android app's pure-Java tests.
DEB_PACKAGES := adb junit4 default-jdk-headless
JUNIT_JAR := /usr/share/java/junit4.jar
HAMCREST_JAR := /usr/share/java/hamcrest-core.jar
system-packages:
	@missing=""; command -v adb >/dev/null || missing="$$missing adb"; \
	[ -f $(JUNIT_JAR) ] && [ -f $(HAMCREST_JAR) ] || missing="$$missing junit4"; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "make install: Debian packages missing ($$missing) and I am not root; run: sudo apt-get install$$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Offline, no phone: phone artifacts (ARM .nb FP32 + INT8, ONNX), then a host run and its report.
demo: install
	$(VENV)/bin/mlite export --model MobileNetV3_small_x1_0 --weights random --int8 --onnx --out $(DEMO_OUT)/arm
	$(VENV)/bin/mlite run --models MobileNetV3_small_x1_0,ShuffleNetV2_x0_5 --weights random --int8 --local \
	  --threads 1,2 --out $(DEMO_OUT)/host
	$(VENV)/bin/mlite report $(DEMO_OUT)/host --reference --plot $(DEMO_OUT)/report.png

test: install
	$(PY) -m pytest -q

# The Android app's pre/post-processing (plain Java) compiled with javac and tested with JUnit 4.
ANDROID_SRC := android_demo/app/src
ANDROID_BUILD := build/android-test
android-test: system-packages
	rm -rf $(ANDROID_BUILD) && mkdir -p $(ANDROID_BUILD)/main $(ANDROID_BUILD)/test
	javac --release 8 -Xlint:-options -d $(ANDROID_BUILD)/main $(ANDROID_SRC)/main/java/com/mlite/core/*.java
	javac -d $(ANDROID_BUILD)/test -cp $(ANDROID_BUILD)/main:$(JUNIT_JAR) $(ANDROID_SRC)/test/java/com/mlite/core/*.java
	java -cp $(ANDROID_BUILD)/main:$(ANDROID_BUILD)/test:$(ANDROID_SRC)/test/resources:$(JUNIT_JAR):$(HAMCREST_JAR) \
	  org.junit.runner.JUnitCore com.mlite.core.PreprocessParityTest com.mlite.core.PostprocessTest com.mlite.core.ModelConfigTest

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) -m benchmarks.cli_startup
	$(PY) -m benchmarks.export_fp32
	$(PY) -m benchmarks.int8
	$(PY) -m benchmarks.devices
	$(PY) -m benchmarks.ssld

clean:
	rm -rf $(DEMO_OUT) mlite_out .pytest_cache
