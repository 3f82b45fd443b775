# The README's commands. 'make test' is what CI runs (via .ci/run).
.PHONY: test demo deps bench build install uninstall

# Where 'make install' puts things (docs/operations.md): the binary in
# $(PREFIX)/bin, the shipped scripts and the examples in $(PREFIX)/share/vmlua.
# DESTDIR stages an install for a package.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
SHAREDIR = $(DESTDIR)$(PREFIX)/share/vmlua

# Installs the real servers the integration tests start (as root), then runs
# every test with the race detector.
test: deps
	go test -race -count=1 -timeout 40m ./...

deps:
	@if [ "$$(id -u)" = 0 ]; then bash .ci/install-deps; else echo "not root: assuming the test servers' packages are installed (see .ci/install-deps)"; fi

demo:
	go run ./cmd/vmlua demo

build:
	go build -trimpath -o vmlua ./cmd/vmlua

# Replaces the binary and the shipped scripts and examples under $(PREFIX)
# (they are the package's, not yours: adapt copies made with
# 'vmlua scripts export DIR', which never overwrites).
install:
	install -d $(BINDIR)
	go build -trimpath -o $(BINDIR)/.vmlua.new ./cmd/vmlua
	mv -f $(BINDIR)/.vmlua.new $(BINDIR)/vmlua
	install -d $(SHAREDIR)/scripts $(SHAREDIR)/examples
	install -m 0644 scripts/*.lua $(SHAREDIR)/scripts/
	install -m 0644 examples/*.lua $(SHAREDIR)/examples/

uninstall:
	rm -f $(BINDIR)/vmlua
	rm -rf $(SHAREDIR)
