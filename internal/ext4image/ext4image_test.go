package ext4image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testEpoch = 1700000000 // 2023-11-14

func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Skipf("%s (e2fsprogs) not installed", name)
	return ""
}

// eachMethod runs a test once for each way of filling the filesystem. The
// tarball one needs e2fsprogs 1.47.1 or later on the host: `make test`
// installs it from bookworm-backports, so its absence fails the test.
func eachMethod(t *testing.T, test func(t *testing.T, method string)) {
	requireTools(t)
	for _, m := range []string{MethodDirectory, MethodTarball, MethodDebugfs} {
		t.Run(m, func(t *testing.T) {
			if m != MethodDebugfs {
				p, err := findTools()
				if err != nil || !p.tarball {
					t.Fatalf("mkfs.ext4 is e2fsprogs %s, which cannot fill an image from a tarball: install e2fsprogs 1.47.1 or later (apt-get install -t bookworm-backports e2fsprogs libarchive13)", p.version)
				}
			}
			test(t, m)
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func requireTools(t testing.TB) {
	tool(t, "mkfs.ext4")
	tool(t, "debugfs")
	tool(t, "e2fsck")
}

// staging mounts a tmpfs for the scratch files when the test runs as root,
// as a build step would be given one, and falls back to a plain directory.
func staging(t testing.TB) string {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Logf("no tmpfs staging (%v); using %s", err, dir)
		return dir
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// spec is one entry of a test tree.
type spec struct {
	path    string
	kind    byte // 'f' file, 'd' dir, 'l' symlink, 'h' hard link to target, 'p' fifo, 'c' char device
	data    string
	target  string // symlink target, or hard link source
	mode    os.FileMode
	uid     int
	gid     int
	mtime   time.Time
	xattr   string // user.test value
	acl     bool   // a POSIX access ACL granting uid 1000 read
	fcap    bool   // a file capability: cap_net_raw+ep
	rdevMaj uint32
	rdevMin uint32
}

var (
	oldTime    = time.Unix(testEpoch-86400*30, 123456789)
	futureTime = time.Unix(testEpoch+86400*400, 987654321)
)

// fcapValue is struct vfs_cap_data, revision 2, effective, permitting
// CAP_NET_RAW (13).
var fcapValue = []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

func testSpecs() []spec {
	long := strings.Repeat("long-target/", 8) + "end"
	rnd := rand.New(rand.NewSource(1))
	blob := make([]byte, 300*1024)
	rnd.Read(blob)
	for i := 8192; i < 3*8192; i++ { // an all-zero stretch, left as a hole
		blob[i] = 0
	}
	specs := []spec{
		{path: "a", kind: 'd', mode: 0o755, mtime: oldTime},
		{path: "a/b", kind: 'd', mode: 0o750, mtime: futureTime},
		{path: "a/hello", kind: 'f', data: "hello\n", mode: 0o644, mtime: oldTime, xattr: "greeting"},
		{path: "a/b/data", kind: 'f', data: string(blob), mode: 0o600, mtime: futureTime},
		{path: "a/link", kind: 'l', target: "hello", mtime: oldTime},
		{path: "a/longlink", kind: 'l', target: long, mtime: oldTime},
		{path: "a/hl1", kind: 'f', data: "linked\n", mode: 0o644, mtime: oldTime},
		{path: "a/acl", kind: 'f', data: "acl\n", mode: 0o644, mtime: oldTime, acl: true},
		{path: "a/ping", kind: 'f', data: "\x7fELF", mode: 0o755, mtime: oldTime, fcap: true},
		{path: "a/b/hl2", kind: 'h', target: "a/hl1"},
		{path: "empty", kind: 'd', mode: 0o700, mtime: oldTime},
		{path: "sbin", kind: 'd', mode: 0o755, mtime: oldTime},
		{path: "sbin/su", kind: 'f', data: "#!/bin/sh\n", mode: 0o755 | os.ModeSetuid, mtime: oldTime},
		{path: "shared", kind: 'd', mode: 0o775 | os.ModeSetgid, gid: 50, mtime: oldTime},
		{path: "tmp", kind: 'd', mode: 0o777 | os.ModeSticky, mtime: oldTime},
		{path: "home", kind: 'd', mode: 0o755, mtime: oldTime},
		{path: "home/user", kind: 'd', mode: 0o700, uid: 1000, gid: 1000, mtime: oldTime},
		{path: "home/user/file", kind: 'f', data: "mine\n", mode: 0o640, uid: 1000, gid: 1000, mtime: futureTime},
		{path: "dev", kind: 'd', mode: 0o755, mtime: oldTime},
		{path: "dev/fifo", kind: 'p', mode: 0o620, mtime: oldTime},
		{path: "dev/null", kind: 'c', mode: 0o666, rdevMaj: 1, rdevMin: 3, mtime: oldTime},
		{path: "odd", kind: 'd', mode: 0o755, mtime: oldTime},
		{path: `odd/quo"te and space`, kind: 'f', data: "q", mode: 0o644, mtime: oldTime},
		{path: "odd/-dash", kind: 'f', data: "d", mode: 0o644, mtime: oldTime, xattr: "dash"},
		{path: "odd/<5>", kind: 'f', data: "i", mode: 0o644, mtime: oldTime},
		{path: "odd/ünïcödé", kind: 'f', data: "u", mode: 0o644, mtime: oldTime},
		{path: "big", kind: 'd', mode: 0o755, mtime: oldTime},
	}
	// Enough long names to take several directory blocks, with hard links
	// among them so that links land in full blocks.
	for i := 0; i < 120; i++ {
		p := fmt.Sprintf("big/%03d-%s", i, strings.Repeat("x", 100))
		if i%17 == 5 {
			specs = append(specs, spec{path: p, kind: 'h', target: "a/hello"})
			continue
		}
		specs = append(specs, spec{path: p, kind: 'f', data: strconv.Itoa(i), mode: 0o644, mtime: oldTime})
	}
	return specs
}

// makeTree creates specs under root in the given order (parents are made
// first whatever the order), with atimes that depend on seed, then sets the
// directories' mtimes.
func makeTree(t *testing.T, root string, specs []spec, reverse bool, seed int64) (xattrs bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making the test tree (owners, device nodes) needs root; the package does not")
	}
	order := append([]spec(nil), specs...)
	sort.SliceStable(order, func(i, j int) bool {
		if reverse {
			return order[i].path > order[j].path
		}
		return order[i].path < order[j].path
	})
	// Directories first (in the chosen order, parents before children).
	dirs := []spec{}
	for _, s := range order {
		if s.kind == 'd' {
			dirs = append(dirs, s)
		}
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i].path, "/") < strings.Count(dirs[j].path, "/")
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range dirs {
		must(os.Mkdir(filepath.Join(root, s.path), 0o755))
	}
	// Hard links need their source: make plain entries, then links.
	for pass := 0; pass < 2; pass++ {
		for _, s := range order {
			p := filepath.Join(root, s.path)
			switch {
			case pass == 0 && s.kind == 'f':
				must(os.WriteFile(p, []byte(s.data), 0o600))
			case pass == 0 && s.kind == 'l':
				must(os.Symlink(s.target, p))
			case pass == 0 && s.kind == 'p':
				must(unix.Mkfifo(p, 0o600))
			case pass == 0 && s.kind == 'c':
				must(unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(s.rdevMaj, s.rdevMin))))
			case pass == 1 && s.kind == 'h':
				must(os.Link(filepath.Join(root, s.target), p))
			}
		}
	}
	rnd := rand.New(rand.NewSource(seed))
	xattrs = true
	for _, s := range order {
		p := filepath.Join(root, s.path)
		if s.kind == 'h' {
			continue
		}
		must(os.Lchown(p, s.uid, s.gid))
		if s.kind != 'l' {
			must(os.Chmod(p, s.mode))
		}
		if s.xattr != "" {
			if err := unix.Lsetxattr(p, "user.test", []byte(s.xattr), 0); err != nil {
				xattrs = false
			}
		}
		if s.fcap {
			if err := unix.Lsetxattr(p, "security.capability", fcapValue, 0); err != nil {
				t.Fatalf("security.capability: %v", err)
			}
		}
		if s.acl {
			// user::rw- user:1000:r-- group::r-- mask::r-- other::r--,
			// which keeps mode 0644.
			v := []byte{2, 0, 0, 0}
			for _, e := range [][3]uint32{{1, 6, ^uint32(0)}, {2, 4, 1000}, {4, 4, ^uint32(0)}, {0x10, 4, ^uint32(0)}, {0x20, 4, ^uint32(0)}} {
				v = append(v, byte(e[0]), byte(e[0]>>8), byte(e[1]), byte(e[1]>>8),
					byte(e[2]), byte(e[2]>>8), byte(e[2]>>16), byte(e[2]>>24))
			}
			if err := unix.Lsetxattr(p, "system.posix_acl_access", v, 0); err != nil {
				t.Logf("no ACL: %v", err)
			}
		}
		if s.kind != 'd' {
			atime := time.Unix(testEpoch-rnd.Int63n(1e8), rnd.Int63n(1e9))
			ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(s.mtime.UnixNano())}
			must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		s := dirs[i]
		atime := time.Unix(testEpoch-rnd.Int63n(1e8), 0)
		must(os.Chtimes(filepath.Join(root, s.path), atime, s.mtime))
	}
	must(os.Chmod(root, 0o755))
	must(os.Chtimes(root, time.Unix(testEpoch-rnd.Int63n(1e8), 0), oldTime))
	return xattrs
}

func build(t *testing.T, src string, opt Options) (string, Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rootfs.img")
	res, err := Build(src, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

func build1(t *testing.T, src string, opt Options) string {
	t.Helper()
	img, _ := build(t, src, opt)
	return img
}

// checkSuperblocks checks that every superblock copy has its times at the
// epoch and a valid checksum.
func checkSuperblocks(t *testing.T, img string, epoch int64) {
	t.Helper()
	sb, err := readSuperblock(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	groups := (sb.blocks - sb.firstDataBlock + sb.blocksPerGroup - 1) / sb.blocksPerGroup
	copies := 0
	for g := int64(0); g < groups; g++ {
		if !sb.hasSuper(g) {
			continue
		}
		off := int64(1024)
		if g > 0 {
			off = (sb.firstDataBlock + g*sb.blocksPerGroup) * sb.blockSize
		}
		b := make([]byte, sbSize)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		if le.Uint16(b[sbMagic:]) != ext4Magic {
			t.Errorf("group %d: no superblock copy", g)
			continue
		}
		copies++
		for _, off := range []int{sbWtime, sbMkfsTime, sbLastcheck} {
			if got := le.Uint32(b[off:]); got != uint32(epoch) {
				t.Errorf("group %d: time at %#x is %d, want %d", g, off, got, epoch)
			}
		}
		if le.Uint32(b[sbChecksum:]) != ^crc32.Checksum(b[:sbChecksum], castagnoli) {
			t.Errorf("group %d: bad superblock checksum", g)
		}
	}
	t.Logf("%s: %d superblock copies in %d groups", filepath.Base(filepath.Dir(img)), copies, groups)
}

func fsck(t *testing.T, img string) {
	t.Helper()
	out, err := exec.Command(tool(t, "e2fsck"), "-fn", img).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

func debugfs(t *testing.T, img string, cmds ...string) string {
	t.Helper()
	args := []string{}
	for _, c := range cmds {
		args = append(args, "-R", c)
	}
	if len(cmds) > 1 {
		f := filepath.Join(t.TempDir(), "cmds")
		if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = []string{"-f", f}
	}
	cmd := exec.Command(tool(t, "debugfs"), append(args, img)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs %v: %v\n%s", cmds, err, stderr.String())
	}
	return stdout.String()
}

type inodeInfo struct {
	ino, links, uid, gid int
	typ                  string
	mode                 int // permission bits with setuid/setgid/sticky
	times                map[string][2]uint32
	fastLink, device     string
}

var (
	statInodeRE = regexp.MustCompile(`Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)`)
	statUserRE  = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
	statLinksRE = regexp.MustCompile(`Links: (\d+)`)
	statTimeRE  = regexp.MustCompile(`(?m)^\s*(ctime|atime|mtime|crtime): 0x([0-9a-f]+):([0-9a-f]+)`)
	statFastRE  = regexp.MustCompile(`Fast link dest: "(.*)"`)
	statDevRE   = regexp.MustCompile(`Device major/minor number: ([0-9a-f]+:[0-9a-f]+)`)
)

func statImage(t *testing.T, img, path string) inodeInfo {
	t.Helper()
	out := debugfs(t, img, "stat "+quote(path))
	m := statInodeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stat %s: %s", path, out)
	}
	var in inodeInfo
	in.ino, _ = strconv.Atoi(m[1])
	in.typ = m[2]
	mode, _ := strconv.ParseInt(m[3], 8, 32)
	in.mode = int(mode)
	u := statUserRE.FindStringSubmatch(out)
	in.uid, _ = strconv.Atoi(u[1])
	in.gid, _ = strconv.Atoi(u[2])
	l := statLinksRE.FindStringSubmatch(out)
	in.links, _ = strconv.Atoi(l[1])
	in.times = map[string][2]uint32{}
	for _, tm := range statTimeRE.FindAllStringSubmatch(out, -1) {
		a, _ := strconv.ParseUint(tm[2], 16, 32)
		b, _ := strconv.ParseUint(tm[3], 16, 32)
		in.times[tm[1]] = [2]uint32{uint32(a), uint32(b)}
	}
	if f := statFastRE.FindStringSubmatch(out); f != nil {
		in.fastLink = f[1]
	}
	if d := statDevRE.FindStringSubmatch(out); d != nil {
		in.device = d[1]
	}
	return in
}

func TestReproducible(t *testing.T) { eachMethod(t, testReproducible) }

func testReproducible(t *testing.T, method string) {
	specs := testSpecs()
	srcA, srcB := t.TempDir(), t.TempDir()
	xa := makeTree(t, srcA, specs, false, 1)
	xb := makeTree(t, srcB, specs, true, 2)
	if xa != xb {
		t.Fatal("xattr support differs between the trees")
	}
	opt := Options{Epoch: testEpoch, Label: "rootfs", AlignBytes: 16 * mib, Staging: staging(t), Method: method}
	imgA, resA := build(t, srcA, opt)
	// Epoch 0, which mke2fs does not take as a fake time.
	zero := opt
	zero.Epoch = 0
	zeroA, _ := build(t, srcA, zero)
	// With a journal, and with 1 KiB blocks and a fixed size of several
	// block groups (superblock backups at blocks 8193, 24577, ...).
	journal := opt
	journal.Journal = true
	journalA := build1(t, srcA, journal)
	small := opt
	small.BlockSize, small.SizeBytes = 1024, 40*mib
	smallA := build1(t, srcA, small)
	// Over a second apart, so any wall-clock time in the image would differ.
	time.Sleep(1100 * time.Millisecond)
	imgB, resB := build(t, srcB, opt)
	zeroB, _ := build(t, srcB, zero)
	sameFiles(t, zeroA, zeroB)
	sameFiles(t, journalA, build1(t, srcB, journal))
	sameFiles(t, smallA, build1(t, srcB, small))
	checkSuperblocks(t, imgA, testEpoch)
	checkSuperblocks(t, journalA, testEpoch)
	checkSuperblocks(t, smallA, testEpoch)
	checkSuperblocks(t, zeroA, 0)
	fsck(t, journalA)
	fsck(t, smallA)
	for _, ino := range []string{"<1>", "<2>", "<7>", "<11>", "/a/b/data"} {
		out := debugfs(t, zeroA, "stat "+ino)
		for _, m := range statTimeRE.FindAllStringSubmatch(out, -1) {
			if strings.Trim(m[2], "0") != "" || strings.Trim(m[3], "0") != "" {
				t.Errorf("epoch 0: %s %s = 0x%s:%s", ino, m[1], m[2], m[3])
			}
		}
	}
	zstats := debugfs(t, zeroA, "stats")
	// debugfs leaves out a creation time of 0.
	if m := regexp.MustCompile(`Filesystem created:\s+(.*)`).FindStringSubmatch(zstats); m != nil {
		t.Errorf("epoch 0: created %s", m[1])
	}
	for _, field := range []string{"Last write time", "Last checked"} {
		if !regexp.MustCompile(field + `:\s+Thu Jan  1 00:00:00 1970`).MatchString(zstats) {
			t.Errorf("epoch 0: %s is not the epoch:\n%s", field, zstats)
		}
	}
	sameFiles(t, imgA, imgB)
	resA.Times = resB.Times // timings differ, the rest must not
	if fmt.Sprint(resA) != fmt.Sprint(resB) {
		t.Errorf("results differ: %+v vs %+v", resA, resB)
	}
	fsck(t, imgA)
	t.Logf("result: %+v", resA)

	// The superblock keeps the epoch, not the wall clock.
	stats := debugfs(t, imgA, "stats")
	for _, field := range []string{"Filesystem created", "Last write time", "Last checked"} {
		want := time.Unix(testEpoch, 0).UTC().Format("Mon Jan _2 15:04:05 2006")
		re := regexp.MustCompile(field + `:\s+(.*)`)
		m := re.FindStringSubmatch(stats)
		if m == nil || m[1] != want {
			t.Errorf("%s = %v, want %s", field, m, want)
		}
	}
	if !strings.Contains(stats, "Filesystem volume name:   rootfs") {
		t.Errorf("label missing:\n%s", stats)
	}

	// Another epoch or label gives another UUID; the same inputs the same.
	imgC, _ := build(t, srcA, Options{Epoch: testEpoch + 1, Label: "rootfs", AlignBytes: 16 * mib})
	uuid := func(img string) string {
		return regexp.MustCompile(`Filesystem UUID:\s+(\S+)`).FindStringSubmatch(debugfs(t, img, "stats"))[1]
	}
	if uuid(imgA) == uuid(imgC) {
		t.Errorf("different epochs, same UUID %s", uuid(imgA))
	}
}

func sameFiles(t *testing.T, x, y string) {
	t.Helper()
	a, err := os.ReadFile(x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(y)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		n := 0
		for i := range a {
			if i < len(b) && a[i] != b[i] {
				if n < 10 {
					t.Errorf("byte %#x (block %d): %#02x != %#02x", i, i/4096, a[i], b[i])
				}
				n++
			}
		}
		t.Fatalf("images differ (%d vs %d bytes, %d bytes differ)", len(a), len(b), n)
	}
}

func TestPreserves(t *testing.T) { eachMethod(t, testPreserves) }

func testPreserves(t *testing.T, method string) {
	specs := testSpecs()
	src := t.TempDir()
	xattrs := makeTree(t, src, specs, true, 3)
	img, res := build(t, src, Options{Epoch: testEpoch, UUID: "0f0e0d0c-0b0a-4908-8706-050403020100", Staging: staging(t), Method: method})
	fsck(t, img)

	if res.SizeBytes != 128*mib {
		t.Errorf("size %d, want 128 MiB (the default alignment)", res.SizeBytes)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != res.SizeBytes {
		t.Errorf("image file: %v, %v", fi, err)
	}
	var wantInodes int64 = 1 // root
	for _, s := range specs {
		if s.kind != 'h' {
			wantInodes++
		}
	}
	if res.Inodes != wantInodes {
		t.Errorf("Inodes = %d, want %d", res.Inodes, wantInodes)
	}
	if res.DataBytes < 300*1024 || res.DataBytes > 2*mib {
		t.Errorf("DataBytes = %d", res.DataBytes)
	}
	if !strings.Contains(debugfs(t, img, "stats"), "0f0e0d0c-0b0a-4908-8706-050403020100") {
		t.Error("UUID not set")
	}

	epoch := [2]uint32{testEpoch, 0}
	for _, s := range specs {
		path := "/" + s.path
		in := statImage(t, img, path)
		if s.kind == 'h' {
			src := statImage(t, img, "/"+s.target)
			if in.ino != src.ino {
				t.Errorf("%s: inode %d, want %d (hard link to %s)", path, in.ino, src.ino, s.target)
			}
			continue
		}
		for _, f := range []string{"atime", "ctime", "crtime"} {
			if in.times[f] != epoch {
				t.Errorf("%s: %s %v, want %v", path, f, in.times[f], epoch)
			}
		}
		want := [2]uint32{uint32(s.mtime.Unix()), uint32(s.mtime.Nanosecond()) << 2}
		if s.mtime.Unix() > testEpoch {
			want = epoch
		}
		if in.times["mtime"] != want {
			t.Errorf("%s: mtime %v, want %v", path, in.times["mtime"], want)
		}
		if in.uid != s.uid || in.gid != s.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", path, in.uid, in.gid, s.uid, s.gid)
		}
		wantMode := int(s.mode.Perm())
		if s.mode&os.ModeSetuid != 0 {
			wantMode |= 0o4000
		}
		if s.mode&os.ModeSetgid != 0 {
			wantMode |= 0o2000
		}
		if s.mode&os.ModeSticky != 0 {
			wantMode |= 0o1000
		}
		wantType := map[byte]string{'f': "regular", 'd': "directory", 'l': "symlink", 'p': "FIFO", 'c': "character special"}[s.kind]
		if s.kind == 'l' {
			wantMode = 0o777
		}
		if in.mode != wantMode || in.typ != wantType {
			t.Errorf("%s: %s %04o, want %s %04o", path, in.typ, in.mode, wantType, wantMode)
		}
		switch s.kind {
		case 'l':
			if len(s.target) < 60 && in.fastLink != s.target {
				t.Errorf("%s: link to %q, want %q", path, in.fastLink, s.target)
			}
		case 'c':
			if in.device != "01:03" {
				t.Errorf("%s: device %q", path, in.device)
			}
		case 'f':
			if got := debugfs(t, img, "cat "+quote(path)); got != s.data {
				t.Errorf("%s: content differs (%d bytes, want %d)", path, len(got), len(s.data))
			}
		}
		if s.xattr != "" && xattrs {
			got := debugfs(t, img, "ea_get -V "+quote(path)+" user.test")
			if strings.TrimSpace(got) != s.xattr {
				t.Errorf("%s: user.test = %q, want %q", path, got, s.xattr)
			}
		}
	}
	if got := debugfs(t, img, "ea_get -x /a/ping security.capability"); !strings.Contains(got, "00 20 00 00") {
		t.Errorf("file capability: %q", got)
	}
	// Long symlink target, stored in a block.
	if got := debugfs(t, img, "cat /a/longlink"); got != testSpecs()[5].target {
		t.Errorf("long symlink: %q", got)
	}
	// Link counts: a/hl1 has two names, a/hello 1 + 7 in big/.
	if in := statImage(t, img, "/a/hl1"); in.links != 2 {
		t.Errorf("a/hl1: %d links", in.links)
	}
	n := 1
	for _, s := range specs {
		if s.kind == 'h' && s.target == "a/hello" {
			n++
		}
	}
	if in := statImage(t, img, "/a/hello"); in.links != n {
		t.Errorf("a/hello: %d links, want %d", in.links, n)
	}
	// The empty directory is empty, lost+found is there, and the big
	// directory has all its names.
	if ls := debugfs(t, img, "ls /empty"); strings.Fields(ls)[2] != "." || len(strings.Fields(ls)) != 6 {
		t.Errorf("/empty: %q", ls)
	}
	if ls := debugfs(t, img, "ls -p /big"); strings.Count(ls, "-"+strings.Repeat("x", 100)+"/") != 120 {
		t.Errorf("/big has %d entries, want 120:\n%s", strings.Count(ls, "-"+strings.Repeat("x", 100)+"/"), ls)
	}
	if in := statImage(t, img, "/lost+found"); in.times["mtime"] != epoch || in.times["ctime"] != epoch {
		t.Errorf("lost+found times %v", in.times)
	}
	// The root takes the source root's attributes.
	if in := statImage(t, img, "/"); in.mode != 0o755 || in.times["mtime"] != [2]uint32{uint32(oldTime.Unix()), uint32(oldTime.Nanosecond()) << 2} {
		t.Errorf("root: %+v", in)
	}

	compareMounted(t, img, src, testEpoch)
}

// compareMounted checks the image as the kernel reads it against the source
// tree, where the host lets the test loop-mount it read-only (as root; the
// package itself never mounts anything).
func compareMounted(t *testing.T, img, src string, epoch int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("not root: no mounted comparison")
		return
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop,ro,noatime", img, mnt).CombinedOutput(); err != nil {
		t.Logf("cannot loop-mount (%v: %s): no mounted comparison", err, out)
		return
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	}()
	inodes := map[uint64]uint64{} // source inode -> image inode
	n := 0
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		q := filepath.Join(mnt, rel)
		var a, b unix.Stat_t
		if err := unix.Lstat(p, &a); err != nil {
			return err
		}
		if err := unix.Lstat(q, &b); err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		n++
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev {
			t.Errorf("%s: mode %o uid %d gid %d rdev %d, want %o %d %d %d", rel, b.Mode, b.Uid, b.Gid, b.Rdev, a.Mode, a.Uid, a.Gid, a.Rdev)
		}
		if a.Mode&unix.S_IFMT != unix.S_IFDIR {
			if a.Size != b.Size || a.Nlink != b.Nlink {
				t.Errorf("%s: size %d nlink %d, want %d %d", rel, b.Size, b.Nlink, a.Size, a.Nlink)
			}
			if prev, ok := inodes[a.Ino]; ok && prev != b.Ino {
				t.Errorf("%s: hard link lost (inode %d, want %d)", rel, b.Ino, prev)
			}
			inodes[a.Ino] = b.Ino
		}
		want := a.Mtim
		if want.Sec > epoch || (want.Sec == epoch && want.Nsec > 0) {
			want = unix.Timespec{Sec: epoch}
		}
		if b.Mtim != want {
			t.Errorf("%s: mtime %v, want %v", rel, b.Mtim, want)
		}
		if b.Atim != (unix.Timespec{Sec: epoch}) || b.Ctim != (unix.Timespec{Sec: epoch}) {
			t.Errorf("%s: atime %v ctime %v, want the epoch", rel, b.Atim, b.Ctim)
		}
		switch a.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			x, _ := os.Readlink(p)
			y, err := os.Readlink(q)
			if err != nil || x != y {
				t.Errorf("%s: link %q (%v), want %q", rel, y, err, x)
			}
		case unix.S_IFREG:
			x, _ := os.ReadFile(p)
			y, err := os.ReadFile(q)
			if err != nil || !bytes.Equal(x, y) {
				t.Errorf("%s: content differs (%v)", rel, err)
			}
		}
		xa, _, _ := readXattrs(p)
		xb, _, err := readXattrs(q)
		if err != nil || fmt.Sprint(xa) != fmt.Sprint(xb) {
			t.Errorf("%s: xattrs %v (%v), want %v", rel, xb, err, xa)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mounted image matches the source in %d entries", n)
}

func TestTooSmall(t *testing.T) {
	requireTools(t)
	src := t.TempDir()
	big := make([]byte, 12*mib)
	rand.New(rand.NewSource(4)).Read(big)
	if err := os.WriteFile(filepath.Join(src, "blob"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "rootfs.img")
	_, err := Build(src, out, Options{Epoch: testEpoch, SizeBytes: 8 * mib})
	var tse *TooSmallError
	if !errors.As(err, &tse) {
		t.Fatalf("err = %v, want *TooSmallError", err)
	}
	if !strings.Contains(err.Error(), "the rootfs (13 MiB of data in 2 inodes) does not fit the fixed image size of 8 MiB") {
		t.Errorf("message: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}

	// Nearly fitting: the estimate from the source passes, the
	// filesystem's own metadata does not leave room.
	tr, err := scanTree(src, 4096)
	if err != nil {
		t.Fatal(err)
	}
	needBlocks, _ := (&builder{t: tr, bs: 4096}).need()
	_, err = Build(src, out, Options{Epoch: testEpoch, SizeBytes: (needBlocks + 2) * 4096})
	if !errors.As(err, &tse) {
		t.Fatalf("err = %v, want *TooSmallError", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}

	// An estimate that is short: debugfs runs out of blocks, which is the
	// same error.
	tr.blocks = 0
	opt, _ := Options{Epoch: testEpoch, SizeBytes: 8 * mib}.check()
	tools, _ := findTools()
	_, err = buildTree(tr, out, opt, tools)
	if !errors.As(err, &tse) {
		t.Fatalf("err = %v, want *TooSmallError", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	// With a computed size it grows instead.
	opt, _ = Options{Epoch: testEpoch, AlignBytes: mib}.check()
	res, err := buildTree(tr, out, opt, tools)
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, out)
	t.Logf("grown after a short estimate: %+v", res)

	// A size that fits is kept exactly.
	res, err = Build(src, out, Options{Epoch: testEpoch, SizeBytes: 20 * mib})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != 20*mib || res.SizeBytes != 20*mib {
		t.Errorf("fixed size: %v %v %+v", fi, err, res)
	}
	fsck(t, out)
}

func TestComputedSize(t *testing.T) {
	requireTools(t)
	src := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*mib/16)
	if err := os.WriteFile(filepath.Join(src, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, journal := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "img")
		res, err := Build(src, out, Options{Epoch: testEpoch, FreeBytes: 10 * mib, AlignBytes: mib, Journal: journal})
		if err != nil {
			t.Fatal(err)
		}
		fsck(t, out)
		if res.SizeBytes%mib != 0 || res.FreeBytes < 10*mib || res.FreeBytes > 12*mib {
			t.Errorf("journal %v: %+v", journal, res)
		}
		if res.DataBytes < 3*mib || res.DataBytes > 3*mib+64*1024 {
			t.Errorf("journal %v: DataBytes %d", journal, res.DataBytes)
		}
		t.Logf("journal %v: %+v", journal, res)
	}
}

func TestSkipsSockets(t *testing.T) {
	requireTools(t)
	src := t.TempDir()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(src, "sock")}); err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "img")
	res, err := Build(src, out, Options{Epoch: testEpoch, AlignBytes: mib})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 1 || res.Skipped[0] != "/sock" {
		t.Errorf("Skipped = %v", res.Skipped)
	}
}

// TestManyFiles times a tree of a few thousand files.
func TestManyFiles(t *testing.T) {
	requireTools(t)
	if testing.Short() {
		t.Skip("slow")
	}
	src := t.TempDir()
	rnd := rand.New(rand.NewSource(5))
	files := 0
	for d := 0; d < 40; d++ {
		dir := filepath.Join(src, fmt.Sprintf("usr/share/pkg%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			b := make([]byte, rnd.Intn(20000))
			rnd.Read(b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%03d.txt", f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		}
	}
	big := filepath.Join(src, "usr/lib")
	os.MkdirAll(big, 0o755)
	for f := 0; f < 1000; f++ {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprintf("lib%04d.so", f)), []byte{byte(f)}, 0o644); err != nil {
			t.Fatal(err)
		}
		files++
	}
	start := time.Now()
	out := filepath.Join(t.TempDir(), "img")
	res, err := Build(src, out, Options{Epoch: testEpoch, Staging: staging(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files: %v, %+v", files, time.Since(start), res)
}

// TestUnprivileged builds the test tree as uid 65534 with no capabilities
// (a child process of the test binary), and checks the image is the one
// root makes.
func TestUnprivileged(t *testing.T) {
	requireTools(t)
	if os.Getenv("EXT4IMAGE_CHILD_SRC") != "" {
		t.Skip("child")
	}
	// A world-readable place: t.TempDir's parents are private.
	base, err := os.MkdirTemp("", "ext4image-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	src, outDir, bin := filepath.Join(base, "src"), filepath.Join(base, "out"), filepath.Join(base, "ext4image.test")
	for _, d := range []string{src, outDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	specs := testSpecs()
	makeTree(t, src, specs, false, 6)
	// The child must read every file (and nothing else is asked of it).
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSymlink == 0 && d.Type().IsRegular() {
			fi, _ := d.Info()
			os.Chmod(p, fi.Mode()|0o004)
		} else if err == nil && d.IsDir() {
			fi, _ := d.Info()
			os.Chmod(p, fi.Mode()|0o005)
		}
		return nil
	})
	if err := os.Chown(outDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "rootfs.img")
	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedChild$", "-test.v")
	cmd.Env = append(os.Environ(), "EXT4IMAGE_CHILD_SRC="+src, "EXT4IMAGE_CHILD_OUT="+out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	cmd.Dir = base
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged build: %v\n%s", err, logs)
	}
	if !strings.Contains(string(logs), "--- PASS: TestUnprivilegedChild") {
		t.Fatalf("child did not run:\n%s", logs)
	}
	fsck(t, out)
	if in := statImage(t, out, "/home/user/file"); in.uid != 1000 {
		t.Errorf("owner lost: %+v", in)
	}
	if in := statImage(t, out, "/sbin/su"); in.mode != 0o4755 || in.uid != 0 {
		t.Errorf("setuid lost: %+v", in)
	}
	if in := statImage(t, out, "/dev/null"); in.device != "01:03" {
		t.Errorf("device lost: %+v", in)
	}
	rootImg, _ := build(t, src, childOptions())
	sameFiles(t, rootImg, out)
}

func childOptions() Options {
	return Options{Epoch: testEpoch, Label: "unpriv", AlignBytes: 16 * mib}
}

func TestUnprivilegedChild(t *testing.T) {
	src := os.Getenv("EXT4IMAGE_CHILD_SRC")
	if src == "" {
		t.Skip("run by TestUnprivileged")
	}
	status, _ := os.ReadFile("/proc/self/status")
	if os.Geteuid() == 0 || !regexp.MustCompile(`(?m)^CapEff:\s+0+$`).Match(status) {
		t.Fatalf("not unprivileged: euid %d\n%s", os.Geteuid(), status)
	}
	if _, err := Build(src, os.Getenv("EXT4IMAGE_CHILD_OUT"), childOptions()); err != nil {
		t.Fatal(err)
	}
}

// TestOffset makes the filesystem at an offset into the file, as a disk
// image's partition: the bytes from the offset on are the filesystem made
// without one, and the bytes before it are zeros for the caller's headers.
func TestOffset(t *testing.T) { eachMethod(t, testOffset) }

func testOffset(t *testing.T, method string) {
	src := t.TempDir()
	makeTree(t, src, testSpecs(), false, 4)
	opt := Options{Epoch: testEpoch, Label: "rootfs", AlignBytes: 16 * mib, Staging: staging(t), Method: method, Journal: true}
	plain, res := build(t, src, opt)
	opt.Offset = 3 * mib
	shifted, shiftedRes := build(t, src, opt)
	if shiftedRes.SizeBytes != res.SizeBytes {
		t.Errorf("filesystem size %d at an offset, %d without", shiftedRes.SizeBytes, res.SizeBytes)
	}
	a, _ := os.ReadFile(plain)
	b, _ := os.ReadFile(shifted)
	if int64(len(b)) != opt.Offset+int64(len(a)) {
		t.Fatalf("file of %d bytes, want the offset plus %d", len(b), len(a))
	}
	if !bytes.Equal(b[opt.Offset:], a) {
		t.Error("the filesystem at the offset differs from the one made without it")
	}
	if !bytes.Equal(b[:opt.Offset], make([]byte, opt.Offset)) {
		t.Error("bytes before the offset are not zero")
	}
	if out, err := exec.Command(tool(t, "e2fsck"), "-fn", fmt.Sprintf("%s?offset=%d", shifted, opt.Offset)).CombinedOutput(); err != nil {
		t.Errorf("e2fsck at the offset: %v\n%s", err, out)
	}
}
