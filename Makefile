# drdrill: DR drills for a site-to-site IPsec VPN carrying MySQL/MariaDB replication.
# `make drill` runs the seed drill on the embedded lab; `make test` runs every test.
# Both install what is missing first (Debian packages, Go modules).

GO       ?= go
BIN      := bin/drdrill
LAB      ?= /tmp/drdrill-lab
REPORT   ?= reports/vpn-outage
SCENARIO ?= vpn-outage
BACKEND  ?= netns

.PHONY: all deps build drill test test-short lab-up lab-down lab-status bench images vet fmt clean

all: build

deps:
	@scripts/deps.sh
	@$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/drdrill

drill: deps build
	$(BIN) run $(SCENARIO) --lab $(LAB) --report $(REPORT) --backend $(BACKEND)

# Unit tests (fakes, captured outputs) and lab tests (real strongSwan and
# MariaDB in network namespaces). Lab tests need root, as the lab does.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short ./...

lab-up: deps build
	$(BIN) lab up --lab $(LAB) --backend $(BACKEND)

lab-down: build
	$(BIN) lab down --lab $(LAB)

lab-status: build
	$(BIN) lab status --lab $(LAB)

# Lab up/down and drill wall times against the intrinsic waits and the shell
# recipe; catch-up rate. Benchmarks, never timed tests.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./bench/

images:
	scripts/images.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin reports
