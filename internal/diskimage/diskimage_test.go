package diskimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// fletcherByDefinition is an independent restatement of nd_fletcher64:
// lo is the sum of the n words and hi the sum of the n prefix sums, i.e.
// sum of (n-i)*w[i], both modulo 2^32.
func fletcherByDefinition(b []byte) uint64 {
	n := uint64(len(b) / 4)
	var lo, hi uint64
	for i := uint64(0); i < n; i++ {
		w := uint64(binary.LittleEndian.Uint32(b[4*i:]))
		lo += w
		hi += (n - i) * w
	}
	return (hi&0xffffffff)<<32 | lo&0xffffffff
}

func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestFletcher64(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want uint64
	}{
		{"empty", nil, 0},
		// lo = 1+2+3 = 6, hi = 1+3+6 = 10.
		{"small", words(1, 2, 3), 10<<32 | 6},
		// lo wraps: 0xffffffff, then 0xfffffffe; hi = 0x1fffffffd, of
		// which only the low 32 bits survive the shift.
		{"wrap", words(0xffffffff, 0xffffffff), 0xfffffffd_fffffffe},
		// Words are little-endian regardless of the host.
		{"endianness", []byte{1, 0, 0, 0}, 1<<32 | 1},
		// A trailing partial word is ignored, as len/sizeof(u32) does.
		{"partial", []byte{1, 0, 0, 0, 9, 9}, 1<<32 | 1},
	} {
		if got := Fletcher64(tc.in); got != tc.want {
			t.Errorf("%s: Fletcher64 = %#x, want %#x", tc.name, got, tc.want)
		}
	}
	r := rand.New(rand.NewSource(1))
	b := make([]byte, PFNInfoSize)
	for i := 0; i < 20; i++ {
		r.Read(b)
		if got, want := Fletcher64(b), fletcherByDefinition(b); got != want {
			t.Fatalf("random block %d: Fletcher64 = %#x, by definition %#x", i, got, want)
		}
	}
}

// TestPFNInfo checks the info block field by field and against the bytes
// Kata's nsdax.gpl.c produces for "nsdax IMAGE 2097152 2097152" (built
// with gcc on x86-64; its checksum field read 0x685b032be3943830).
func TestPFNInfo(t *testing.T) {
	sb := pfnInfo([16]byte{})
	le := binary.LittleEndian
	if got := string(sb[sbSignature : sbSignature+16]); got != "NVDIMM_PFN_INFO\x00" {
		t.Errorf("signature %q", got)
	}
	for _, f := range []struct {
		name      string
		off, size int
		want      uint64
	}{
		{"flags", sbFlags, 4, 0},
		{"version_major", sbVersionMajor, 2, 0},
		{"version_minor", sbVersionMinor, 2, 2},
		{"dataoff", sbDataOff, 8, 2 << 20},
		{"npfns", sbNPFNs, 8, 0},
		{"mode", sbMode, 4, 1},
		{"start_pad", sbStartPad, 4, 0},
		{"end_trunc", sbEndTrunc, 4, 0},
		{"align", sbAlign, 4, 2 << 20},
		{"page_size", sbPageSize, 4, 0},
		{"page_struct_size", sbPageStruct, 2, 0},
		{"checksum", sbChecksum, 8, 0x685b032be3943830},
	} {
		var got uint64
		switch f.size {
		case 2:
			got = uint64(le.Uint16(sb[f.off:]))
		case 4:
			got = uint64(le.Uint32(sb[f.off:]))
		case 8:
			got = le.Uint64(sb[f.off:])
		}
		if got != f.want {
			t.Errorf("%s at %d = %#x, want %#x", f.name, f.off, got, f.want)
		}
	}
	// Everything not set above is zero: uuid, parent_uuid and padding.
	var rest bytes.Buffer
	rest.Write(sb[sbUUID:sbFlags])
	rest.Write(sb[sbPageStruct+2 : sbChecksum])
	if bytes.Count(rest.Bytes(), []byte{0}) != rest.Len() {
		t.Error("uuid, parent_uuid or padding not zero")
	}

	// Validate as nd_pfn_validate does: checksum over the block with the
	// checksum field zeroed, here with a non-zero uuid too.
	uuid := [16]byte{0xde, 0xad, 0xbe, 0xef, 15: 1}
	sb = pfnInfo(uuid)
	if !bytes.Equal(sb[sbUUID:sbUUID+16], uuid[:]) {
		t.Error("uuid not stored")
	}
	sum := le.Uint64(sb[sbChecksum:])
	le.PutUint64(sb[sbChecksum:], 0)
	if want := fletcherByDefinition(sb[:]); sum != want {
		t.Errorf("checksum %#x, want %#x", sum, want)
	}
}

type sliceWriter []byte

func (s sliceWriter) WriteAt(p []byte, off int64) (int, error) {
	return copy(s[off:], p), nil
}

func TestWriteMBR(t *testing.T) {
	img := make(sliceWriter, 1024)
	if err := WriteMBR(img, 512, 2048, 253952, DiskSignature); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(img[:512], []byte{0}) != 512 {
		t.Error("wrote before offset")
	}
	mbr := img[512:]
	le := binary.LittleEndian
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		t.Errorf("boot signature % x", mbr[510:])
	}
	if got := le.Uint32(mbr[440:]); got != DiskSignature {
		t.Errorf("disk signature %#x", got)
	}
	e := mbr[446:462]
	if e[4] != 0x83 || le.Uint32(e[8:]) != 2048 || le.Uint32(e[12:]) != 253952 {
		t.Errorf("partition entry % x", e)
	}
	// The entry parted 3.5 writes for image_builder.sh's
	// "mkpart primary ext4 1M -1M" on a 126 MiB file: CHS (16,0,1) to
	// the "beyond CHS" (1023,3,32).
	want := []byte{0x00, 0x00, 0x01, 0x10, 0x83, 0x03, 0xe0, 0xff, 0x00, 0x08, 0x00, 0x00, 0x00, 0xe0, 0x03, 0x00}
	if !bytes.Equal(e, want) {
		t.Errorf("entry % x, want % x", e, want)
	}
	if bytes.Count(mbr[462:510], []byte{0}) != 48 || bytes.Count(mbr[:440], []byte{0}) != 440 {
		t.Error("other entries or boot code not zero")
	}

	// A small disk keeps real CHS values at the end: parted wrote
	// (111,3,32) for "3M -1M" on an 8 MiB file.
	if err := WriteMBR(img, 0, 6144, 8192, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := []byte(img[446:454]), []byte{0x00, 0x00, 0x01, 0x30, 0x83, 0x03, 0x20, 0x6f}; !bytes.Equal(got, want) {
		t.Errorf("small disk entry % x, want % x", got, want)
	}

	if WriteMBR(img, 0, 0, 10, 0) == nil || WriteMBR(img, 0, 1, 0, 0) == nil || WriteMBR(img, 0, 1<<31, 1<<31+1, 0) == nil {
		t.Error("bad partitions accepted")
	}
}

func TestNewLayout(t *testing.T) {
	const M = 1 << 20
	for _, tc := range []struct {
		fs, size, part int64
	}{
		{4096, 128 * M, 124 * M},
		{124 * M, 128 * M, 124 * M},
		{124*M + 4096, 256 * M, 252 * M},
		{1000 * M, 1024 * M, 1020 * M},
	} {
		l, err := NewLayout(tc.fs, true)
		if err != nil {
			t.Fatal(err)
		}
		want := Layout{SizeBytes: tc.size, DataOffset: 2 * M, PartStart: 3 * M, PartSize: tc.part, DAX: true}
		if l != want {
			t.Errorf("dax %d: %+v, want %+v", tc.fs, l, want)
		}
		l, err = NewLayout(tc.fs, false)
		if err != nil {
			t.Fatal(err)
		}
		want = Layout{SizeBytes: tc.size - 2*M, DataOffset: 0, PartStart: 1 * M, PartSize: tc.part}
		if l != want {
			t.Errorf("no dax %d: %+v, want %+v", tc.fs, l, want)
		}
		// A filesystem grown to fill the partition keeps the layout.
		if again, _ := NewLayout(l.PartSize, false); again != l {
			t.Errorf("layout for PartSize %d changed: %+v", l.PartSize, again)
		}
	}
	for _, bad := range []int64{0, -4096, 4095, 1 << 42} {
		if _, err := NewLayout(bad, true); err == nil {
			t.Errorf("NewLayout(%d) accepted", bad)
		}
	}
}

// testFS is a fake 5 MiB "filesystem": random blocks with a 2 MiB gap of
// zeros, so both the data and the holes are exercised.
func testFS(t *testing.T) []byte {
	t.Helper()
	fs := make([]byte, 5<<20)
	rand.New(rand.NewSource(2)).Read(fs)
	clear(fs[1<<20 : 3<<20])
	clear(fs[8192:12288])
	return fs
}

// assemble makes the image as kforge does: the filesystem written at the
// partition's offset (its zero blocks left as holes, as mke2fs leaves them
// in a fresh file), then AddHeaders.
func assemble(t *testing.T, name string, fs []byte, dax bool) (string, Layout) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeSparse(t, f, PartStartOf(dax), fs)
	if err := AddHeaders(f, int64(len(fs)), dax, [16]byte{}); err != nil {
		t.Fatal(err)
	}
	l, _ := NewLayout(int64(len(fs)), dax)
	return p, l
}

// writeSparse writes fs at off, skipping all-zero 4 KiB blocks.
func writeSparse(t *testing.T, f *os.File, off int64, fs []byte) {
	t.Helper()
	if err := f.Truncate(off + int64(len(fs))); err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 4096)
	for i := 0; i < len(fs); i += 4096 {
		if b := fs[i:min(i+4096, len(fs))]; !bytes.Equal(b, zero[:len(b)]) {
			if _, err := f.WriteAt(b, off+int64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAssemble(t *testing.T) {
	fs := testFS(t)
	daxPath, l := assemble(t, "dax.img", fs, true)
	img, err := os.ReadFile(daxPath)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(img)) != l.SizeBytes || l.SizeBytes != 128<<20 {
		t.Fatalf("size %d, layout %+v", len(img), l)
	}
	le := binary.LittleEndian
	checkMBR := func(at int64, start uint32) {
		t.Helper()
		m := img[at : at+512]
		e := m[446:]
		if m[510] != 0x55 || m[511] != 0xAA || e[4] != 0x83 ||
			le.Uint32(e[8:]) != start || int64(le.Uint32(e[12:])) != l.PartSize/512 {
			t.Errorf("MBR at %d: entry % x", at, e[:16])
		}
	}
	checkMBR(0, 6144)
	checkMBR(2<<20, 2048)
	sb := pfnInfo([16]byte{})
	if !bytes.Equal(img[4096:8192], sb[:]) {
		t.Error("info block not at 4096")
	}
	if !bytes.Equal(img[l.PartStart:l.PartStart+int64(len(fs))], fs) {
		t.Error("filesystem not at partition start")
	}
	// Everything else is zero.
	zeroed := bytes.Clone(img)
	clear(zeroed[:512])
	clear(zeroed[4096:8192])
	clear(zeroed[2<<20 : 2<<20+512])
	clear(zeroed[l.PartStart : l.PartStart+int64(len(fs))])
	if bytes.Count(zeroed, []byte{0}) != len(zeroed) {
		t.Error("stray bytes outside MBRs, info block and filesystem")
	}

	// Without DAX the image is the DAX one from its data offset on.
	plainPath, pl := assemble(t, "plain.img", fs, false)
	plain, err := os.ReadFile(plainPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, img[l.DataOffset:]) || pl.PartStart != l.PartStart-l.DataOffset {
		t.Error("image without DAX differs from the DAX image's tail")
	}

	// Holes stay holes: at most the data blocks plus the MBR/header
	// blocks are allocated (with slack for filesystem granularity).
	var st syscall.Stat_t
	if err := syscall.Stat(daxPath, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > 3<<20+4<<20 {
		t.Errorf("%d bytes allocated for %d bytes of data", alloc, 3<<20)
	}

	// A file too short to hold the filesystem at its offset is an error,
	// not a silently zero-padded image.
	f, _ := os.Create(filepath.Join(t.TempDir(), "short.img"))
	defer f.Close()
	writeSparse(t, f, PartStartOf(true), fs[:4096])
	if err := AddHeaders(f, int64(len(fs)), true, [16]byte{}); err == nil {
		t.Error("short filesystem accepted")
	}
}

func TestAssembleReproducible(t *testing.T) {
	fs := testFS(t)
	for _, dax := range []bool{true, false} {
		a, _ := assemble(t, "a.img", fs, dax)
		b, _ := assemble(t, "b.img", fs, dax)
		if sa, sb := fileSum(t, a), fileSum(t, b); sa != sb {
			t.Errorf("dax=%v: same inputs gave different images", dax)
		}
		// A file longer than the image holds something else: refused
		// rather than cut.
		p := filepath.Join(t.TempDir(), "junk.img")
		if err := os.WriteFile(p, bytes.Repeat([]byte{0xa5}, 130<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = AddHeaders(f, int64(len(fs)), dax, [16]byte{})
		f.Close()
		if err == nil {
			t.Errorf("dax=%v: a file longer than the image was accepted", dax)
		}
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestSfdisk has util-linux read the partition tables back.
func TestSfdisk(t *testing.T) {
	if _, err := exec.LookPath("sfdisk"); err != nil {
		if testing.Short() {
			t.Skip("sfdisk not installed (apt-get install fdisk)")
		}
		t.Fatal("sfdisk not installed (apt-get install fdisk); run with -short to skip")
	}
	fs := testFS(t)
	for _, dax := range []bool{true, false} {
		p, l := assemble(t, "img", fs, dax)
		out, err := exec.Command("sfdisk", "--json", p).Output()
		if err != nil {
			t.Fatalf("sfdisk --json: %v", err)
		}
		var pt struct {
			PartitionTable struct {
				Label      string
				ID         string
				Unit       string
				Partitions []struct {
					Start, Size int64
					Type        string
				}
			}
		}
		if err := json.Unmarshal(out, &pt); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		got := pt.PartitionTable
		if got.Label != "dos" || got.ID != "0x4752464b" || got.Unit != "sectors" || len(got.Partitions) != 1 {
			t.Fatalf("dax=%v: %s", dax, out)
		}
		part := got.Partitions[0]
		if part.Start*512 != l.PartStart || part.Size*512 != l.PartSize || part.Type != "83" {
			t.Errorf("dax=%v: partition %+v, want start %d size %d", dax, part, l.PartStart/512, l.PartSize/512)
		}
	}
}

// TestMatchesParted runs the parted commands of image_builder.sh's
// create_disk, when parted is installed, and compares the partition
// entries (parted's random disk id and boot code aside) with ours.
func TestMatchesParted(t *testing.T) {
	if _, err := exec.LookPath("parted"); err != nil {
		t.Skip("parted not installed")
	}
	// create_disk "$image" $size ext4 $part_start
	parted := func(sizeMiB int64, startMiB int) []byte {
		t.Helper()
		p := filepath.Join(t.TempDir(), "parted.img")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(sizeMiB << 20)
		f.Close()
		cmd := exec.Command("parted", "-s", "-a", "optimal", p, "--", "mklabel", "msdos",
			"mkpart primary ext4 "+strconv.Itoa(startMiB)+"M -1M")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("parted: %v: %s", err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b[446:512]
	}
	for _, fsSize := range []int64{4096, 200 << 20} {
		l, _ := NewLayout(fsSize, true)
		img := filepath.Join(t.TempDir(), "img")
		f, _ := os.Create(img)
		// An empty filesystem: the file is a hole up to its end.
		if err := f.Truncate(l.PartStart + fsSize); err != nil {
			t.Fatal(err)
		}
		if err := AddHeaders(f, fsSize, true, [16]byte{}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		ours, _ := os.ReadFile(img)
		sizeMiB := l.SizeBytes >> 20
		// MBR #1 comes from the header image: the full size, partition at 3M.
		if want := parted(sizeMiB, 3); !bytes.Equal(ours[446:512], want) {
			t.Errorf("MBR #1 for %d MiB: % x, parted % x", sizeMiB, ours[446:512], want)
		}
		// MBR #2 is the rootfs image's: 2 MiB smaller, partition at 1M.
		inner := ours[l.DataOffset : l.DataOffset+512]
		if want := parted(sizeMiB-2, 1); !bytes.Equal(inner[446:], want) {
			t.Errorf("MBR #2 for %d MiB: % x, parted % x", sizeMiB, inner[446:], want)
		}
	}
}
