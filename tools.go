//go:build tools

// Package tools pins the executables that the Makefile builds from this module's
// dependency graph (buildkitd and buildctl), so that the daemon kforge manages is
// always the BuildKit version that go.mod names.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
