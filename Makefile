# Switchyard build, test and maintenance targets.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s

NPM_DIR        := test/npm
EVERYTHING_JS  := $(CURDIR)/$(NPM_DIR)/node_modules/@modelcontextprotocol/server-everything/dist/index.js

.DEFAULT_GOAL := build

.PHONY: build run test npm-deps bench fuzz lint clean bench-routing

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/switchyard ./cmd/switchyard
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/testserver ./cmd/testserver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/confserver ./cmd/confserver

run: build
	bin/switchyard serve --config examples/switchyard.yaml

# The servers the tests run, built by build and installed by npm-deps.
TEST_ENV := SWITCHYARD_TESTSERVER=$(CURDIR)/bin/testserver \
	SWITCHYARD_CONFSERVER=$(CURDIR)/bin/confserver \
	SWITCHYARD_EVERYTHING=$(EVERYTHING_JS)

test: build npm-deps
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 14m ./...
	@# Every benchmark once, so that none rots between measurements.
	$(TEST_ENV) $(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# npm ci runs when node_modules is missing or older than package-lock.json.
# npm writes node_modules/.package-lock.json at the end of every install.
npm-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "warning: npm not found; skipping $(NPM_DIR) install, tests that need server-everything will skip" >&2; \
	elif [ ! -f $(NPM_DIR)/node_modules/.package-lock.json ] || \
	     [ $(NPM_DIR)/package-lock.json -nt $(NPM_DIR)/node_modules/.package-lock.json ]; then \
		echo "cd $(NPM_DIR) && npm ci --no-audit --no-fund"; \
		cd $(NPM_DIR) && npm ci --no-audit --no-fund; \
	fi

bench: build npm-deps
	$(TEST_ENV) $(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./transports
	$(GO) test -run '^$$' -fuzz '^FuzzMuxDispatch$$' -fuzztime $(FUZZTIME) ./transports
	$(GO) test -run '^$$' -fuzz '^FuzzParseMessage$$' -fuzztime $(FUZZTIME) ./transports
	$(GO) test -run '^$$' -fuzz '^FuzzA2AResult$$' -fuzztime $(FUZZTIME) ./transports
	$(GO) test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME) ./schema
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./schema
	$(GO) test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./internal/jsonx
	$(GO) test -run '^$$' -fuzz '^FuzzMembers$$' -fuzztime $(FUZZTIME) ./internal/jsonx
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzHS256Verify$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run '^$$' -fuzz '^FuzzJWKSVerify$$' -fuzztime $(FUZZTIME) ./auth

lint:
	@if command -v golangci-lint >/dev/null 2>&1; then \
		golangci-lint run ./...; \
	else \
		echo "golangci-lint is not installed; install it with:"; \
		echo "  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest"; \
	fi

clean:
	rm -rf bin
	rm -f *.test *.out *.prof

bench-routing: build
	$(GO) run ./cmd/loadgen -bin bin -c 1,32,256 -d 5s
