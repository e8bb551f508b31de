# Gazette — every developer and CI task. `make help` lists them.
#
# Two commands do all set-up on a fresh machine:
#   make demo   the whole pipeline on the local stack, on the sample articles
#   make test   lint, unit tests, short fuzzing, sam validate/build, and the
#               integration tests on the emulators (it starts and stops them)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include infra/versions.env

# Where the pinned tools go: $GAZETTE_TOOLS, as for infra/*.sh and the Go
# code, else ~/.cache/gazette-tools. Exported, so TOOLS=… reaches them too.
TOOLS     ?= $(or $(GAZETTE_TOOLS),$(HOME)/.cache/gazette-tools)
export GAZETTE_TOOLS := $(TOOLS)
VENV_BIN  := $(TOOLS)/venv/bin
STACK     := infra/stack.sh
FUNCTIONS := ingest-article publish-digest send-batch subscription-api ses-feedback

# Lambda builds only: static, no RPC runtime, stripped. `go test -race`
# needs cgo, so CGO_ENABLED=0 is set here and not exported.
GO_LAMBDA := CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -tags lambda.norpc -trimpath -ldflags='-s -w'

# Never reach AWS from here: SAM's telemetry and version check stay off.
export SAM_CLI_TELEMETRY := 0

# Fuzz budgets are execution counts, not durations. With a duration, Go
# 1.26's fuzz coordinator can report its own deadline as a failure ("context
# deadline exceeded", no crasher written) when it lands while a worker is
# mid-call on a loaded machine: go.dev/issue/75804, fixed in Go 1.27. A count
# has no deadline to race. Each default is roughly ten seconds' work on a
# 2-core machine; FUZZTIME=30s (or 1000000x) overrides all four.
FUZZ_ARTICLE ?= 4000x
FUZZ_TOKEN ?= 200000x
FUZZ_FEEDBACK ?= 100000x
FUZZ_TEMPLATEDATA ?= 60000x

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- tools

.PHONY: tools check-tools
tools: ## install the pinned local-stack tools outside the tree (idempotent)
	$(STACK) install

check-tools: ## fail if an installed tool differs from infra/versions.env
	$(STACK) check

# ---------------------------------------------------------------- build

.PHONY: functions gazette
functions: ## build every function's bootstrap into out/bin/<name>/
	@for f in $(FUNCTIONS); do echo "build $$f"; $(GO_LAMBDA) -o out/bin/$$f/bootstrap ./functions/$$f; done

gazette: ## build the operator CLI into out/bin/gazette
	go build -o out/bin/gazette ./cmd/gazette

# `sam build` (BuildMethod: makefile) runs these with ARTIFACTS_DIR set.
.PHONY: build-IngestArticleFunction build-PublishDigestFunction build-SendBatchFunction build-SubscriptionApiFunction build-SesFeedbackFunction
build-IngestArticleFunction:
	$(GO_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ingest-article
build-PublishDigestFunction:
	$(GO_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/publish-digest
build-SendBatchFunction:
	$(GO_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/send-batch
build-SubscriptionApiFunction:
	$(GO_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/subscription-api
build-SesFeedbackFunction:
	$(GO_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ses-feedback

# ---------------------------------------------------------------- checks

.PHONY: lint unit fuzz sam integration test
lint: ## gofmt, go vet, staticcheck
	@bad="$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'))"; \
	  if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

# Test output goes to out/test/*.log in full; the terminal gets the package
# lines, any failure's context, and a count.
TEST_LOGS := out/test

unit: ## unit tests with the race detector (integration tests skip)
	@mkdir -p $(TEST_LOGS); rc=0; go test -race -v ./... > $(TEST_LOGS)/unit.log 2>&1 || rc=$$?; \
	  grep -E '^(ok|FAIL|\?|panic:) ' $(TEST_LOGS)/unit.log || true; \
	  if [ $$rc -ne 0 ]; then grep -B3 -A25 -E -- '--- FAIL|^panic:|build failed' $(TEST_LOGS)/unit.log | head -300; fi; \
	  infra/test-summary.sh unit $(TEST_LOGS)/unit.log; exit $$rc

fuzz: ## run each fuzz target for its execution budget (FUZZ_*, or FUZZTIME for all)
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_ARTICLE)) ./internal/article
	go test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_TOKEN)) ./internal/token
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_FEEDBACK)) ./internal/feedback
	go test -run '^$$' -fuzz '^FuzzTemplateData$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_TEMPLATEDATA)) ./internal/sesmail

sam: tools ## sam validate --lint and sam build
	$(VENV_BIN)/sam validate --lint --region us-east-1
	$(VENV_BIN)/sam build --build-in-source --region us-east-1

# The integration tests (TestIntegration*) need the stack: it is started
# here and stopped whatever happens. GAZETTE_INTEGRATION=1 turns a missing
# emulator into a failure instead of a skip.
integration: tools functions gazette ## start the stack, run the integration tests, stop it
	@mkdir -p $(TEST_LOGS); trap '$(STACK) down' EXIT; \
	  $(STACK) up; rc=0; \
	  GAZETTE_INTEGRATION=1 go test -count=1 -p 1 -timeout 20m -v -run 'Integration' ./... > $(TEST_LOGS)/integration.log 2>&1 || rc=$$?; \
	  grep -E '^(ok|FAIL|panic:) |^--- ' $(TEST_LOGS)/integration.log || true; \
	  if [ $$rc -ne 0 ]; then grep -B3 -A25 -E -- '--- FAIL|^panic:|build failed' $(TEST_LOGS)/integration.log | head -300; fi; \
	  infra/test-summary.sh integration $(TEST_LOGS)/integration.log; exit $$rc

test: tools lint unit fuzz sam integration ## everything CI runs
	@infra/test-summary.sh tests $(TEST_LOGS)/unit.log $(TEST_LOGS)/integration.log

# ---------------------------------------------------------------- run

# sam local invoke against the local stack (infra/sam-local.sh). With a Docker engine it
# uses it and the stack of make stack-up; without one (CI), as root, it starts its own
# dockerd and stack in a private network namespace and leaves them up for the next invoke.
.PHONY: sam-local sam-local-stop
sam-local: tools ## sam build + sam local invoke: make sam-local FUNCTION=<LogicalId> EVENT=events/<file>.json
	@[[ -n "$(FUNCTION)" && -n "$(EVENT)" ]] || { echo "usage: make sam-local FUNCTION=IngestArticleFunction EVENT=events/ingest-article-s3-sqs.json"; exit 2; }
	infra/sam-local.sh $(FUNCTION) $(EVENT)

sam-local-stop: ## stop what make sam-local started without Docker (its stack, dockerd, namespace)
	infra/sam-local.sh stop

.PHONY: stack-up stack-down demo preview bench clean
stack-up: tools functions gazette ## start the local stack (moto, SES emulator, functions, API on :3000)
	$(STACK) up

stack-down: ## stop the local stack
	$(STACK) down

demo: tools functions gazette ## the whole pipeline on the local stack; KEEP=1 leaves it running
	@if [ -n "$(KEEP)" ]; then \
	  $(STACK) up && out/bin/gazette demo --keep; \
	else \
	  trap '$(STACK) down' EXIT; $(STACK) up; out/bin/gazette demo; \
	fi

preview: ## render an issue of the sample articles into out/ (HTML, text, eml, png)
	go run ./cmd/gazette preview --out out $$(ls infra/samples/0*)
	infra/screenshot.sh out/issue.html out/issue.png

bench: tools functions gazette ## benchmarks; the last lines are name value pairs
	go test -run '^$$' -bench . -benchmem ./internal/... ./cmd/gazette
	@mkdir -p $(TEST_LOGS); \
	  ( trap '$(STACK) down' EXIT; $(STACK) up; out/bin/gazette bench all > $(TEST_LOGS)/bench.txt ); \
	  cat $(TEST_LOGS)/bench.txt

clean: ## remove build output
	rm -rf out .aws-sam
