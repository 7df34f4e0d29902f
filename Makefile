# destill — make help lists the targets.
GO        ?= go
BIN       ?= bin/destill
CORPUS    ?= ../shared/corpus
EVAL      ?= ../shared/tools/triage_eval.py
PKGS      ?= ./...

.PHONY: help build test vet fmt-check tidy-check compose-check bench bench-1g eval eval-baseline fuzz clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

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

eval-baseline: build ## score CiDiff with the passing log of each case as --baseline
	python3 $(EVAL) --datasets cidiff --tool '$(BIN) run --format jsonl --baseline {good} {log}'

BIGLOG ?= /tmp/destill-1g.log
bench-1g: build ## time and peak memory of destill run over a 1 GiB log made of the corpus logs
	@if [ ! -f $(BIGLOG) ]; then \
		find $(CORPUS) -name '*.gz' | sort | xargs zcat > $(BIGLOG).one; \
		: > $(BIGLOG).tmp; \
		while [ $$(stat -c %s $(BIGLOG).tmp) -lt 1073741824 ]; do cat $(BIGLOG).one >> $(BIGLOG).tmp; done; \
		head -c 1073741824 $(BIGLOG).tmp > $(BIGLOG); rm -f $(BIGLOG).tmp $(BIGLOG).one; fi
	/usr/bin/time -v $(BIN) run --format jsonl $(BIGLOG) 2>&1 >/dev/null | grep -E 'Elapsed|Maximum resident|Exit status'

fuzz: ## fuzz the chunker and the normalizer for a minute each
	$(GO) test -run '^$$' -fuzz FuzzChunk -fuzztime 60s ./internal/ingest
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 60s ./internal/analyze

clean: ## remove build output
	rm -rf bin
