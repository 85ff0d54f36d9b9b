package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// runGuest measures the assembly of kata-containers.img and
// kata-containers-initrd.img from the test guest's rootfs (already built,
// so that only the assembly step runs) against the plain tools on the same
// tree: mkfs.ext4 -d, and find | sort | cpio | gzip -9.
func runGuest(kforge, buildkitd, fixtures string) error {
	if err := sh("apt-get", "install", "-y", "-qq", "cpio", "e2fsprogs"); err != nil {
		return err
	}
	f, err := lockedFixture(kforge, buildkitd, filepath.Join(fixtures, "rust"), "guest.yaml")
	if err != nil {
		return err
	}
	defer f.close()
	work, recipe, kf := f.work, f.recipe, f.kforge
	rootfs := filepath.Join(work, "rootfs")
	if _, err := kf("build", "-f", recipe, "--target", "rootfs", "--progress", "quiet", "-o", "type=local,dest="+rootfs); err != nil {
		return err
	}
	// The image's environment too, so that only the assembly is timed.
	if _, err := kf("build", "-f", recipe, "--target", "tools", "--progress", "quiet"); err != nil {
		return err
	}
	image, err := kf("build", "-f", recipe, "--target", "image", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "image"))
	if err != nil {
		return err
	}
	initrd, err := kf("build", "-f", recipe, "--target", "initrd", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "initrd"))
	if err != nil {
		return err
	}
	st, err := os.Stat(filepath.Join(work, "image", "kata-containers.img"))
	if err != nil {
		return err
	}
	mkfs, err := timed(cmdEnv(nil, "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", rootfs, filepath.Join(work, "plain.ext4"), fmt.Sprintf("%dM", st.Size()>>20)))
	if err != nil {
		return err
	}
	cpio, err := timed(cmdEnv(nil, "bash", "-c", `set -euo pipefail; cd "$1"; find . | LC_ALL=C sort | cpio --quiet -o -H newc | gzip -9 > "$2"`,
		"bash", rootfs, filepath.Join(work, "plain-initrd.img")))
	if err != nil {
		return err
	}
	printRows("assembly of the test guest's image and initrd from its built rootfs", []row{
		{"kata-containers.img (vs mkfs.ext4 -d on the same tree)", image, mkfs},
		{"kata-containers-initrd.img (vs find|sort|cpio|gzip -9)", initrd, cpio},
	})
	return nil
}
