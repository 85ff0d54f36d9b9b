package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kforge/kforge/internal/helper"
	"github.com/kforge/kforge/recipes"
)

// runGuest measures the assembly of kata-containers.img and
// kata-containers-initrd.img from the test guest's rootfs (already built,
// so that only the assembly step runs) against the plain tools on the same
// tree: mkfs.ext4 -d, and find | sort | cpio | gzip -9.
// imageRounds is how many times the image is assembled, and mkfs.ext4 -d
// run beside it.
const imageRounds = 5

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
	// The machine is noisy (a build VM's disk and page cache), so the image
	// is assembled in several rounds, each next to a run of mkfs.ext4 -d,
	// and the medians are compared. Each round gives the image another
	// freeSpace within the same 128 MiB step, so that its step runs again
	// with the same amount of work.
	text, err := os.ReadFile(recipe)
	if err != nil {
		return err
	}
	const imageLine = "  image: {rootfs: rootfs, builder: tools}"
	if !strings.Contains(string(text), imageLine) {
		return fmt.Errorf("%s has no line %q to vary the image's free space on", recipe, imageLine)
	}
	var image, imageStep, imageWork, mkfs, stepMkfs, hostImage []time.Duration
	var size int64
	for round := 0; round < imageRounds; round++ {
		// Round 0 is the recipe as it is, which the no-op rebuild below
		// finds cached.
		varied := string(text)
		if round > 0 {
			varied = strings.Replace(varied, imageLine, fmt.Sprintf("  image: {rootfs: rootfs, builder: tools, freeSpace: %d}", 40+round), 1)
		}
		if err := os.WriteFile(recipe, []byte(varied), 0o644); err != nil {
			return err
		}
		whole, progress, err := timedOutput(cmdEnv(f.env, kforge, "build", "-f", recipe, "--target", "image", "--progress", "plain", "-o", "type=local,dest="+filepath.Join(work, "image")))
		if err != nil {
			return err
		}
		// The image step alone: the assembly, without the client's
		// start and the export of the image to the output directory.
		step, err := stepDuration(progress, "[image] kata-containers.img from rootfs")
		if err != nil {
			return err
		}
		// What the helper itself took (scan to headers), without the
		// step's container start: the work that compares with
		// mkfs.ext4 -d.
		made := regexp.MustCompile(`kata-containers\.img made in (\d+\.\d+)s`).FindStringSubmatch(progress)
		if made == nil {
			return fmt.Errorf("the image step did not say how long it took")
		}
		secs, _ := strconv.ParseFloat(made[1], 64)
		image, imageStep = append(image, whole), append(imageStep, step)
		imageWork = append(imageWork, time.Duration(secs*float64(time.Second)))
		if size == 0 {
			st, err := os.Stat(filepath.Join(work, "image", "kata-containers.img"))
			if err != nil {
				return err
			}
			size = st.Size()
		}
		d, err := timed(cmdEnv(nil, "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", rootfs, filepath.Join(work, "plain.ext4"), fmt.Sprintf("%dM", size>>20)))
		if err != nil {
			return err
		}
		mkfs = append(mkfs, d)
		// mkfs.ext4 -d in a build step too: in the image's own environment,
		// over the same rootfs mounted the same way, timed inside the step
		// as the helper times itself. It writes into the step's root (an
		// overlay upper directory), the helper into an output mount: both
		// are directories under BuildKit's state, on the same disk.
		d, err = mkfsInStep(kforge, f, recipe, fmt.Sprintf("%dM", size>>20))
		if err != nil {
			return err
		}
		stepMkfs = append(stepMkfs, d)
		// kforge's assembly itself (the helper's DiskImage: scan, mke2fs,
		// fix-ups, inode times, check, headers) in the same place as
		// mkfs.ext4 -d: on the host, over the exported tree. The build
		// step's own cost (its mounts, the disk under BuildKit's state)
		// is in the rows above.
		d, err = hostDiskImage(recipe, rootfs, filepath.Join(work, "host-image"))
		if err != nil {
			return err
		}
		hostImage = append(hostImage, d)
	}
	if err := os.WriteFile(recipe, text, 0o644); err != nil {
		return err
	}
	initrd, err := kf("build", "-f", recipe, "--target", "initrd", "--progress", "quiet", "-o", "type=local,dest="+filepath.Join(work, "initrd"))
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
	base := median(mkfs)
	printRows(fmt.Sprintf("assembly of the test guest's image and initrd from its built rootfs (image: medians of %d rounds)", imageRounds), []row{
		{"kata-containers.img, kforge's assembly on the host (goal <= 1.2)", median(hostImage), base},
		{"kata-containers.img, the helper's work in its build step (vs mkfs.ext4 -d in a build step)", median(imageWork), median(stepMkfs)},
		{"kata-containers.img, the helper's work in its build step", median(imageWork), base},
		{"kata-containers.img, the whole build step", median(imageStep), base},
		{"kata-containers.img, whole kforge build with export", median(image), base},
		{"kata-containers-initrd.img (vs find|sort|cpio|gzip -9)", initrd, cpio},
		{"no-op rebuild of 5 guest targets (goal <= 2 s; vs 2 s)", noop, 2 * time.Second},
	})
	return nil
}

// mkfsInStep runs mkfs.ext4 -d over the rootfs target in a step of the
// image's environment (kforge run) and returns the time the step measured.
func mkfsInStep(kforge string, f *fixture, recipe, size string) (time.Duration, error) {
	script := `s=$(date +%s%N); mkfs.ext4 -q -F -b 4096 -d /rootfs /tmp/plain.ext4 "$1"; e=$(date +%s%N); echo "mkfs-ns $((e - s))"`
	_, out, err := timedOutput(cmdEnv(f.env, kforge, "run", "-f", recipe, "--target", "tools", "--mount", "rootfs:/rootfs", "--progress", "quiet",
		"--", "sh", "-c", script, "sh", size))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`mkfs-ns (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("mkfs.ext4 -d in a build step printed no time: %s", out)
	}
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	return time.Duration(ns), nil
}

// hostDiskImage runs the image step's assembly (helper.DiskImage, with the
// recipe's options for its image "image") on the host over the exported
// rootfs, and times it.
func hostDiskImage(recipe, rootfs, out string) (time.Duration, error) {
	r, err := recipes.Load(recipe)
	if err != nil {
		return 0, err
	}
	img := r.Images["image"]
	stage, err := os.MkdirTemp("", "kforge-bench-stage-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(stage)
	os.Remove(out)
	fmt.Fprintf(os.Stderr, "bench: helper.DiskImage %s -> %s\n", rootfs, out)
	start := time.Now()
	err = helper.DiskImage(rootfs, out, helper.DiskImageOptions{Epoch: r.SourceDateEpoch, SizeMiB: img.Size, FreeMiB: img.FreeSpace, DAX: img.DAXOrDefault(), Stage: stage}, os.Stderr)
	return time.Since(start), err
}
