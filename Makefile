# kforge: make build | deps | run | test | bench | schema
GO      ?= go
BIN     := bin
KFORGE  := $(BIN)/kforge
# The version of BuildKit that kforge links against is the one its managed
# daemon runs: both come from go.mod.
BUILDKIT_PKGS := github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
GO_SOURCES := $(shell find . -name '*.go' -not -path './.cache/*') $(wildcard llb/scripts/*) go.mod go.sum

.PHONY: build deps test-deps buildx install-debs qemu-igb e2fsprogs-tarball run test unit bench schema clean

build: $(KFORGE) $(BIN)/buildkitd $(BIN)/buildctl

# kforge is static: it also runs inside build steps, which have no C library.
$(KFORGE): $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/kforge

$(BIN)/buildkitd $(BIN)/buildctl: go.mod go.sum
	$(GO) build -o $(BIN)/ $(BUILDKIT_PKGS)

# Host packages: runc for buildkitd, Debian's archive keyring for kforge
# lock, QEMU to boot what kforge builds. Installs only what is missing.
DEB_DEPS := runc debian-archive-keyring qemu-system-x86 ca-certificates
# Only the tests need these: a static test init (gcc, libc6-dev); an
# independent run of the kernel's merge_config.sh on the host, to check that
# kforge's merge gives the same .config; patchelf for the dist-format
# toolchain a test assembles; unshare and ip for a build with no network;
# e2fsprogs, fdisk and parted to check the image writers against the tools;
# podman, a real container runtime for container images; tinyproxy, a real
# proxy for the proxied farm's tests.
TEST_DEB_DEPS := flex bison bc gcc libc6-dev make xz-utils patchelf util-linux iproute2 e2fsprogs fdisk parted podman tinyproxy
deps:
	@$(MAKE) --no-print-directory install-debs DEBS="$(DEB_DEPS)"

test-deps: deps qemu-igb $(BIN)/registry $(BIN)/oras buildx $(BIN)/gotestsum
	@$(MAKE) --no-print-directory install-debs DEBS="$(TEST_DEB_DEPS)"
	@$(MAKE) --no-print-directory e2fsprogs-tarball

# Boot tests with igb NICs (recipes/kata-tsn.yaml) need QEMU 8 or newer:
# Debian 12 has 7.2, bookworm-backports has 10.0. This adds the backports
# source (once) and installs its QEMU when the one present is older.
BACKPORTS_SOURCES := /etc/apt/sources.list.d/kforge-bookworm-backports.sources
ADD_BACKPORTS := grep -rqs '^Suites:.*bookworm-backports' /etc/apt/sources.list.d/ || printf '%s\n' 'Types: deb' \
	'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' 'Components: main' \
	'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > $(BACKPORTS_SOURCES)
qemu-igb:
	@v=$$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p'); \
	if [ -z "$$v" ] || [ "$$v" -lt 8 ]; then \
		echo "QEMU $${v:-none} has no igb device: installing QEMU from bookworm-backports"; \
		$(ADD_BACKPORTS); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-system-x86 || exit 1; \
	fi; qemu-system-x86_64 --version | head -n1

# The image writer's tests fill images with mke2fs -d from the tree and from
# a tarball, which need mke2fs 1.47.1 or later (Debian 12 has 1.47.0,
# bookworm-backports 1.47.2), and libarchive, which mke2fs loads to read a
# tarball.
MKE2FS_VERSION := mke2fs -V 2>&1 | sed -n 's/^mke2fs \([0-9.]*\).*/\1/p'
e2fsprogs-tarball:
	@v=$$($(MKE2FS_VERSION)); \
	if ! dpkg --compare-versions "$${v:-0}" ge 1.47.1 || ! dpkg-query -W -f='$${Status}\n' libarchive13 2>/dev/null | grep -q 'install ok installed'; then \
		echo "mke2fs $${v:-none} cannot read a tarball: installing e2fsprogs from bookworm-backports and libarchive13"; \
		$(ADD_BACKPORTS); \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports e2fsprogs && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libarchive13 || exit 1; \
	fi; v=$$($(MKE2FS_VERSION)); \
	dpkg --compare-versions "$${v:-0}" ge 1.47.1 || { echo "mke2fs $${v:-none} is still older than 1.47.1" >&2; exit 1; }; echo "mke2fs $$v"

# A real registry and an independent OCI client for the artifact tests: what
# kforge pushes is checked by another implementation than its own. Built
# only when missing, at fixed versions.
$(BIN)/registry:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/distribution/distribution/v3/cmd/registry@v3.1.2

$(BIN)/oras:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install oras.land/oras/cmd/oras@v1.3.6

# gotestsum prints each test as it ends, with its time, so that a long run
# shows where it is; a failed test's output follows it.
$(BIN)/gotestsum:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install gotest.tools/gotestsum@v1.13.0

# docker buildx, the client most build farms drive BuildKit with, at the
# release whose go.mod has kforge's BuildKit; installed as the docker CLI's
# plugin (docker buildx ...) under $(DOCKER_CONFIG), ~/.docker by default.
# Its remote driver talks to kforge's buildkitd; no Docker engine is needed.
BUILDX_VERSION := v0.38.2
DOCKER_CONFIG ?= $(HOME)/.docker
$(BIN)/docker-buildx:
	GOBIN=$(CURDIR)/$(BIN)/.buildx $(GO) install -ldflags "-X github.com/docker/buildx/version.Version=$(BUILDX_VERSION)" github.com/docker/buildx/cmd/buildx@$(BUILDX_VERSION)
	mv $(BIN)/.buildx/buildx $@ && rmdir $(BIN)/.buildx

buildx: $(BIN)/docker-buildx
	@mkdir -p $(DOCKER_CONFIG)/cli-plugins
	@cmp -s $(BIN)/docker-buildx $(DOCKER_CONFIG)/cli-plugins/docker-buildx || cp $(BIN)/docker-buildx $(DOCKER_CONFIG)/cli-plugins/docker-buildx
	@echo "docker buildx: $$(docker buildx version)"

install-debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The main job: the builder environment of the built-in recipe, checked by
# running its tools with the network off; the Kata guest kernel of
# recipes/kata-kernel.yaml, installed under Kata's names in out/kata-kernel;
# then a guest image and initrd booted with that kernel as an NVDIMM, as a
# virtio-blk disk and as an initrd, by the boot tests of a recipe (reports
# in out/test/). Kata's own agent comes from its release files, which only a
# mirror can serve here: with MIRROR=DIR (filled by `kforge mirror sync -f
# recipes/kata-kernel.yaml DIR`) the guest is kata-kernel.yaml's own;
# without it, the test guest of testdata/recipes/rust/guest.yaml, whose
# agent is the test program.
MIRROR ?=
run: deps build
	$(KFORGE) build -f recipes/builder.yaml --target builder -o type=local,dest=out/builder
	$(KFORGE) run -f recipes/builder.yaml --target builder -- \
		sh -c 'gcc --version | head -n1; make --version | head -n1; flex --version; bison --version | head -n1'
	$(KFORGE) build -f recipes/kata-kernel.yaml --target kernel -o type=local,dest=out/kata-kernel
	ls -l out/kata-kernel
	cat out/kata-kernel/config-report-*.txt
ifneq ($(MIRROR),)
	$(KFORGE) test -f recipes/kata-kernel.yaml --mirror $(MIRROR) --quiet
else
	rm -rf out/test-guest && mkdir -p out && cp -a testdata/recipes/rust out/test-guest && cp -a recipes/fragments out/test-guest/
	$(KFORGE) lock -f out/test-guest/guest.yaml
	$(KFORGE) test -f out/test-guest/guest.yaml --quiet
endif

# Unit and end-to-end tests; the end-to-end ones start a real buildkitd.
test: test-deps build
	KFORGE_BUILDKITD=$(CURDIR)/$(BIN)/buildkitd $(BIN)/gotestsum --format testname -- -count=1 -timeout 85m ./...

unit:
	$(GO) test -count=1 -short ./...

# Timings against the plain tools, as ratios measured in one run: the
# builder environment against debootstrap, the Kata kernel against a native
# make, the test agent's rebuilds against native cargo, the guest's image
# and initrd assembly against mkfs.ext4 -d and cpio, and the image's push
# and pull against oras through a Distribution registry, and a no-op rebuild
# through docker buildx and the frontend against kforge build, and
# kata_tsn_image against debootstrap plus apt-get install of its packages,
# and a farm's second node building the test guest from the first node's
# registry cache against the first node's cold build.
# BENCH=environment, kernel, agent, guest, registry, frontend, farm or tsn runs one suite.
BENCH ?= all
bench: deps build $(BIN)/registry $(BIN)/oras $(BIN)/docker-buildx
	$(GO) run ./bench -suite $(BENCH) -kforge $(CURDIR)/$(KFORGE) -buildkitd $(CURDIR)/$(BIN)/buildkitd \
		-registry $(CURDIR)/$(BIN)/registry -oras $(CURDIR)/$(BIN)/oras -buildx $(CURDIR)/$(BIN)/docker-buildx

# Regenerates the JSON Schema of the recipe format from the Go types.
schema:
	$(GO) run ./recipes/schemagen > recipes/schema.json

clean:
	rm -rf $(BIN) out
