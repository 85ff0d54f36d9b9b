package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
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
	image, progress, err := timedOutput(cmdEnv(f.env, kforge, "build", "-f", recipe, "--target", "image", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(work, "image")))
	if err != nil {
		return err
	}
	// The image step alone: the assembly, without the client's start and
	// the export of the image to the output directory.
	imageStep, err := stepDuration(progress, "[image] kata-containers.img from rootfs")
	if err != nil {
		return err
	}
	// What the helper itself took (scan to headers), without the step's
	// container start: the work that compares with mkfs.ext4 -d.
	made := regexp.MustCompile(`kata-containers\.img made in (\d+\.\d+)s`).FindStringSubmatch(progress)
	if made == nil {
		return fmt.Errorf("the image step did not say how long it took")
	}
	secs, _ := strconv.ParseFloat(made[1], 64)
	imageWork := time.Duration(secs * float64(time.Second))
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
	// The systemd guest too, then a no-op rebuild of every target but the
	// kernel (the kernel suite measures its own no-op rebuild).
	for _, target := range []string{"systemd", "image-systemd"} {
		if _, err := kf("build", "-f", recipe, "--target", target, "--progress", "quiet"); err != nil {
			return err
		}
	}
	var noop time.Duration
	for _, target := range []string{"rootfs", "systemd", "image", "image-systemd", "initrd"} {
		d, err := kf("build", "-f", recipe, "--target", target, "--progress", "quiet")
		if err != nil {
			return err
		}
		noop += d
	}
	printRows("assembly of the test guest's image and initrd from its built rootfs", []row{
		{"kata-containers.img, the helper's work (goal <= 1.2)", imageWork, mkfs},
		{"kata-containers.img, the whole build step", imageStep, mkfs},
		{"kata-containers.img, whole kforge build with export", image, mkfs},
		{"kata-containers-initrd.img (vs find|sort|cpio|gzip -9)", initrd, cpio},
		{"no-op rebuild of 5 guest targets (goal <= 2 s; vs 2 s)", noop, 2 * time.Second},
	})
	return nil
}
