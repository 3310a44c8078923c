# mlite — the README's commands: `make demo` and `make test` (both run `install` first).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
, := ,
DEMO_OUT ?= demo_out
# pip's own output (progress, this machine's unused local index paths, setuptools notices) goes to a log;
# it is shown only when pip fails.
INSTALL_LOG := $(VENV)/install.log
define pip_quiet
	@echo "make install: $(1)"
	@$(PY) -m pip install -q $(2) >> $(INSTALL_LOG) 2>&1 || { grep -v "is ignored: it is neither a file nor a directory" $(INSTALL_LOG) | tail -n 40 >&2; \
	  echo "make install: pip failed ($(1)); full log: $(INSTALL_LOG)" >&2; exit 1; }
endef

.PHONY: install demo test test-fast android-test bench lint clean system-packages arm-tools arm-qemu arm-runtime arm-runner arm-prereqs board-root

install: $(STAMP) system-packages

# A Python 3.10 interpreter: python3.10 on PATH, else pyenv's 3.10.x (paddlelite wheels stop at cp310).
define find_python310
for c in "$$(command -v python3.10 2>/dev/null)" $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do \
  [ -n "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$c"; exit 0; }; \
done; exit 1
endef

# pnnx (ncnn's converter): its wheel carries a standalone binary; its Python side wants torch, which we never use.
PNNX_VERSION := 20261020
$(STAMP): requirements.lock pyproject.toml
	@if ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
	  py=$$( $(find_python310) ) || { echo "make install: Python 3.10 not found (needed: paddlelite has cp310 wheels only); install it, e.g. 'pyenv install 3.10.13', then rerun" >&2; exit 1; }; \
	  echo "make install: creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); \
	fi
	@: > $(INSTALL_LOG)
	$(call pip_quiet,pip itself,--upgrade pip)
	$(call pip_quiet,pinned packages (requirements.lock: Paddle$(,) PaddleSlim$(,) Paddle Lite$(,) ONNX tools),-r requirements.lock)
	$(call pip_quiet,mlite (editable),--no-deps -e .)
	$(call pip_quiet,pnnx $(PNNX_VERSION) (ncnn's converter; no torch),--no-deps pnnx==$(PNNX_VERSION))
	@touch $(STAMP)
	@echo "make install: done ($(VENV); pip's log: $(INSTALL_LOG))"

# Debian packages: the real adb client; JUnit 4 and a JDK for the Android app's pure-Java tests; mksh and
# toybox, the shell and userland of Android, which the loopback test phone runs every command with.
DEB_PACKAGES := adb junit4 default-jdk-headless mksh toybox
JUNIT_JAR := /usr/share/java/junit4.jar
HAMCREST_JAR := /usr/share/java/hamcrest-core.jar
system-packages:
	@missing=""; command -v adb >/dev/null || missing="$$missing adb"; \
	for p in mksh toybox; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
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

# The suite runs on every core (pytest-xdist, whole files per worker: a module's fixtures are built once;
# session fixtures such as the trained digits model once per run, see tests/conftest.py once_per_run).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
test: install arm-prereqs board-root
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The Android app's pre/post-processing (plain Java) compiled with javac and tested with JUnit 4.
ANDROID_SRC := android_demo/app/src
ANDROID_BUILD := build/android-test
android-test: system-packages
	rm -rf $(ANDROID_BUILD) && mkdir -p $(ANDROID_BUILD)/main $(ANDROID_BUILD)/test
	javac --release 8 -Xlint:-options -d $(ANDROID_BUILD)/main $(ANDROID_SRC)/main/java/com/mlite/core/*.java
	javac -d $(ANDROID_BUILD)/test -cp $(ANDROID_BUILD)/main:$(JUNIT_JAR) $(ANDROID_SRC)/test/java/com/mlite/core/*.java
	java -cp $(ANDROID_BUILD)/main:$(ANDROID_BUILD)/test:$(ANDROID_SRC)/test/resources:$(JUNIT_JAR):$(HAMCREST_JAR) \
	  org.junit.runner.JUnitCore com.mlite.core.PreprocessParityTest com.mlite.core.PostprocessTest com.mlite.core.ModelConfigTest \
	  com.mlite.core.CpuFeaturesTest

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install arm-prereqs board-root
	$(PY) -m benchmarks.cli_startup
	$(PY) -m benchmarks.export_fp32
	$(PY) -m benchmarks.int8
	$(PY) -m benchmarks.onnx_int8
	$(PY) -m benchmarks.devices
	$(PY) -m benchmarks.ssld
	$(PY) -m benchmarks.arm
	$(PY) -m benchmarks.fp16
	$(PY) -m benchmarks.fp16_kernels
	$(PY) -m benchmarks.study
	$(PY) -m benchmarks.zoo_pipeline

clean:
	rm -rf $(DEMO_OUT) mlite_out .pytest_cache build

# ---- ARM: Paddle Lite's light API for armv8 and our static runner (phones, ARM boards, qemu-user here) ----
# The runtime: ../shared/arm (prebuilt, see its README), or built from a Paddle-Lite checkout at the tag of
# the installed opt with 'make arm-runtime PADDLE_LITE_SRC=/path/to/Paddle-Lite' (about an hour on 2 cores).
ARM_BUILD := build/arm
PADDLE_LITE_SRC ?=
ifneq ($(PADDLE_LITE_SRC),)
ARM_RUNTIME ?= $(ARM_BUILD)/runtime
else
ARM_RUNTIME ?= ../shared/arm
endif
ARM_LIB := $(ARM_RUNTIME)/lib/libpaddle_api_light_bundled.a
ARM_RUNNER := $(ARM_BUILD)/mlite-arm-runner
ARM_CXX := aarch64-linux-gnu-g++
ARM_DEB := g++-aarch64-linux-gnu qemu-user-static binutils

arm-tools:
	@missing=""; command -v $(ARM_CXX) >/dev/null || missing="$$missing g++-aarch64-linux-gnu"; \
	[ -f /usr/share/binfmts/qemu-aarch64 ] || missing="$$missing qemu-user-static"; \
	command -v strings >/dev/null || missing="$$missing binutils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "make arm-tools: Debian packages missing ($$missing) and I am not root; run: sudo apt-get install$$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# aarch64 binaries run here through qemu-user (binfmt_misc): needs root once per boot.
arm-qemu: arm-tools
	@runners/arm/qemu-binfmt.sh

arm-runtime: $(ARM_LIB)
	@echo "arm-runtime: $(ARM_RUNTIME) (Paddle Lite $$(strings -n 6 $(ARM_LIB) | awk '/^v[0-9]+\.[0-9]+[0-9a-z.-]*$$/ && !f { print; f = 1 }'))"

$(ARM_LIB):
	@if [ -z "$(PADDLE_LITE_SRC)" ]; then \
	  echo "make arm-runtime: no Paddle Lite ARM runtime at $(ARM_RUNTIME): pass PADDLE_LITE_SRC=/path/to/Paddle-Lite (a checkout at the tag of the installed opt, v2.13-rc) to build it, or ARM_RUNTIME=DIR (with include/ and lib/)" >&2; exit 1; fi
	runners/arm/build-runtime.sh "$(PADDLE_LITE_SRC)" "$(ARM_BUILD)/runtime"

# Our runners: statically linked aarch64 files (Android arm64 phones, ARM Linux boards, qemu-user): the armv8-a
# one for every arm64 CPU, and the armv8.2-a+fp16 one (Paddle Lite's FP16 kernels, ../shared/arm-fp16) for
# CPUs with FP16 arithmetic (Cortex-A55/A75/A76..., the SD855's Kryo 485); on an A53/A72 it would be SIGILL.
ARM_FP16_RUNTIME ?= ../shared/arm-fp16
ARM_FP16_LIB := $(ARM_FP16_RUNTIME)/lib/libpaddle_api_light_bundled.a
ARM_FP16_RUNNER := $(ARM_BUILD)/mlite-arm-runner-fp16
arm-runner: $(ARM_RUNNER) $(ARM_FP16_RUNNER)

# $(call link_runner,RUNTIME_DIR,LIB,EXTRA_FLAGS,OUT)
define link_runner
	@mkdir -p $(ARM_BUILD)
	@lite=$$(strings -n 6 $(2) | awk '/^v[0-9]+\.[0-9]+[0-9a-z.-]*$$/ && !f { print; f = 1 }'); [ -n "$$lite" ] || { echo "make arm-runner: no version string in $(2)" >&2; exit 1; }; \
	ver=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml); \
	echo "arm-runner: $(ARM_CXX) -static $(3) (Paddle Lite $$lite, $(1)) -> $(4)"; \
	$(ARM_CXX) -static -O2 -std=c++11 $(3) -DMLITE_LITE_VERSION="\"$$lite\"" -DMLITE_RUNNER_VERSION="\"$$ver\"" \
	  runners/arm/mlite_arm_runner.cc -I$(1)/include \
	  -Wl,--whole-archive $(2) -Wl,--no-whole-archive -lpthread -ldl -fopenmp -o $(4).tmp 2>&1 \
	  | { grep -v -e "Using 'dlopen'" -e "in function .goacc_profiling_initialize" || true; }; \
	mv $(4).tmp $(4); file $(4) 2>/dev/null || true
endef

$(ARM_RUNNER): runners/arm/mlite_arm_runner.cc $(ARM_LIB) | arm-tools
	$(call link_runner,$(ARM_RUNTIME),$(ARM_LIB),,$@)

$(ARM_FP16_RUNNER): runners/arm/mlite_arm_runner.cc | arm-tools
	@[ -f $(ARM_FP16_LIB) ] || { echo "make arm-runner: no FP16 runtime at $(ARM_FP16_RUNTIME) (see ../shared/arm-fp16/README.md for its recipe; ARM_FP16_RUNTIME=DIR)" >&2; exit 1; }
	$(call link_runner,$(ARM_FP16_RUNTIME),$(ARM_FP16_LIB),-march=armv8.2-a+fp16 -DMLITE_ARM_FP16,$@)

# The tests' "ARM Linux board": an arm64 Debian userland with OpenSSH, from Debian's arm64 packages (seconds;
# needs root). The SSH tests run its sshd in a chroot through qemu-user; without root they skip and say why.
BOARD_ROOT := build/board/root
NCNN_VERSION := $(shell sed -n 's/^ncnn==//p' requirements.lock)
board-root: install
	@NCNN_VERSION=$(NCNN_VERSION) runners/board/build-root.sh $(BOARD_ROOT) "$(PY) -m pip" || echo "make test: no arm64 board root (see above): the SSH board tests will skip"

# What the ARM tests need; without root they skip and say why (pytest -ra lists the reasons).
arm-prereqs:
	@$(MAKE) --no-print-directory arm-runner arm-qemu || echo "make test: ARM tooling unavailable (see above): the ARM tests will skip"
