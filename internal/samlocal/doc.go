// Package samlocal holds the integration test of `sam local invoke`: every
// function, run by SAM CLI in a container with its sample event from events/,
// against the local stack's emulators, with its side effects checked.
//
// The work is done by infra/sam-local.sh (see its header and the README). On a
// machine without a Docker engine (CI), run as root, the script installs
// Debian's docker.io and busybox-static, creates a network namespace with only
// loopback, starts a private dockerd in it (Docker's bridge exists only
// there), builds a busybox stand-in for SAM's base image
// public.ecr.aws/lambda/provided:al2023-x86_64 (nothing can be pulled), and
// starts a local stack of its own inside the namespace, its emulators
// listening on the namespace's loopback and bridge address. SAM runs inside
// the namespace too, so nothing leaves the machine.
//
// The test is self-contained: it brings up its own namespace ("gazette-samtest"),
// dockerd and stack with state in a temporary directory, runs its checks from
// inside the namespace (it re-executes its own test binary there through
// `infra/sam-local.sh exec`), and tears everything down. Under plain `go test`
// it skips; GAZETTE_INTEGRATION=1 (make test) runs it, and then a Docker engine
// that cannot be started is a failure.
//
// The package has no code of its own besides this documentation.
package samlocal
