# ganad-lite: `make book` builds the HTML book, `make test` runs every test. Both create and use .venv.
#
#   make book                      build the book into _build/html (profile: GANAD_PROFILE, else by hardware;
#                                  online, missing datasets are downloaded unless GANAD_DOWNLOAD=0); first
#                                  `python -m ganad_lite prefill` trains every run the chapters read into the
#                                  run cache ($GANAD_RUNS), costliest first, in worker processes on a CPU;
#                                  then `jupyter-book build` with the chapters executed side by side
#                                  (scripts/build_book.py; GANAD_BOOK_JOBS=1 for one at a time)
#   make test                      unit tests, then every chapter with pytest --nbmake in the smoke profile
#   GANAD_PROFILE=smoke make book  the quick build CI makes
#   make figures                   regenerate docs/pipeline.png for the README (a cpu-profile run)
#
# PyTorch: if .venv has no torch yet, `make` installs $(TORCH_PACKAGES). On Linux, PyPI's default torch
# wheel is a CUDA build of several GB; to get the build for your hardware, install it into .venv first
# (python3 -m venv .venv && .venv/bin/pip install torch torchvision --index-url <the index for your hardware>)
# or pass TORCH_PACKAGES="...".

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.ganad-lite-installed
BOOK_FLAGS ?= -W -n --keep-going --all   # --all: re-run every chapter against the current package

.PHONY: book test unit notebooks figures vendor clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install $(TORCH_PACKAGES)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

vendor: $(STAMP)
	$(BIN)/python scripts/fetch_vendor_js.py

# Chapters show figures through the notebook's inline backend: a non-interactive MPLBACKEND (e.g. Agg)
# set in the environment would turn every figure into "<Figure size ...>", so it is unset here.
book: vendor
	$(BIN)/python -m ganad_lite prefill
	env -u MPLBACKEND $(BIN)/python scripts/build_book.py $(BOOK_FLAGS) .
	@echo "open _build/html/index.html"

# pytest exits 5 when it collects no test: not a failure of the code under test.
# GANAD_DOWNLOAD=0: tests never download; chapters without data use the shipped samples and stand-ins.
unit: $(STAMP)
	GANAD_DOWNLOAD=0 $(BIN)/python -m pytest tests || test $$? -eq 5

notebooks: $(STAMP)
	env -u MPLBACKEND GANAD_PROFILE=smoke GANAD_DOWNLOAD=0 $(BIN)/python -m pytest --nbmake --durations=0 book || test $$? -eq 5

test: unit notebooks

figures: $(STAMP)
	$(BIN)/python scripts/make_readme_figure.py --out docs/pipeline.png

clean:
	rm -rf _build _vendor _vendor.partial
