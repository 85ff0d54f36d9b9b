// Package ext4image makes an ext4 filesystem image from a directory tree,
// reproducibly and without privileges.
//
// The same tree content gives the same bytes: entries are created in sorted
// path order whatever order they were created in on the host, every inode's
// atime, ctime and crtime is SOURCE_DATE_EPOCH, mtimes later than it are
// clamped to it, and the UUID, htree hash seed and superblock times are fixed.
// Owners, modes (setuid, setgid, sticky), symlinks, hard links, device nodes,
// fifos, mtimes to the nanosecond and xattrs (POSIX ACLs and file
// capabilities included) are kept. Nothing is mounted and no loop device is
// used, so the only requirement is that the source tree is readable; no
// capability is needed, not even CAP_CHOWN or CAP_MKNOD, since owners and
// device numbers are written as inode fields.
//
// Three ways of filling the filesystem (Options.Method), with the same
// content:
//   - directory: mke2fs -d reads the tree itself, in sorted order
//     (e2fsprogs 1.47.1 and later), as fast as mkfs.ext4 -d is; the atimes
//     and ctimes it copies from the source are then rewritten in the inode
//     tables (inodetimes.go), and one short debugfs run adds what it does
//     not take (the root directory's own attributes, nanoseconds of
//     mtimes), usually nothing. Not for a tree with xattrs that are left
//     out (below), which mke2fs would copy.
//   - tarball: the tree is written as a tarball in that order and mke2fs -d
//     (e2fsprogs 1.47.1 and later) makes the filesystem from it in one pass,
//     slower than the directory (the tarball is written first, and mke2fs
//     parses it); one short debugfs run then adds what mke2fs does not take
//     from a tarball (xattrs other than security.capability, nanoseconds of
//     mtimes), usually nothing.
//   - debugfs: mke2fs formats an empty filesystem and two debugfs runs fill
//     it (any e2fsprogs). libext2fs scans a directory linearly for every
//     entry it adds, so a directory of n entries costs about 30 ns × n², and
//     the per-entry commands make it several times slower than mkfs.ext4 -d.
//
// Not kept: sockets (listed in Result.Skipped); the xattrs security.selinux
// and trusted.overlay.*, which describe the build host rather than the tree;
// trusted.* xattrs when the caller lacks CAP_SYS_ADMIN (the kernel does not
// list them); inode flags such as immutable or append-only. File names and
// symlink targets with a newline or carriage return are refused.
//
// The tools are e2fsprogs' mkfs.ext4, debugfs and e2fsck, looked up on PATH
// and then in /usr/sbin and /sbin; mke2fs loads libarchive.so.13 to read a
// tarball.
package ext4image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	mib = 1 << 20
	// inodeSize is mke2fs's default for ext4. 256-byte inodes have room
	// for nanosecond and post-2038 times, crtime and small xattrs.
	inodeSize = 256
	// bytesPerFreeInode is mke2fs's default inode_ratio, used for the free
	// space the image is given beyond its content.
	bytesPerFreeInode = 16384
)

// Options says how the image is made. The zero value of each field but Epoch
// has a usable default.
type Options struct {
	// Epoch is SOURCE_DATE_EPOCH: the atime, ctime and crtime of every
	// inode, the superblock's times, and the latest mtime (later ones are
	// clamped to it).
	Epoch int64
	// UUID is the filesystem UUID. Empty: derived from Label, Epoch and
	// the tree's names, owners, modes, sizes and mtimes, so that different
	// trees get different UUIDs and the same tree the same one.
	UUID string
	// HashSeed seeds the hash of indexed directories. Empty: derived from
	// the UUID.
	HashSeed string
	// Label is the volume label, at most 16 bytes.
	Label string
	// SizeBytes fixes the image size, a multiple of BlockSize. 0: the
	// size is computed: the tree's data blocks, the inode tables and the
	// filesystem's own metadata, plus FreeBytes, rounded up to AlignBytes.
	// A fixed size that the tree does not fit gives a *TooSmallError.
	SizeBytes int64
	// FreeBytes is free space added to a computed size (with inodes for
	// it, one per 16 KiB). It is not enforced on a fixed size.
	FreeBytes int64
	// AlignBytes rounds a computed size up; default 128 MiB, so that
	// small changes to the tree rarely change the image size.
	AlignBytes int64
	// AlignOffset makes a computed size plus AlignOffset (rather than the
	// size itself) a multiple of AlignBytes: for a filesystem that fills a
	// partition of an image whose whole size is aligned (Kata's image is
	// the filesystem plus 4 MiB, rounded up to 128 MiB).
	AlignOffset int64
	// BlockSize is the filesystem block size: 1024, 2048 or 4096
	// (default).
	BlockSize int
	// Journal adds an ext4 journal. Off by default: the image is meant to
	// be mounted read-only, and a journal only adds bytes.
	Journal bool
	// Staging is a directory for scratch files (the tarball of the tree
	// that mke2fs reads, or the debugfs command files and xattr values;
	// the mke2fs and e2fsck configurations), for example an empty tmpfs; a
	// subdirectory is made in it and removed afterwards. Empty: the
	// system's temporary directory. The image is written beside out.
	Staging string
	// Offset places the filesystem this many bytes into out (a multiple of
	// the block size), after a hole: room for a partition table and other
	// headers that the caller writes there, so that the filesystem is not
	// copied into a disk image afterwards. Result.SizeBytes is the
	// filesystem's size, not the file's.
	Offset int64
	// Method is how the filesystem is filled: "directory" (mke2fs -d reads
	// the tree, e2fsprogs 1.47.1 or later), "tarball" (mke2fs -d reads a
	// tarball of the tree in one pass, e2fsprogs 1.47.1 or later),
	// "debugfs" (mke2fs formats, two debugfs runs fill it: any e2fsprogs,
	// several times slower), or "" for directory where the mke2fs found
	// can and the tree has no left-out xattrs, tarball where it can, else
	// debugfs. All give an image with the same content, not always the
	// same bytes.
	Method string
}

// Methods of filling the filesystem (Options.Method).
const (
	MethodDirectory = "directory"
	MethodTarball   = "tarball"
	MethodDebugfs   = "debugfs"
)

// Result describes a finished image.
type Result struct {
	// SizeBytes is the image file's size.
	SizeBytes int64
	// Inodes is the number of inodes the tree takes, the root included
	// and a hard-linked file counted once.
	Inodes int64
	// InodesTotal is the number of inodes the filesystem has.
	InodesTotal int64
	// DataBytes is the space the tree's content takes in the image: file
	// data, directory, symlink, extent and xattr blocks.
	DataBytes int64
	// FreeBytes is the free space left in the filesystem.
	FreeBytes int64
	// Method is how the filesystem was filled (MethodDirectory,
	// MethodTarball or MethodDebugfs).
	Method string
	// Times says where the time went: the scan of the tree, the sizing
	// trials, the filling (the tarball and mke2fs -d, or the debugfs
	// runs, and for the directory the rewrite of the inode times), and
	// the check by e2fsck.
	Times struct{ Scan, Size, Tarball, Fill, Check time.Duration }
	// Skipped lists entries that were not copied: sockets, which debugfs
	// cannot make with a correct directory entry and which mean nothing in
	// an image.
	Skipped []string
}

// TooSmallError is returned when the tree does not fit a fixed SizeBytes.
type TooSmallError struct {
	// DataBytes is the space the tree needs (an estimate from the source,
	// or what failed to fit).
	DataBytes int64
	// Inodes is the number of inodes the tree needs.
	Inodes int64
	// SizeBytes is the fixed image size.
	SizeBytes int64
}

func (e *TooSmallError) Error() string {
	return fmt.Sprintf("the rootfs (%d MiB of data in %d inodes) does not fit the fixed image size of %d MiB",
		(e.DataBytes+mib-1)/mib, e.Inodes, e.SizeBytes/mib)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (o Options) check() (Options, error) {
	if o.BlockSize == 0 {
		o.BlockSize = 4096
	}
	if o.BlockSize != 1024 && o.BlockSize != 2048 && o.BlockSize != 4096 {
		return o, fmt.Errorf("ext4image: block size %d: want 1024, 2048 or 4096", o.BlockSize)
	}
	bs := int64(o.BlockSize)
	if o.AlignBytes == 0 {
		o.AlignBytes = 128 * mib
	}
	if o.AlignBytes < 0 || o.AlignOffset < 0 || o.AlignOffset%bs != 0 || o.SizeBytes < 0 || o.FreeBytes < 0 || o.Epoch < 0 {
		return o, fmt.Errorf("ext4image: negative AlignBytes, AlignOffset, SizeBytes, FreeBytes or Epoch, or an AlignOffset that is no multiple of the block size")
	}
	if o.Offset < 0 || o.Offset%bs != 0 {
		return o, fmt.Errorf("ext4image: Offset %d is negative or no multiple of the block size %d", o.Offset, bs)
	}
	o.AlignBytes = roundUp(o.AlignBytes, bs)
	if o.SizeBytes%bs != 0 {
		return o, fmt.Errorf("ext4image: SizeBytes %d is not a multiple of the block size %d", o.SizeBytes, bs)
	}
	if o.Method != "" && o.Method != MethodDirectory && o.Method != MethodTarball && o.Method != MethodDebugfs {
		return o, fmt.Errorf("ext4image: method %q: want %q, %q, %q or empty", o.Method, MethodDirectory, MethodTarball, MethodDebugfs)
	}
	if len(o.Label) > 16 {
		return o, fmt.Errorf("ext4image: label %q is longer than 16 bytes", o.Label)
	}
	o.UUID = strings.ToLower(o.UUID)
	o.HashSeed = strings.ToLower(o.HashSeed)
	for _, u := range []string{o.UUID, o.HashSeed} {
		if u != "" && !uuidRE.MatchString(u) {
			return o, fmt.Errorf("ext4image: %q is not a UUID", u)
		}
	}
	return o, nil
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// Build writes the ext4 image of the tree at src (src itself is the root
// directory) to out. The image is made in a temporary file beside out and
// renamed over it only when complete and checked by e2fsck, so a failure
// leaves no out behind.
func Build(src, out string, opt Options) (Result, error) {
	opt, err := opt.check()
	if err != nil {
		return Result{}, err
	}
	tools, err := findTools()
	if err != nil {
		return Result{}, err
	}
	if src, err = filepath.Abs(src); err != nil {
		return Result{}, err
	}
	start := time.Now()
	t, err := scanTree(src, int64(opt.BlockSize))
	if err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	scanTime := time.Since(start)
	switch {
	case (opt.Method == MethodTarball || opt.Method == MethodDirectory) && !tools.tarball:
		return Result{}, fmt.Errorf("ext4image: %s is e2fsprogs %s: filling from a %s needs 1.47.1 or later (Debian 12: e2fsprogs/bookworm-backports)", tools.mkfs, tools.version, opt.Method)
	case opt.Method == MethodDirectory && t.hostXattrs != "":
		return Result{}, fmt.Errorf("ext4image: %s has xattrs of the build host (security.selinux or trusted.overlay.*), which mke2fs -d would copy from the directory: use the tarball method", t.hostXattrs)
	case opt.Method == "" && tools.tarball && t.hostXattrs == "":
		opt.Method = MethodDirectory
	case opt.Method == "" && tools.tarball:
		opt.Method = MethodTarball
	case opt.Method == "":
		opt.Method = MethodDebugfs
	}
	res, err := buildTree(t, out, opt, tools)
	res.Times.Scan = scanTime
	return res, err
}

// buildTree is Build after the scan of the source.
func buildTree(t *tree, out string, opt Options, tools toolPaths) (Result, error) {
	bs := int64(opt.BlockSize)
	if opt.UUID == "" {
		opt.UUID = deriveUUID("uuid", opt.Label, opt.Epoch, t.digest(opt.Epoch))
	}
	if opt.HashSeed == "" {
		opt.HashSeed = deriveUUID("hash_seed", opt.UUID)
	}

	stagingParent := opt.Staging
	if stagingParent == "" {
		stagingParent = os.TempDir()
	}
	scratch, err := os.MkdirTemp(stagingParent, "ext4image-")
	if err != nil {
		return Result{}, fmt.Errorf("ext4image: staging: %w", err)
	}
	defer os.RemoveAll(scratch)

	b := &builder{opt: opt, tools: tools, t: t, bs: bs, scratch: scratch}
	defer func() {
		if b.trial != nil {
			b.trial.Close()
		}
	}()
	b.conf = filepath.Join(scratch, "mke2fs.conf")
	if err := os.WriteFile(b.conf, []byte(mke2fsConf), 0o644); err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	b.fsckConf = filepath.Join(scratch, "e2fsck.conf")
	if err := os.WriteFile(b.fsckConf, []byte(e2fsckConf), 0o644); err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}

	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	b.img = f.Name()
	done := false
	defer func() {
		f.Close()
		if !done {
			os.Remove(b.img)
		}
	}()
	b.f = f

	res, err := b.build()
	if err != nil {
		return Result{}, err
	}
	if err := f.Chmod(0o644); err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	if err := os.Rename(b.img, out); err != nil {
		return Result{}, fmt.Errorf("ext4image: %w", err)
	}
	done = true
	return res, nil
}

type toolPaths struct {
	mkfs, debugfs, e2fsck string
	version               string // of mke2fs, as it prints it
	tarball               bool   // mke2fs -d reads tarballs (1.47.1 and later)
}

var mke2fsVersionRE = regexp.MustCompile(`mke2fs (\d+)\.(\d+)(?:\.(\d+))?`)

// probeVersion asks mke2fs its version (it prints it on stderr with -V).
func (p *toolPaths) probeVersion() {
	out, _ := exec.Command(p.mkfs, "-V").CombinedOutput()
	m := mke2fsVersionRE.FindStringSubmatch(string(out))
	if m == nil {
		p.version = "of an unknown version"
		return
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	p.version = strings.TrimPrefix(m[0], "mke2fs ")
	major, minor, patch := n(m[1]), n(m[2]), n(m[3])
	p.tarball = major > 1 || (major == 1 && (minor > 47 || (minor == 47 && patch >= 1)))
}

func findTools() (toolPaths, error) {
	var p toolPaths
	for _, x := range []struct {
		name string
		dst  *string
	}{{"mkfs.ext4", &p.mkfs}, {"debugfs", &p.debugfs}, {"e2fsck", &p.e2fsck}} {
		path, err := exec.LookPath(x.name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(dir, x.name)); serr == nil {
					path, err = filepath.Join(dir, x.name), nil
					break
				}
			}
		}
		if err != nil {
			return p, fmt.Errorf("ext4image: %s (e2fsprogs) not found on PATH, /usr/sbin or /sbin", x.name)
		}
		*x.dst = path
	}
	p.probeVersion()
	return p, nil
}

// mke2fsConf replaces the host's /etc/mke2fs.conf so that the image does not
// depend on it. The ext4 features are Debian 12's defaults (no orphan_file,
// no metadata_csum_seed, so kernels from 4.x on mount it). The usage type
// "image" stops mke2fs from switching to 1 KiB blocks and a denser inode
// ratio for small sizes.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	image = {
		inode_ratio = 16384
	}
`

// e2fsckConf keeps e2fsck from reporting the superblock times as "in the
// future" when the epoch is ahead of the build machine's clock.
const e2fsckConf = `[options]
	broken_system_clock = 1
`

type builder struct {
	opt      Options
	tools    toolPaths
	t        *tree
	bs       int64
	scratch  string
	conf     string
	fsckConf string
	img      string
	f        *os.File
	// trial is the scratch file of the sizing trials; size and inodes
	// are the last trial's filesystem size and -N.
	trial        *os.File
	size, inodes int64
	// tarball is the tree as a tarball, written once for MethodTarball,
	// in tarballTime.
	tarball     string
	tarballTime time.Duration
}

// env is the environment of the e2fsprogs tools: the caller's, less
// anything that changes what they write, plus the fixed time and config.
func (b *builder) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "E2FSPROGS_") || strings.HasPrefix(k, "MKE2FS_") ||
			strings.HasPrefix(k, "E2FSCK_") || strings.HasPrefix(k, "DEBUGFS_") ||
			strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" || k == "PAGER" || k == "SOURCE_DATE_EPOCH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"LC_ALL=C", // error messages are matched below
		"E2FSPROGS_FAKE_TIME="+strconv.FormatInt(b.opt.Epoch, 10),
		// e2fsprogs 1.47.1 and later take the times of the inodes they
		// make from it, and clamp the times they copy to it.
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(b.opt.Epoch, 10),
		"MKE2FS_CONFIG="+b.conf,
		"E2FSCK_CONFIG="+b.fsckConf,
		"DEBUGFS_PAGER=__none__",
	)
}

// dev names the filesystem for the e2fsprogs tools: the image file, with
// the offset as an I/O option when the filesystem does not start it.
func (b *builder) dev() string {
	if b.opt.Offset == 0 {
		return b.img
	}
	return fmt.Sprintf("%s?offset=%d", b.img, b.opt.Offset)
}

func (b *builder) run(name string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(name, args...)
	cmd.Env = b.env()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// mkfs makes an empty filesystem of size bytes with n inodes and returns
// its superblock. These are the sizing trials: they go to a scratch file in the staging
// directory (a tmpfs in a build step), where mke2fs's writes and its fsync
// at the end cost nothing; only the chosen size is made in the image file
// (mkfsFinal).
func (b *builder) mkfs(size, n int64) (*superblock, error) {
	if b.trial == nil {
		f, err := os.Create(filepath.Join(b.scratch, "trial.ext4"))
		if err != nil {
			return nil, fmt.Errorf("ext4image: %w", err)
		}
		b.trial = f
	}
	b.size, b.inodes = size, n
	return b.mkfsOn(b.trial, 0, size, n, "")
}

// mkfsFinal formats the image file at the size and inode count of the last
// trial, filled from a tarball (mke2fs -d) when from is set.
func (b *builder) mkfsFinal(from string) (*superblock, error) {
	return b.mkfsOn(b.f, b.opt.Offset, b.size, b.inodes, from)
}

// mkfsOn runs mke2fs on the file f, the filesystem offset bytes into it.
func (b *builder) mkfsOn(f *os.File, offset, size, n int64, from string) (*superblock, error) {
	if err := f.Truncate(0); err != nil {
		return nil, err
	}
	if err := f.Truncate(offset + size); err != nil {
		return nil, err
	}
	extended := "hash_seed=" + b.opt.HashSeed + ",root_owner=0:0"
	if offset > 0 {
		extended += fmt.Sprintf(",offset=%d", offset)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-T", "image",
		"-b", strconv.FormatInt(b.bs, 10), "-I", strconv.Itoa(inodeSize),
		"-N", strconv.FormatInt(n, 10), "-m", "0",
		"-U", b.opt.UUID,
		"-E", extended,
		"-L", b.opt.Label,
	}
	if !b.opt.Journal {
		args = append(args, "-O", "^has_journal")
	}
	if from != "" {
		args = append(args, "-d", from)
	}
	// The size in blocks: with an offset, mke2fs would otherwise take the
	// whole file for the filesystem.
	args = append(args, f.Name(), strconv.FormatInt(size/b.bs, 10))
	stdout, stderr, err := b.run(b.tools.mkfs, args...)
	if err != nil && from != "" {
		msg := strings.TrimSpace(string(stdout) + string(stderr))
		if isNoSpace(msg) {
			return nil, errNoSpace{"ext4image: mkfs.ext4 -d: " + msg}
		}
		if strings.Contains(msg, "libarchive") {
			return nil, fmt.Errorf("ext4image: mkfs.ext4 -d cannot read the tarball: %s (mke2fs loads libarchive.so.13 when it reads one: install libarchive13)", msg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ext4image: mkfs.ext4 %s: %v: %s", strings.Join(args, " "),
			err, strings.TrimSpace(string(stdout)+string(stderr)))
	}
	return readSuperblock(f.Name(), offset)
}

// need is what the tree takes beyond an empty filesystem: blocks (with a
// margin over the estimate for allocation the estimate does not see) and
// inodes (the root and lost+found exist already).
func (b *builder) need() (blocks, inodes int64) {
	blocks = b.t.blocks + b.t.blocks/100 + 64
	inodes = b.t.inodes - 1
	for _, c := range b.t.root.children {
		if c.name == "lost+found" {
			inodes--
		}
	}
	return blocks, inodes
}

// inodeCount is the -N for an image of size bytes: the tree's inodes, the
// reserved ones, and one per 16 KiB of the space the content leaves free.
func (b *builder) inodeCount(size, needBlocks int64) int64 {
	free := size - needBlocks*b.bs
	if free < 0 {
		free = 0
	}
	return b.t.inodes + 16 + free/bytesPerFreeInode
}

func (b *builder) tooSmall(needBlocks int64) error {
	return &TooSmallError{DataBytes: needBlocks * b.bs, Inodes: b.t.inodes, SizeBytes: b.opt.SizeBytes}
}

// format makes the empty filesystem: at the fixed size, or at the smallest
// aligned size whose free space, measured on the formatted filesystem,
// holds the tree and FreeBytes.
func (b *builder) format(needBlocks, needInodes int64) (*superblock, error) {
	fits := func(sb *superblock, extra int64) bool {
		return sb.freeBlocks >= needBlocks+extra && sb.freeInodes >= needInodes
	}
	if b.opt.SizeBytes > 0 {
		size := b.opt.SizeBytes
		n := b.inodeCount(size, needBlocks)
		if needBlocks*b.bs+n*inodeSize > size {
			return nil, b.tooSmall(needBlocks)
		}
		sb, err := b.mkfs(size, n)
		if err != nil {
			return nil, err
		}
		if !fits(sb, 0) {
			return nil, b.tooSmall(needBlocks)
		}
		return sb, nil
	}

	alignUp := func(n int64) int64 { return roundUp(n+b.opt.AlignOffset, b.opt.AlignBytes) - b.opt.AlignOffset }
	freeBlocks := (b.opt.FreeBytes + b.bs - 1) / b.bs
	content := (needBlocks + freeBlocks) * b.bs
	// A first guess at the metadata: inode tables, bitmaps and group
	// descriptors with their reserve for growth, about 2%.
	size := alignUp(content + b.t.inodes*inodeSize + content/50 + mib)
	var best int64
	tried := map[int64]bool{}
	var sb *superblock
	for i := 0; i < 8; i++ {
		var err error
		if sb, err = b.mkfs(size, b.inodeCount(size, needBlocks)); err != nil {
			return nil, err
		}
		tried[size] = true
		ok := fits(sb, freeBlocks)
		if ok && (best == 0 || size < best) {
			best = size
		}
		// The metadata measured at this size is at least what a
		// smaller size needs, so next is enough when it is smaller.
		next := alignUp(content + (sb.blocks-sb.freeBlocks)*b.bs)
		if !ok && next <= size {
			next = size + b.opt.AlignBytes
		}
		if tried[next] {
			break
		}
		if ok && next > size {
			break
		}
		size = next
	}
	if best == 0 {
		return nil, fmt.Errorf("ext4image: could not find an image size for %d blocks of content", needBlocks)
	}
	if size != best {
		return b.mkfs(best, b.inodeCount(best, needBlocks))
	}
	return sb, nil
}

func (b *builder) build() (Result, error) {
	needBlocks, needInodes := b.need()
	var res Result
	for attempt := 0; ; attempt++ {
		start := time.Now()
		empty, err := b.format(needBlocks, needInodes)
		if err != nil {
			return Result{}, err
		}
		res.Times.Size += time.Since(start)
		start = time.Now()
		err = b.populate(empty)
		res.Times.Fill += time.Since(start)
		var nospace errNoSpace
		if errors.As(err, &nospace) {
			// The estimate was short (it is meant to be an upper
			// bound, so this is a safety net).
			if b.opt.SizeBytes > 0 {
				if sb, serr := readSuperblock(b.img, b.opt.Offset); serr == nil && empty.freeBlocks-sb.freeBlocks > needBlocks {
					needBlocks = empty.freeBlocks - sb.freeBlocks
				}
				return Result{}, b.tooSmall(needBlocks)
			}
			if attempt < 8 {
				needBlocks = 2*needBlocks + b.opt.AlignBytes/b.bs
				continue
			}
		}
		if err != nil {
			return Result{}, err
		}
		start = time.Now()
		if err := setTimes(b.img, b.opt.Offset, b.opt.Epoch); err != nil {
			return Result{}, fmt.Errorf("ext4image: %w", err)
		}
		if stdout, stderr, err := b.run(b.tools.e2fsck, "-fn", b.dev()); err != nil {
			return Result{}, fmt.Errorf("ext4image: e2fsck -fn finds the image inconsistent: %v: %s", err,
				strings.TrimSpace(string(stdout)+string(stderr)))
		}
		res.Times.Check = time.Since(start)
		sb, err := readSuperblock(b.img, b.opt.Offset)
		if err != nil {
			return Result{}, fmt.Errorf("ext4image: %w", err)
		}
		res.SizeBytes = sb.blocks * b.bs
		res.Inodes = b.t.inodes
		res.InodesTotal = sb.inodes
		res.DataBytes = (empty.freeBlocks - sb.freeBlocks) * b.bs
		res.FreeBytes = sb.freeBlocks * b.bs
		res.Method = b.opt.Method
		res.Skipped = b.t.skipped
		res.Times.Tarball = b.tarballTime
		return res, nil
	}
}

var bannerRE = regexp.MustCompile(`^debugfs [0-9][0-9.]* \([^)]*\)$`)

type errNoSpace struct{ msg string }

func (e errNoSpace) Error() string { return e.msg }

// isNoSpace reports the messages of e2fsprogs for a full filesystem.
func isNoSpace(msg string) bool {
	return strings.Contains(msg, "Could not allocate") || strings.Contains(msg, "No space left")
}

// populate runs the two debugfs runs (see script.go). debugfs exits 0
// whatever its commands do, so any stderr line beyond its version banner is
// a failure. -n skips checksum verification of what it reads back, which
// halves the time in large directories; e2fsck checks the result.
func (b *builder) populate(empty *superblock) error {
	switch b.opt.Method {
	case MethodDirectory:
		return b.populateFromDirectory()
	case MethodTarball:
		return b.populateFromTarball()
	}
	if _, err := b.mkfsFinal(""); err != nil {
		return err
	}
	create := filepath.Join(b.scratch, "create.cmds")
	listed, err := writeCreate(create, b.t)
	if err != nil {
		return fmt.Errorf("ext4image: %w", err)
	}
	stdout, err := b.debugfs(create)
	if err != nil {
		return err
	}
	if err := parseListings(stdout, listed); err != nil {
		return fmt.Errorf("ext4image: %w", err)
	}
	attrs := filepath.Join(b.scratch, "attrs.cmds")
	if err := writeAttrs(attrs, b.scratch, b.t, b.opt.Epoch, empty); err != nil {
		return fmt.Errorf("ext4image: %w", err)
	}
	_, err = b.debugfs(attrs)
	return err
}

// populateFromTarball formats the image again at the size and inode
// count that format chose, filled by mke2fs from a tarball of the tree.
func (b *builder) populateFromTarball() error {
	if b.tarball == "" {
		start := time.Now()
		b.tarball = filepath.Join(b.scratch, "tree.tar")
		if err := writeTarball(b.tarball, b.t, b.opt.Epoch); err != nil {
			b.tarball = ""
			return fmt.Errorf("ext4image: tarball of the tree: %w", err)
		}
		b.tarballTime = time.Since(start)
	}
	if _, err := b.mkfsFinal(b.tarball); err != nil {
		return err
	}
	return b.fixup()
}

// populateFromDirectory formats the image again at the size and inode
// count that format chose, filled by mke2fs from the tree itself; then the
// fix-ups, and the inode times.
func (b *builder) populateFromDirectory() error {
	if _, err := b.mkfsFinal(b.t.root.src); err != nil {
		return err
	}
	if err := b.fixup(); err != nil {
		return err
	}
	// After the fix-ups, whose xattr writes may stamp a ctime.
	if _, err := clampInodeTimes(b.img, b.opt.Offset, b.opt.Epoch); err != nil {
		return fmt.Errorf("ext4image: inode times: %w", err)
	}
	return nil
}

// fixup runs the debugfs commands, if any, that give the filled
// filesystem what mke2fs did not take from the tree (writeFixups).
func (b *builder) fixup() error {
	fixups := filepath.Join(b.scratch, "fixups.cmds")
	n, err := writeFixups(fixups, b.scratch, b.t, b.opt.Epoch, b.opt.Method)
	if err != nil {
		return fmt.Errorf("ext4image: %w", err)
	}
	if n > 0 {
		_, err = b.debugfs(fixups)
	}
	return err
}

func (b *builder) debugfs(script string) ([]byte, error) {
	stdout, stderr, err := b.run(b.tools.debugfs, "-n", "-w", "-f", script, b.dev())
	var msgs []string
	for _, l := range strings.Split(string(stderr), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || bannerRE.MatchString(l) {
			continue
		}
		msgs = append(msgs, l)
	}
	if err == nil && len(msgs) == 0 {
		return stdout, nil
	}
	all := strings.Join(msgs, "\n")
	if len(msgs) > 20 {
		all = strings.Join(msgs[:20], "\n") + fmt.Sprintf("\n(%d more lines)", len(msgs)-20)
	}
	msg := fmt.Sprintf("ext4image: debugfs: %v: %s", err, all)
	if err == nil {
		msg = "ext4image: debugfs: " + all
	}
	if isNoSpace(all) {
		return nil, errNoSpace{msg}
	}
	return nil, errors.New(msg)
}

// digest hashes what the image is made of, in scan order, without host
// details such as inode numbers or atimes: the default UUID.
func (t *tree) digest(epoch int64) []byte {
	h := sha256.New()
	var walk func(n *node)
	num := func(v ...int64) {
		for _, x := range v {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(x))
			h.Write(b[:])
		}
	}
	walk = func(n *node) {
		io.WriteString(h, n.path+"\x00"+n.target+"\x00")
		sec, nsec := n.mtime(epoch)
		size := n.st.Size
		if n.isDir() {
			size = 0 // directory sizes depend on the host filesystem
		}
		num(int64(n.mode()), int64(n.st.Uid), int64(n.st.Gid), size, sec, nsec, int64(n.st.Rdev))
		if n.st.Nlink > 1 && !n.isDir() {
			num(int64(t.links[linkKey{n.st.Dev, n.st.Ino}]))
		}
		for _, x := range n.xattrs {
			io.WriteString(h, x.name+"\x00")
			num(int64(len(x.value)))
			h.Write(x.value)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(t.root)
	return h.Sum(nil)
}

// deriveUUID makes a name-based (version 5 layout) UUID from its parts.
func deriveUUID(parts ...any) string {
	h := sha256.New()
	io.WriteString(h, "kforge ext4image")
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%v", p)
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
