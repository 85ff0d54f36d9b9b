package ext4image

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The image is populated by one debugfs run over a command file written in
// the tree's sorted order, not by `mkfs.ext4 -d`: mke2fs -d walks the source
// in readdir order (so inode numbers and directory layout follow the order
// the files were created in) and copies atime/ctime, and fixing that needs a
// copy of the tree on a filesystem with a predictable readdir order plus the
// privilege to chown and mknod in that copy. debugfs creates each entry with
// the same libext2fs code mke2fs -d uses, in the order it is told, and sets
// owners, modes, device numbers and times as plain inode fields, so nothing
// on the host needs privileges and nothing depends on the host filesystem's
// readdir order.

// maxLine keeps lines under debugfs's fgets buffer (BUFSIZ, 8192 bytes);
// a longer line would be split into two commands.
const maxLine = 8000

type script struct {
	w       *bufio.Writer
	t       *tree
	epoch   int64
	scratch string // directory for xattr value files
	nx      int
	// first maps a multiply linked inode to the image path of its first
	// name, which the later names are linked to.
	first map[linkKey]string
	err   error
}

// writeScript writes the debugfs commands that populate the empty
// filesystem whose superblock is sb with t into file.
func writeScript(file, scratch string, t *tree, epoch int64, sb *superblock) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	s := &script{w: bufio.NewWriterSize(f, 1<<20), t: t, epoch: epoch, scratch: scratch, first: map[linkKey]string{}}
	// The inodes mke2fs made carry its E2FSPROGS_FAKE_TIME, which it
	// ignores when it is 0: set them here. Inode 1 (bad blocks) has no
	// extra fields.
	for _, f := range []string{"atime", "ctime", "mtime"} {
		s.line("sif <1> %s_lo %d", f, uint32(epoch))
	}
	reserved := []string{quote("/lost+found")} // its attributes follow if the tree has one
	if sb.compat&compatResizeInode != 0 {
		reserved = append(reserved, "<7>")
	}
	if sb.compat&compatHasJournal != 0 && sb.journalInum != 0 {
		reserved = append(reserved, fmt.Sprintf("<%d>", sb.journalInum))
	}
	for _, r := range reserved {
		for _, f := range []string{"atime", "ctime", "mtime", "crtime"} {
			s.time(r, f, epoch, 0)
		}
	}
	// The root exists already (mke2fs made it); it takes the source root's
	// owner, mode and times.
	s.attrs("<2>", t.root, false)
	s.dir(t.root)
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if cerr := f.Close(); s.err == nil {
		s.err = cerr
	}
	return s.err
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

func (s *script) line(format string, args ...any) {
	if s.err != nil {
		return
	}
	l := fmt.Sprintf(format, args...)
	if len(l) > maxLine {
		s.err = fmt.Errorf("debugfs command too long (%d bytes): %.200s...", len(l), l)
		return
	}
	_, s.err = s.w.WriteString(l + "\n")
}

// dir creates d's entries in name order, then descends into its
// subdirectories in name order.
func (s *script) dir(d *node) {
	s.line("cd %s", quote(d.path))
	s.line("lcd %s", quote(d.src))
	for _, c := range d.children {
		s.entry(d, c)
	}
	for _, c := range d.children {
		if c.isDir() {
			s.dir(c)
		}
	}
}

func (s *script) entry(parent, c *node) {
	name := quote(c.name)
	linked := false
	if !c.isDir() && c.st.Nlink > 1 {
		k := linkKey{c.st.Dev, c.st.Ino}
		if first, ok := s.first[k]; ok {
			// debugfs's ln neither grows a full directory nor counts the
			// link, so the name is first made as a fifo (mknod grows the
			// directory like every creating command), the fifo is freed
			// and wiped (kill_file stamps a deletion time, clri clears
			// it), and ln puts the link into the slot the fifo's name
			// left. The link count was set on the first name.
			r := ref(c.name)
			s.line("mknod %s p", name)
			s.line("kill_file %s", r)
			s.line("clri %s", r)
			s.line("unlink %s", r)
			s.line("ln %s %s", quote(first), name)
			return
		}
		s.first[k] = c.path
		linked = true
	}
	switch c.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if parent.path == "/" && c.name == "lost+found" {
			break // mke2fs made it
		}
		s.line("mkdir %s", name)
	case unix.S_IFREG:
		s.line("write %s %s", name, name) // the source is relative to lcd
	case unix.S_IFLNK:
		s.line("symlink %s %s", name, quote(c.target))
	case unix.S_IFCHR:
		s.line("mknod %s c %d %d", name, unix.Major(c.st.Rdev), unix.Minor(c.st.Rdev))
	case unix.S_IFBLK:
		s.line("mknod %s b %d %d", name, unix.Major(c.st.Rdev), unix.Minor(c.st.Rdev))
	case unix.S_IFIFO:
		s.line("mknod %s p", name)
	}
	s.attrs(ref(c.name), c, linked)
}

// attrs sets what the creating command does not: mode (with setuid, setgid
// and sticky), owner, link count, and all four times as raw fields. atime,
// ctime and crtime are the epoch, whatever they are on the host; mtime is
// the source's, clamped to the epoch.
func (s *script) attrs(r string, n *node, linked bool) {
	s.line("sif %s mode 0%o", r, n.mode())
	s.line("sif %s uid %d", r, n.st.Uid)
	s.line("sif %s gid %d", r, n.st.Gid)
	if linked {
		s.line("sif %s links_count %d", r, s.t.links[linkKey{n.st.Dev, n.st.Ino}])
	}
	msec, mnsec := n.st.Mtim.Sec, n.st.Mtim.Nsec
	if msec > s.epoch || (msec == s.epoch && mnsec > 0) {
		msec, mnsec = s.epoch, 0
	}
	s.time(r, "mtime", msec, mnsec)
	s.time(r, "atime", s.epoch, 0)
	s.time(r, "ctime", s.epoch, 0)
	s.time(r, "crtime", s.epoch, 0)
	for _, x := range n.xattrs {
		file := filepath.Join(s.scratch, fmt.Sprintf("xattr-%d", s.nx))
		s.nx++
		if s.err == nil {
			s.err = os.WriteFile(file, x.value, 0o600)
		}
		s.line("ea_set -f %s -- %s %s", quote(file), r, quote(x.name))
	}
}

// time sets an inode time through its raw fields, so no date parsing is
// involved: the low 32 bits of the seconds, and the extra word holding the
// nanoseconds and the two epoch bits that carry times past 2038.
func (s *script) time(r, field string, sec, nsec int64) {
	lo := uint32(sec)
	epochBits := uint32((sec-int64(int32(lo)))>>32) & 3
	s.line("sif %s %s_lo %d", r, field, lo)
	s.line("sif %s %s_extra %d", r, field, uint32(nsec)<<2|epochBits)
}
