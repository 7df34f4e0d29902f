# destill — make help lists the targets.
GO        ?= go
BIN       ?= bin/destill
CORPUS    ?= ../shared/corpus
EVAL      ?= ../shared/tools/triage_eval.py
PKGS      ?= ./...

.PHONY: help build test vet fmt-check tidy-check compose-check bench eval fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/destill
	$(GO) build -o $(BIN) ./cmd/destill

test: vet fmt-check compose-check ## run every check CI runs: vet, gofmt, compose config, all tests
	$(GO) test -count=1 -timeout 30m $(PKGS)

vet: ## go vet
	$(GO) vet $(PKGS)

fmt-check: ## fail when a file is not gofmt-clean
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: ## fail when go mod tidy would change go.mod or go.sum
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

compose-check: ## validate docker/docker-compose.yml (needs docker-compose)
	@if [ -f docker/docker-compose.yml ]; then \
		if command -v docker-compose >/dev/null; then docker-compose -f docker/docker-compose.yml config -q && echo "compose: ok"; \
		elif [ -n "$$CI" ]; then echo "docker-compose missing"; exit 1; \
		else echo "compose: docker-compose not installed, skipped"; fi; fi

bench: ## run the benchmarks (numbers in README.md)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

eval: build ## score triage quality on the labelled corpus
	python3 $(EVAL) --tool '$(BIN) run --format jsonl {log}'

fuzz: ## fuzz the chunker and the normalizer for a minute each
	$(GO) test -run '^$$' -fuzz FuzzChunk -fuzztime 60s ./internal/ingest
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 60s ./internal/analyze

clean: ## remove build output
	rm -rf bin
