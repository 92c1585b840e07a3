# aria — build, run and test. Everything a bare Debian 12 + Go 1.26 machine needs is
# installed from here (apt as root, npm for the SDK suite, generated model fixtures).
SHELL := /bin/bash
GO    ?= go
BIN   := bin/aria

# llama.cpp's ggml kernels are compiled by cgo. Without optimisation and AVX2 the ternary
# kernels run ~7x slower, so these flags are part of the build, not a tuning option.
CGO_OPT ?= -O3 -march=x86-64-v3
export CGO_ENABLED  := 1
export CGO_CFLAGS   := $(CGO_OPT)
export CGO_CXXFLAGS := $(CGO_OPT)
# The llama.cpp sources come from the pinned ollama module. Our own patches
# (inference/llamacpp/patches, e.g. the squared-ReLU FFN of BitNet b1.58 2B-4T) are
# applied to a COPY of its llama.cpp and ggml sources under build/ (the module cache is
# never edited), and build/go.work points the module at that copy. The copy's directory
# name carries a hash of the patches, so changing a patch makes a fresh copy.
OLLAMA_VERSION := v0.17.4
OLLAMA_DIR = $(shell GOWORK=off $(GO) mod download -json github.com/ollama/ollama@$(OLLAMA_VERSION) 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
LLAMA_PATCHES := $(sort $(wildcard inference/llamacpp/patches/*.patch))
PATCH_HASH := $(shell cat $(LLAMA_PATCHES) /dev/null | sha256sum | cut -c1-12)
LLAMA_SRC  := build/llama-src/ollama-$(OLLAMA_VERSION)-$(PATCH_HASH)
GOWORK_FILE := build/go.work
export GOWORK := $(CURDIR)/$(GOWORK_FILE)
# The patches touch no header, so our binding's headers come from the module cache; with
# -trimpath the build cache keys name the module (path@version), not the directory, so
# every checkout of the same patches shares one compile of llama.cpp.
export CGO_CPPFLAGS = -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/include
export GOFLAGS := -trimpath

# postgresql: the platform's PostgreSQL store is tested against a real server (started
# by the tests in a temp dir on a loopback port, never the system cluster).
# patch: our llama.cpp patches are applied to a copy of the pinned sources.
# chromium: the dashboard's browser test drives Debian's headless Chromium (puppeteer-core,
# no browser download).
APT_PKGS := build-essential pkg-config ca-certificates git postgresql patch chromium
DATA_DIR ?= $(HOME)/.aria
FIXTURES := testdata/models

.PHONY: all build run test deps test-go test-e2e e2e-deps fixtures bench env clean fuzz llama-src bench-models

all: build

# deps installs system packages when they are missing (needs root or sudo).
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl)"; exit 1; }

# The patched copy of the pinned llama.cpp/ggml sources, and the go.work that uses it.
llama-src: $(GOWORK_FILE)

$(LLAMA_SRC)/.patched: $(LLAMA_PATCHES)
	@test -n "$(OLLAMA_DIR)" || { echo "cannot download github.com/ollama/ollama@$(OLLAMA_VERSION) (llama.cpp sources)" >&2; exit 1; }
	@rm -rf $(LLAMA_SRC) && mkdir -p $(LLAMA_SRC)/ml/backend/ggml
	@cp $(OLLAMA_DIR)/go.mod $(OLLAMA_DIR)/go.sum $(LLAMA_SRC)/
	@cp -R $(OLLAMA_DIR)/llama $(LLAMA_SRC)/llama
	@cp -R $(OLLAMA_DIR)/ml/backend/ggml/ggml $(LLAMA_SRC)/ml/backend/ggml/ggml
	@chmod -R u+w $(LLAMA_SRC)
	@for p in $(LLAMA_PATCHES); do patch -s -p1 -d $(LLAMA_SRC) < $$p || { echo "patch $$p failed" >&2; exit 1; }; done
	@touch $@

$(GOWORK_FILE): $(LLAMA_SRC)/.patched go.mod
	@printf 'go %s\n\nuse ..\n\nreplace github.com/ollama/ollama $(OLLAMA_VERSION) => ./%s\n' \
		"$$(sed -n 's/^go //p' go.mod)" "$(patsubst build/%,%,$(LLAMA_SRC))" > $@

# The first build compiles llama.cpp (2-3 minutes on 2 cores); later builds are cached.
build: deps $(GOWORK_FILE)
	@echo "building $(BIN) (first build compiles llama.cpp: 2-3 min)"
	@mkdir -p bin
	@$(GO) build -trimpath -o $(BIN) ./cmd/aria 2> >(grep -v -E 'repack|memcpy|~~~|^ +\||inlined from|In function|note: at offset|^ *[0-9]+ \|' >&2)

run: build
	$(BIN) node start --data-dir $(DATA_DIR)

# Prints the exports that let plain `go build` / `go test` / gopls work in a shell:
#   eval "$(make -s env)"
env: $(GOWORK_FILE)
	@echo 'export CGO_ENABLED=1 CGO_CFLAGS="$(CGO_OPT)" CGO_CXXFLAGS="$(CGO_OPT)" CGO_CPPFLAGS="$(CGO_CPPFLAGS)" GOWORK="$(GOWORK)" GOFLAGS="$(GOFLAGS)"'

test: build test-go test-e2e

# Packages whose code and tests link nothing of llama.cpp (computed, module mode): they
# are vetted with CGO_ENABLED=0 (openai and inference build without cgo) and tested
# under the race detector.
CGO_FREE_PKGS = $(shell GOWORK=off $(GO) list -test -f '{{if .ForTest}}{{.ForTest}} {{join .Deps " "}}{{end}}' ./... | \
	awk '{p=$$1; s[p]=1; if ($$0 ~ /inference\/llamacpp|ollama\/ollama\/llama/) b[p]=1} END {for (p in s) if (!(p in b)) print p}' | sort)

test-go: build
	$(GO) vet ./...
	GOWORK=off CGO_ENABLED=0 $(GO) vet $(CGO_FREE_PKGS)
	GOWORK=off $(GO) test -race -count=1 -timeout 30m $(CGO_FREE_PKGS)
	$(GO) test -count=1 -timeout 30m $(filter-out $(CGO_FREE_PKGS),$(shell $(GO) list ./...))

test-e2e: build
	@if [ -d e2e ]; then $(MAKE) -s e2e-deps && cd e2e && ARIA_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 ; fi

e2e-deps:
	@cd e2e && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund --loglevel=error; fi

fixtures: build
	@mkdir -p $(FIXTURES)
	@for s in 700m 2b; do f=$(FIXTURES)/$$s-tq2_0.gguf; [ -f $$f ] || $(BIN) model synth --shape $$s --type tq2_0 --out $$f; done

# The README's benchmark figures (700m and 2b TQ2_0, 2 threads, kernel vs engine vs HTTP).
bench: fixtures
	$(BIN) bench --model $(FIXTURES)/700m-tq2_0.gguf --threads 2 --parallel 1,2,4 --reps 5 --via-http
	$(BIN) bench --model $(FIXTURES)/2b-tq2_0.gguf --threads 2 --parallel 1,2,4 --reps 3 --via-http
	$(GO) test -run '^$$' -bench PeerHop -benchtime 1x ./node/
	$(GO) test -run '^$$' -bench Discovery ./p2p/

# Issue 12's figures: import of a synthetic 2B-4T-shaped I2_S file (1.18 GB, made here, never committed), speed of
# the imported model next to the same shape synthesized directly as TQ2_0, pull throughput from a loopback hub and
# from a peer.
BENCH_MODELS := build/bench-models
bench-models: build
	@mkdir -p $(BENCH_MODELS)
	@[ -f $(BENCH_MODELS)/2b-i2_s.gguf ] || $(BIN) model synth --shape 2b --type i2_s --out $(BENCH_MODELS)/2b-i2_s.gguf
	@[ -f $(BENCH_MODELS)/2b-b158-tq2_0.gguf ] || $(BIN) model synth --shape 2b --type tq2_0 --arch bitnet-b1.58 --out $(BENCH_MODELS)/2b-b158-tq2_0.gguf
	rm -rf $(BENCH_MODELS)/data
	time $(BIN) model import --data-dir $(BENCH_MODELS)/data $(BENCH_MODELS)/2b-i2_s.gguf
	ls -l $(BENCH_MODELS)/2b-i2_s.gguf $(BENCH_MODELS)/data/models/2b-i2_s.gguf $(BENCH_MODELS)/2b-b158-tq2_0.gguf
	$(BIN) bench --model $(BENCH_MODELS)/data/models/2b-i2_s.gguf --threads $(or $(BENCH_THREADS),2) --parallel 1 --reps 3
	$(BIN) bench --model $(BENCH_MODELS)/2b-b158-tq2_0.gguf --threads $(or $(BENCH_THREADS),2) --parallel 1 --reps 3
	$(GO) test -run '^$$' -bench PullFromHub -benchtime 3x ./models/
	$(GO) test -run '^$$' -bench PullFromPeer -benchtime 3x ./node/

# Every decoder of bytes from disk or network, FUZZTIME each (seed corpora run in every `go test`).
FUZZTIME ?= 30s
FUZZ_TARGETS := models:FuzzImport inference/gguf:FuzzDecode openai:FuzzDecodeChatRequest openai:FuzzIntentionBodies \
	intentions:FuzzParseCondition intentions:FuzzDecodeRecord consent:FuzzParseConfig consent:FuzzSchedule \
	energy:FuzzLedgerOnDisk tenancy:FuzzVerifyJWT ares:FuzzPlatformBodies p2p:FuzzOpenRecord p2p/peerproto:FuzzDecodeEnvelope p2p/peerproto:FuzzServerFrame \
	inference/jsonschema:FuzzParse inference/jsonschema:FuzzSchemaGrammar openai:FuzzDecodeOtherBodies openai:FuzzHistoryQuery \
	storage/bolt:FuzzOpen providers:FuzzDecodeUpstream \
	rag:FuzzChunker ares:FuzzRAGBodies storage/bolt:FuzzRAGRecords \
	agents:FuzzCalculator agents:FuzzDecodeTOON ares:FuzzAgentBodies
fuzz: $(GOWORK_FILE)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ || exit 1; \
	done

clean:
	rm -rf bin build
