# drdrill: DR drills for a site-to-site IPsec VPN carrying MySQL/MariaDB replication.
# `make drill` runs the seed drill on the embedded lab; `make test` runs every test.
# Both install what is missing first (Debian packages, Go modules).

SHELL    := /bin/bash
GO       ?= go
BIN      := bin/drdrill
LAB      ?= /tmp/drdrill-lab
REPORT   ?= reports/vpn-outage
SCENARIO ?= vpn-outage
BACKEND  ?= netns

.PHONY: all deps build drill test test-short lab-up lab-down lab-status bench images compose-up compose-down vet fmt clean

all: build

deps:
	@scripts/deps.sh
	@$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/drdrill

drill: deps build
	$(BIN) run $(SCENARIO) --lab $(LAB) --report $(REPORT) --backend $(BACKEND)

# Unit tests (fakes, captured outputs) and lab tests (real strongSwan and
# MariaDB in network namespaces), then the seed drill on the docker backend
# when a Docker engine runs (images are built first; ~3 min the first time).
# Lab tests need root, as the lab does.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	@if docker info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory images && \
	  DRDRILL_BACKEND=docker $(GO) test -count=1 -timeout 10m -run '^TestVPNOutage(TargetFile)?$$' -v ./scenarios | grep -E '^(=== RUN|--- |PASS|FAIL|ok)'; \
	  [ $${PIPESTATUS[0]} = 0 ] || exit 1; \
	  DRDRILL_BACKEND=docker $(GO) test -count=1 -timeout 10m -run '^TestLabOverSSH$$' -v ./harness/lab | grep -E '^(=== RUN|--- |PASS|FAIL|ok)'; \
	  exit $${PIPESTATUS[0]}; \
	else echo "no Docker engine: the docker backend's drill is skipped"; fi

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
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./bench/ ./harness/preflight/ ./harness/journal/ ./harness/transport/sshhost/

# Local images for the docker backend (debootstrap base, no registry needed).
images:
	scripts/images.sh

compose-up:
	scripts/compose-lab.sh up

compose-down:
	scripts/compose-lab.sh down

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin reports
