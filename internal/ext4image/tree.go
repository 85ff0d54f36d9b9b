package ext4image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// node is one directory entry of the source tree, read once up front so that
// the sizing and the debugfs script both see the same snapshot.
type node struct {
	name     string // entry name; "" for the root
	path     string // path inside the image: "/" for the root, "/a/b" below it
	src      string // path on the host
	st       unix.Stat_t
	target   string  // symlink target
	children []*node // directories only, sorted by name (bytes)
	xattrs   []xattr // sorted by name
	// hostXattrs: the entry had xattrs that skipXattr leaves out.
	hostXattrs bool
	// sockets are the image paths of a directory's sockets, not copied.
	sockets []string
	// linkTo is, for a second or later name of a multiply linked inode
	// in scan order (the tarball's order, depth first), the image path of
	// its first name. The debugfs run creates a directory's entries before
	// its subdirectories, so its first names differ and it keeps its own.
	linkTo string

	// Filled in while the image is made.
	ino       uint32            // inode number in the image
	extraLink bool              // a second or later name of its inode
	byName    map[string]uint32 // a directory's listing in the image
}

type xattr struct {
	name  string
	value []byte
}

type linkKey struct{ dev, ino uint64 }

// tree is the scanned source with the counts the sizing needs.
type tree struct {
	root *node
	// links counts the names each multiply linked non-directory has inside
	// the tree: that, not st_nlink (which counts names outside it too), is
	// the link count the image gets.
	links map[linkKey]int
	// inodes is the number of inodes the tree needs, root included and a
	// hard-linked file counted once.
	inodes int64
	// blocks is an upper estimate of the blocks the tree's content takes:
	// file data, directory blocks, long symlinks, extent index blocks and
	// external xattr blocks.
	blocks int64
	// skipped lists entries that are not copied (sockets).
	skipped []string
	// hostXattrs is the first path with an xattr that skipXattr leaves
	// out: mke2fs -d would copy it from the directory, so such a tree is
	// filled from a tarball instead.
	hostXattrs string
	// firstName is the image path of each multiply linked inode's first
	// name in the scan.
	firstName map[linkKey]string
}

// skipXattr reports xattrs that belong to the machine the tree sits on
// rather than to the tree: overlayfs bookkeeping and the host's SELinux
// labels. Copying them would make the image depend on the build host.
func skipXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || name == "security.selinux"
}

// scanWorkers is how many directories are read at once. The scan is
// syscalls (lstat and the xattr calls for every entry), which a build
// step's overlay mount makes slow enough to be a fifth of the image's time;
// a few readers in parallel overlap them.
const scanWorkers = 4

// scanTree reads the tree at src and counts what the image needs. The
// directories are read in parallel (read); the counting, which fixes the
// first name of each hard-linked inode, follows in sorted order (count).
func scanTree(src string, blockSize int64) (*tree, error) {
	t := &tree{links: map[linkKey]int{}, firstName: map[linkKey]string{}}
	root := &node{path: "/", src: src}
	if err := unix.Lstat(src, &root.st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	if root.st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("%s: not a directory", src)
	}
	t.root = root
	r := &reader{sem: make(chan struct{}, scanWorkers-1)}
	r.read(root)
	r.wg.Wait()
	if r.err != nil {
		return nil, r.err
	}
	if err := t.count(root, blockSize); err != nil {
		return nil, err
	}
	return t, nil
}

// reader reads nodes, handing subdirectories to other goroutines while
// there are free workers; the first error wins.
type reader struct {
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	stop atomic.Bool
}

func (r *reader) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.stop.Store(true)
}

// read fills in n (its xattrs, a symlink's target, a directory's sorted
// children) and, for a directory, its children in turn.
func (r *reader) read(n *node) {
	if r.stop.Load() {
		return
	}
	xs, dropped, err := readXattrs(n.src)
	if err != nil {
		r.fail(err)
		return
	}
	n.xattrs, n.hostXattrs = xs, dropped
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := os.Readlink(n.src)
		if err != nil {
			r.fail(err)
			return
		}
		if strings.ContainsAny(target, "\n\r") {
			r.fail(fmt.Errorf("%s: symlink targets with a newline or carriage return cannot be written", n.src))
			return
		}
		n.target = target
	case unix.S_IFDIR:
		if err := readChildren(n); err != nil {
			r.fail(err)
			return
		}
		for _, c := range n.children {
			if !c.isDir() {
				r.read(c)
				continue
			}
			select {
			case r.sem <- struct{}{}:
				r.wg.Add(1)
				go func() {
					defer func() { <-r.sem; r.wg.Done() }()
					r.read(c)
				}()
			default:
				r.read(c)
			}
		}
	}
}

// readChildren lists a directory in byte order and lstats its entries;
// sockets are set aside in n.sockets.
func readChildren(n *node) error {
	ents, err := os.ReadDir(n.src)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names) // byte order, whatever ReadDir promises
	for _, name := range names {
		if strings.ContainsAny(name, "\n\r") {
			// debugfs reads its script line by line.
			return fmt.Errorf("%s: file names with a newline or carriage return cannot be written", filepath.Join(n.src, name))
		}
		c := &node{name: name, path: joinImage(n.path, name), src: filepath.Join(n.src, name)}
		if err := unix.Lstat(c.src, &c.st); err != nil {
			return &os.PathError{Op: "lstat", Path: c.src, Err: err}
		}
		if c.st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			// debugfs can only make a socket with the wrong directory
			// entry type; a socket in an image has no listener anyway.
			n.sockets = append(n.sockets, c.path)
			continue
		}
		if n.path == "/" && name == "lost+found" && c.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("%s: lost+found at the top of the tree must be a directory", c.src)
		}
		n.children = append(n.children, c)
	}
	return nil
}

// count adds n and what is below it to the tree's counts, in scan order.
func (t *tree) count(n *node, bs int64) error {
	if n.hostXattrs && t.hostXattrs == "" {
		t.hostXattrs = n.src
	}
	t.blocks += xattrBlocks(n.xattrs)
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		t.inodes++
		t.skipped = append(t.skipped, n.sockets...)
		names := make([]string, 0, len(n.children))
		for _, c := range n.children {
			names = append(names, c.name)
			if err := t.count(c, bs); err != nil {
				return err
			}
		}
		t.blocks += dirBlocks(names, bs)
	case unix.S_IFREG:
		if t.firstLink(n) {
			t.inodes++
			t.blocks += fileBlocks(n.st.Size, bs)
		}
	case unix.S_IFLNK:
		if t.firstLink(n) {
			t.inodes++
			if len(n.target) >= 60 { // longer targets leave the inode for a block
				t.blocks++
			}
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if t.firstLink(n) {
			t.inodes++
		}
	default:
		return fmt.Errorf("%s: unsupported file type %#o", n.src, n.st.Mode&unix.S_IFMT)
	}
	return nil
}

// firstLink counts a name of n and reports whether it is the first name of
// its inode met in the scan; a later name gets the first one as linkTo.
func (t *tree) firstLink(n *node) bool {
	if n.st.Nlink <= 1 {
		return true
	}
	k := linkKey{n.st.Dev, n.st.Ino}
	t.links[k]++
	if t.links[k] == 1 {
		t.firstName[k] = n.path
		return true
	}
	n.linkTo = t.firstName[k]
	return false
}

func joinImage(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// fileBlocks is an upper bound of the blocks a regular file takes: every
// block of its size (debugfs leaves all-zero blocks as holes, so sparse
// files take less) plus an extent index block once the file needs more
// extents than the four the inode holds. An extent maps at most 32768
// blocks, and allocation may be split where backup superblocks sit.
func fileBlocks(size, bs int64) int64 {
	b := (size + bs - 1) / bs
	extents := b/32768 + 3
	if b > 4 && extents > 4 {
		b += 1 + extents/340
	}
	return b
}

// dirBlocks is an upper bound of a directory's blocks: entries filled in
// creation order (libext2fs never splits an entry across blocks), each
// block keeping 12 bytes for the checksum tail, plus extent index blocks for
// a directory whose blocks are scattered among file data.
func dirBlocks(names []string, bs int64) int64 {
	const tail = 12
	blocks, used := int64(1), int64(12+12) // "." and ".."
	for _, n := range names {
		rec := (8 + int64(len(n)) + 3) &^ 3
		if used+rec > bs-tail {
			blocks++
			used = 0
		}
		used += rec
	}
	if blocks > 4 {
		blocks += 1 + blocks/340
	}
	return blocks
}

// xattrBlocks is 1 when the xattrs will not fit in the 256-byte inode's
// spare 96 bytes and need a block of their own.
func xattrBlocks(xs []xattr) int64 {
	if len(xs) == 0 {
		return 0
	}
	size := 4 + 4 // header magic and the end marker
	for _, x := range xs {
		size += 16 + (len(x.name)+3)&^3 + (len(x.value)+3)&^3
	}
	if size > 96 {
		return 1
	}
	return 0
}

// readXattrs reads a file's xattrs, less the ones skipXattr leaves out;
// dropped says whether there were any of those.
func readXattrs(path string) (xs []xattr, dropped bool, err error) {
	size, err := unix.Llistxattr(path, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) { // the source filesystem has none
			return nil, false, nil
		}
		return nil, false, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	if size == 0 {
		return nil, false, nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil, false, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	for _, name := range strings.Split(string(buf[:size]), "\x00") {
		if name == "" {
			continue
		}
		if skipXattr(name) {
			dropped = true
			continue
		}
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue
			}
			return nil, false, &os.PathError{Op: "lgetxattr " + name, Path: path, Err: err}
		}
		val := make([]byte, vsize)
		if vsize > 0 {
			vsize, err = unix.Lgetxattr(path, name, val)
			if err != nil {
				return nil, false, &os.PathError{Op: "lgetxattr " + name, Path: path, Err: err}
			}
		}
		xs = append(xs, xattr{name: name, value: val[:vsize]})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].name < xs[j].name })
	return xs, dropped, nil
}

// mode is the inode's i_mode: Linux and ext4 share the type and permission
// bits.
func (n *node) mode() uint32 { return n.st.Mode & (unix.S_IFMT | 07777) }

func (n *node) isDir() bool { return n.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// mtime is the mtime the image gets: the source's, clamped to the epoch (a
// later one becomes the epoch with no nanoseconds).
func (n *node) mtime(epoch int64) (sec, nsec int64) {
	sec, nsec = n.st.Mtim.Sec, n.st.Mtim.Nsec
	if sec > epoch || (sec == epoch && nsec > 0) {
		return epoch, 0
	}
	return sec, nsec
}
