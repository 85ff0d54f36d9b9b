package ext4image

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// Offsets into the ext4 superblock (see struct ext4_super_block).
const (
	sbSize             = 1024
	sbInodesCount      = 0x00
	sbBlocksCountLo    = 0x04
	sbFreeBlocksLo     = 0x0C
	sbFreeInodes       = 0x10
	sbFirstDataBlock   = 0x14
	sbLogBlockSize     = 0x18
	sbBlocksPerGroup   = 0x20
	sbWtime            = 0x30
	sbLastcheck        = 0x40
	sbMagic            = 0x38
	sbBlockGroupNr     = 0x5A
	sbJournalInum      = 0xE0
	sbMkfsTime         = 0x108
	sbFeatureCompat    = 0x5C
	sbFeatureIncompat  = 0x60
	sbFeatureROCompat  = 0x64
	sbBlocksCountHi    = 0x150
	sbFreeBlocksHi     = 0x158
	sbWtimeHi          = 0x274
	sbMkfsTimeHi       = 0x276
	sbLastcheckHi      = 0x277
	sbChecksum         = 0x3FC
	ext4Magic          = 0xEF53
	incompat64bit      = 0x80
	roCompatSparse     = 0x1
	compatHasJournal   = 0x4
	compatResizeInode  = 0x10
	roCompatMetaCsum   = 0x400
	compatSparseSuper2 = 0x200
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type superblock struct {
	inodes, freeInodes       int64
	blocks, freeBlocks       int64
	blockSize                int64
	firstDataBlock           int64
	blocksPerGroup           int64
	compat, incompat, roComp uint32
	journalInum              uint32
}

func parseSuperblock(b []byte) (*superblock, error) {
	le := binary.LittleEndian
	if le.Uint16(b[sbMagic:]) != ext4Magic {
		return nil, fmt.Errorf("no ext4 superblock")
	}
	s := &superblock{
		inodes:         int64(le.Uint32(b[sbInodesCount:])),
		freeInodes:     int64(le.Uint32(b[sbFreeInodes:])),
		blocks:         int64(le.Uint32(b[sbBlocksCountLo:])),
		freeBlocks:     int64(le.Uint32(b[sbFreeBlocksLo:])),
		blockSize:      1024 << le.Uint32(b[sbLogBlockSize:]),
		firstDataBlock: int64(le.Uint32(b[sbFirstDataBlock:])),
		blocksPerGroup: int64(le.Uint32(b[sbBlocksPerGroup:])),
		compat:         le.Uint32(b[sbFeatureCompat:]),
		incompat:       le.Uint32(b[sbFeatureIncompat:]),
		roComp:         le.Uint32(b[sbFeatureROCompat:]),
		journalInum:    le.Uint32(b[sbJournalInum:]),
	}
	if s.incompat&incompat64bit != 0 {
		s.blocks |= int64(le.Uint32(b[sbBlocksCountHi:])) << 32
		s.freeBlocks |= int64(le.Uint32(b[sbFreeBlocksHi:])) << 32
	}
	return s, nil
}

// readSuperblock reads the superblock of the filesystem that starts at
// offset bytes into the file.
func readSuperblock(path string, offset int64) (*superblock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, sbSize)
	if _, err := f.ReadAt(b, offset+1024); err != nil {
		return nil, err
	}
	return parseSuperblock(b)
}

// hasSuper reports whether block group g keeps a superblock copy.
func (s *superblock) hasSuper(g int64) bool {
	if g == 0 {
		return true
	}
	if s.compat&compatSparseSuper2 != 0 {
		return false // its two backups are not looked for here
	}
	if s.roComp&roCompatSparse == 0 || g == 1 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	for _, p := range []int64{3, 5, 7} {
		n := g
		for n%p == 0 {
			n /= p
		}
		if n == 1 {
			return true
		}
	}
	return false
}

// setTimes sets the superblock's and its backups' times (creation, last
// write, last check) to t and fixes their checksums. debugfs stamps the wall
// clock as the last write time when it closes the filesystem (e2fsprogs
// 1.47.0 honours E2FSPROGS_FAKE_TIME in mke2fs only, and mke2fs ignores it
// when it is 0), and debugfs commands cannot set it. The filesystem starts
// at offset bytes into the file.
func setTimes(path string, offset, t int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, sbSize)
	if _, err := f.ReadAt(b, offset+1024); err != nil {
		return err
	}
	s, err := parseSuperblock(b)
	if err != nil {
		return err
	}
	groups := (s.blocks - s.firstDataBlock + s.blocksPerGroup - 1) / s.blocksPerGroup
	le := binary.LittleEndian
	for g := int64(0); g < groups; g++ {
		if !s.hasSuper(g) {
			continue
		}
		off := offset + 1024
		if g > 0 {
			off = offset + (s.firstDataBlock+g*s.blocksPerGroup)*s.blockSize
		}
		if _, err := f.ReadAt(b, off); err != nil {
			return err
		}
		if le.Uint16(b[sbMagic:]) != ext4Magic || int64(le.Uint16(b[sbBlockGroupNr:])) != g {
			if g == 0 {
				return fmt.Errorf("%s: superblock not found", path)
			}
			continue // not a copy after all
		}
		for _, f := range [][2]int{{sbWtime, sbWtimeHi}, {sbMkfsTime, sbMkfsTimeHi}, {sbLastcheck, sbLastcheckHi}} {
			le.PutUint32(b[f[0]:], uint32(t))
			b[f[1]] = byte(t >> 32)
		}
		if le.Uint32(b[sbFeatureROCompat:])&roCompatMetaCsum != 0 {
			// crc32c seeded with ~0 and not inverted at the end, as
			// the kernel's ext4_superblock_csum computes it.
			le.PutUint32(b[sbChecksum:], ^crc32.Checksum(b[:sbChecksum], castagnoli))
		}
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
	}
	return nil
}
