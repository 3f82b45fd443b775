# The README's commands. 'make test' is what CI runs (via .ci/run).
.PHONY: test demo deps bench

# Installs the real servers the integration tests start (as root), then runs
# every test with the race detector.
test: deps
	go test -race -count=1 -timeout 40m ./...

deps:
	@if [ "$$(id -u)" = 0 ]; then bash .ci/install-deps; else echo "not root: assuming the test servers' packages are installed (see .ci/install-deps)"; fi

demo:
	go run ./cmd/vmlua demo
