package ext4image

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The image is populated by debugfs command files written in the tree's
// sorted order, not by `mkfs.ext4 -d`: mke2fs -d walks the source in readdir
// order (so inode numbers and directory layout follow the order the files
// were created in) and copies atime/ctime, and fixing that needs a copy of
// the tree on a filesystem with a predictable readdir order plus the
// privilege to chown and mknod in that copy. debugfs creates each entry with
// the same libext2fs code mke2fs -d uses, in the order it is told, and sets
// owners, modes, device numbers and times as plain inode fields, so nothing
// on the host needs privileges and nothing depends on the host filesystem's
// readdir order.
//
// It takes two runs. The first creates the entries and lists each directory
// it made (`ls -p`), which gives every entry's inode number; the second sets
// the attributes by inode number. debugfs looks a name up by reading the
// whole directory, so setting a dozen fields by name would cost a dozen
// scans of the directory per entry.

// maxLine keeps lines under debugfs's fgets buffer (BUFSIZ, 8192 bytes);
// a longer line would be split into two commands.
const maxLine = 8000

type cmdFile struct {
	w   *bufio.Writer
	f   *os.File
	err error
}

func newCmdFile(path string) (*cmdFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &cmdFile{w: bufio.NewWriterSize(f, 1<<20), f: f}, nil
}

func (c *cmdFile) line(format string, args ...any) {
	if c.err != nil {
		return
	}
	l := fmt.Sprintf(format, args...)
	if len(l) > maxLine {
		c.err = fmt.Errorf("debugfs command too long (%d bytes): %.200s...", len(l), l)
		return
	}
	_, c.err = c.w.WriteString(l + "\n")
}

func (c *cmdFile) close() error {
	if c.err == nil {
		c.err = c.w.Flush()
	}
	if err := c.f.Close(); c.err == nil {
		c.err = err
	}
	return c.err
}

// quote makes one debugfs argument: inside double quotes everything but a
// double quote is literal, and "" stands for one.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// ref names an entry of the current directory for commands that resolve
// their argument as a path: "<N>" would be read as inode number N.
func ref(name string) string {
	if strings.HasPrefix(name, "<") {
		name = "./" + name
	}
	return quote(name)
}

// writeCreate writes the first run's commands: every directory's entries in
// name order, then `ls -p` of it, then its subdirectories in name order. It
// returns the directories in the order they are listed.
func writeCreate(path string, t *tree) ([]*node, error) {
	c, err := newCmdFile(path)
	if err != nil {
		return nil, err
	}
	first := map[linkKey]string{}
	var listed []*node
	var dir func(d *node)
	dir = func(d *node) {
		c.line("cd %s", quote(d.path))
		c.line("lcd %s", quote(d.src))
		for _, n := range d.children {
			createEntry(c, d, n, first)
		}
		c.line("ls -p")
		listed = append(listed, d)
		for _, n := range d.children {
			if n.isDir() {
				dir(n)
			}
		}
	}
	dir(t.root)
	return listed, c.close()
}

func createEntry(c *cmdFile, parent, n *node, first map[linkKey]string) {
	name := quote(n.name)
	if !n.isDir() && n.st.Nlink > 1 {
		k := linkKey{n.st.Dev, n.st.Ino}
		if f, ok := first[k]; ok {
			// debugfs's ln neither grows a full directory nor counts the
			// link, so the name is first made as a fifo (mknod grows the
			// directory like every creating command), the fifo is freed
			// and wiped (kill_file stamps a deletion time, clri clears
			// it), and ln puts the link into the slot the fifo's name
			// left. The link count is set on the inode in the second run.
			n.extraLink = true
			r := ref(n.name)
			c.line("mknod %s p", name)
			c.line("kill_file %s", r)
			c.line("clri %s", r)
			c.line("unlink %s", r)
			c.line("ln %s %s", quote(f), name)
			return
		}
		first[k] = n.path
	}
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if parent.path == "/" && n.name == "lost+found" {
			return // mke2fs made it
		}
		c.line("mkdir %s", name)
	case unix.S_IFREG:
		c.line("write %s %s", name, name) // the source is relative to lcd
	case unix.S_IFLNK:
		c.line("symlink %s %s", name, quote(n.target))
	case unix.S_IFCHR:
		c.line("mknod %s c %d %d", name, unix.Major(n.st.Rdev), unix.Minor(n.st.Rdev))
	case unix.S_IFBLK:
		c.line("mknod %s b %d %d", name, unix.Major(n.st.Rdev), unix.Minor(n.st.Rdev))
	case unix.S_IFIFO:
		c.line("mknod %s p", name)
	}
}

// parseListings reads the first run's output: the `ls -p` listings, in the
// order of listed, give each entry's inode number.
func parseListings(out []byte, listed []*node) error {
	var cur *node // the directory whose listing is being read
	next := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "debugfs: ") { // the echo of a command
			cur = nil
			if l == "debugfs: ls -p" {
				if next == len(listed) {
					return fmt.Errorf("debugfs listed more directories than asked")
				}
				cur = listed[next]
				cur.byName = map[string]uint32{}
				next++
			}
			continue
		}
		if cur == nil || !strings.HasPrefix(l, "/") {
			continue
		}
		// /ino/mode/uid/gid/name/size/ (names have no slash)
		f := strings.Split(l, "/")
		ino, err := strconv.ParseUint(f[1], 10, 32)
		if len(f) != 8 || err != nil {
			return fmt.Errorf("debugfs ls -p: unexpected line %q", l)
		}
		cur.byName[f[5]] = uint32(ino)
	}
	if next != len(listed) {
		return fmt.Errorf("debugfs listed %d of %d directories", next, len(listed))
	}
	for _, d := range listed {
		for _, n := range d.children {
			ino, ok := d.byName[n.name]
			if !ok {
				return fmt.Errorf("%s was not created", n.path)
			}
			n.ino = ino
		}
		d.byName = nil
	}
	return nil
}

// writeAttrs writes the second run's commands: by inode number, everything
// the creating commands do not set.
func writeAttrs(path, scratch string, t *tree, epoch int64, sb *superblock) error {
	c, err := newCmdFile(path)
	if err != nil {
		return err
	}
	a := &attrWriter{c: c, t: t, epoch: epoch, scratch: scratch}
	// The inodes mke2fs made carry its E2FSPROGS_FAKE_TIME, which it
	// ignores when it is 0: set them here. Inode 1 (bad blocks) has no
	// extra fields. lost+found's attributes follow if the tree has one.
	for _, f := range []string{"atime", "ctime", "mtime"} {
		c.line("sif <1> %s_lo %d", f, uint32(epoch))
	}
	reserved := []string{quote("/lost+found")}
	if sb.compat&compatResizeInode != 0 {
		reserved = append(reserved, "<7>")
	}
	if sb.compat&compatHasJournal != 0 && sb.journalInum != 0 {
		reserved = append(reserved, fmt.Sprintf("<%d>", sb.journalInum))
	}
	for _, r := range reserved {
		for _, f := range []string{"atime", "ctime", "mtime", "crtime"} {
			a.time(r, f, epoch, 0)
		}
	}
	t.root.ino = 2
	var walk func(n *node)
	walk = func(n *node) {
		if !n.extraLink {
			a.attrs(n)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(t.root)
	if a.err != nil {
		c.close()
		return a.err
	}
	return c.close()
}

type attrWriter struct {
	c       *cmdFile
	t       *tree
	epoch   int64
	scratch string // directory for xattr value files
	nx      int
	err     error
}

// attrs sets mode (with setuid, setgid and sticky), owner, link count, all
// four times as raw fields, and xattrs. atime, ctime and crtime are the
// epoch, whatever they are on the host; mtime is the source's, clamped to
// the epoch.
func (a *attrWriter) attrs(n *node) {
	r := fmt.Sprintf("<%d>", n.ino)
	c := a.c
	c.line("sif %s mode 0%o", r, n.mode())
	c.line("sif %s uid %d", r, n.st.Uid)
	c.line("sif %s gid %d", r, n.st.Gid)
	if !n.isDir() && n.st.Nlink > 1 {
		c.line("sif %s links_count %d", r, a.t.links[linkKey{n.st.Dev, n.st.Ino}])
	}
	msec, mnsec := n.mtime(a.epoch)
	a.time(r, "mtime", msec, mnsec)
	a.time(r, "atime", a.epoch, 0)
	a.time(r, "ctime", a.epoch, 0)
	a.time(r, "crtime", a.epoch, 0)
	for _, x := range n.xattrs {
		a.xattr(r, x)
	}
}

// owner sets the mode and owner of an inode that mke2fs made itself (the
// root as root's 0755, lost+found as 0700) where the tree's differ, and
// reports how many commands that took.
func (a *attrWriter) owner(r string, n *node, made uint32) int {
	cmds := 0
	if n.mode() != made {
		a.c.line("sif %s mode 0%o", r, n.mode())
		cmds++
	}
	if n.st.Uid != 0 || n.st.Gid != 0 {
		a.c.line("sif %s uid %d", r, n.st.Uid)
		a.c.line("sif %s gid %d", r, n.st.Gid)
		cmds += 2
	}
	return cmds
}

// xattr sets one xattr from a file holding its value, which may be binary.
func (a *attrWriter) xattr(r string, x xattr) {
	file := filepath.Join(a.scratch, fmt.Sprintf("xattr-%d", a.nx))
	a.nx++
	if a.err == nil {
		a.err = os.WriteFile(file, x.value, 0o600)
	}
	a.c.line("ea_set -f %s -- %s %s", quote(file), r, quote(x.name))
}

// time sets an inode time through its raw fields, so no date parsing is
// involved: the low 32 bits of the seconds, and the extra word holding the
// nanoseconds and the two epoch bits that carry times past 2038.
func (a *attrWriter) time(r, field string, sec, nsec int64) {
	lo := uint32(sec)
	epochBits := uint32((sec-int64(int32(lo)))>>32) & 3
	a.c.line("sif %s %s_lo %d", r, field, lo)
	a.c.line("sif %s %s_extra %d", r, field, uint32(nsec)<<2|epochBits)
}
