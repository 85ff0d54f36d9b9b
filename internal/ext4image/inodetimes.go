package ext4image

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// Offsets used by clampInodeTimes, from struct ext4_super_block,
// ext4_group_desc and ext4_inode.
const (
	sbInodesPerGroup  = 0x28
	sbInodeSize       = 0x58
	sbUUID            = 0x68
	sbDescSize        = 0xFE
	sbChecksumSeed    = 0x270
	incompatCsumSeed  = 0x2000
	gdInodeBitmapLo   = 0x04
	gdInodeTableLo    = 0x08
	gdFlags           = 0x12
	gdInodeBitmapHi   = 0x24
	gdInodeTableHi    = 0x28
	bgInodeUninit     = 0x1
	inoAtime          = 0x08
	inoCtime          = 0x0C
	inoMtime          = 0x10
	inoGeneration     = 0x64
	inoChecksumLo     = 0x7C
	inoExtraIsize     = 0x80
	inoChecksumHi     = 0x82
	inoCtimeExtra     = 0x84
	inoMtimeExtra     = 0x88
	inoAtimeExtra     = 0x8C
	inoCrtime         = 0x90
	inoCrtimeExtra    = 0x94
	goodOldInodeSize  = 128
	descSize32        = 32
	descSizeMin64bit  = 64
	extraTimeEpochBit = 3
)

// clampInodeTimes gives every inode in use the times the image promises:
// atime, ctime and crtime the epoch, and an mtime later than the epoch the
// epoch. mke2fs -d on a directory copies atime and ctime from the source,
// where they are the build's own clock, so they are rewritten here in the
// inode tables themselves, with each inode's checksum, rather than by a
// debugfs command per inode: the tree's paths are not needed, and an
// image of thousands of inodes takes milliseconds. The filesystem starts at
// offset bytes into the file and must not be mounted.
func clampInodeTimes(path string, offset, epoch int64) (changed int, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	le := binary.LittleEndian
	sbBytes := make([]byte, sbSize)
	if _, err := f.ReadAt(sbBytes, offset+1024); err != nil {
		return 0, err
	}
	s, err := parseSuperblock(sbBytes)
	if err != nil {
		return 0, err
	}
	perGroup := int64(le.Uint32(sbBytes[sbInodesPerGroup:]))
	inodeSize := int64(le.Uint16(sbBytes[sbInodeSize:]))
	if inodeSize < goodOldInodeSize {
		inodeSize = goodOldInodeSize
	}
	descSize := int64(descSize32)
	if s.incompat&incompat64bit != 0 {
		descSize = int64(le.Uint16(sbBytes[sbDescSize:]))
		if descSize < descSizeMin64bit {
			return 0, fmt.Errorf("%s: group descriptor size %d", path, descSize)
		}
	}
	csum := s.roComp&roCompatMetaCsum != 0
	// The seed of every metadata checksum: the superblock's own with
	// metadata_csum_seed, else the crc32c of the UUID.
	seed := ^crc32.Update(0, castagnoli, sbBytes[sbUUID:sbUUID+16])
	if s.incompat&incompatCsumSeed != 0 {
		seed = le.Uint32(sbBytes[sbChecksumSeed:])
	}

	groups := (s.blocks - s.firstDataBlock + s.blocksPerGroup - 1) / s.blocksPerGroup
	gdt := make([]byte, groups*descSize)
	if _, err := f.ReadAt(gdt, offset+(s.firstDataBlock+1)*s.blockSize); err != nil {
		return 0, fmt.Errorf("%s: group descriptors: %w", path, err)
	}
	bitmap := make([]byte, s.blockSize)
	table := make([]byte, perGroup*inodeSize)
	for g := int64(0); g < groups; g++ {
		d := gdt[g*descSize : (g+1)*descSize]
		if le.Uint16(d[gdFlags:])&bgInodeUninit != 0 {
			continue
		}
		bitmapBlock := int64(le.Uint32(d[gdInodeBitmapLo:]))
		tableBlock := int64(le.Uint32(d[gdInodeTableLo:]))
		if descSize >= descSizeMin64bit {
			bitmapBlock |= int64(le.Uint32(d[gdInodeBitmapHi:])) << 32
			tableBlock |= int64(le.Uint32(d[gdInodeTableHi:])) << 32
		}
		if _, err := f.ReadAt(bitmap, offset+bitmapBlock*s.blockSize); err != nil {
			return changed, fmt.Errorf("%s: inode bitmap of group %d: %w", path, g, err)
		}
		if _, err := f.ReadAt(table, offset+tableBlock*s.blockSize); err != nil {
			return changed, fmt.Errorf("%s: inode table of group %d: %w", path, g, err)
		}
		dirty := false
		for i := int64(0); i < perGroup; i++ {
			if bitmap[i/8]&(1<<(i%8)) == 0 {
				continue
			}
			ino := table[i*inodeSize : (i+1)*inodeSize]
			if clampInode(ino, epoch) {
				if csum {
					setInodeChecksum(ino, seed, uint32(g*perGroup+i+1))
				}
				dirty = true
				changed++
			}
		}
		if dirty {
			if _, err := f.WriteAt(table, offset+tableBlock*s.blockSize); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// fits reports whether the inode's extra space holds the field that ends
// end bytes into the inode (EXT4_FITS_IN_INODE).
func fits(ino []byte, end int) bool {
	if len(ino) <= goodOldInodeSize {
		return false
	}
	return end <= goodOldInodeSize+int(binary.LittleEndian.Uint16(ino[inoExtraIsize:]))
}

// clampInode sets one raw inode's times and reports whether it changed.
func clampInode(ino []byte, epoch int64) bool {
	le := binary.LittleEndian
	lo, bits := uint32(epoch), uint32((epoch-int64(int32(uint32(epoch))))>>32)&extraTimeEpochBit
	changed := false
	set := func(at, extraAt int) {
		hasExtra := fits(ino, extraAt+4)
		if le.Uint32(ino[at:]) != lo || (hasExtra && le.Uint32(ino[extraAt:]) != bits) {
			le.PutUint32(ino[at:], lo)
			if hasExtra {
				le.PutUint32(ino[extraAt:], bits)
			}
			changed = true
		}
	}
	set(inoAtime, inoAtimeExtra)
	set(inoCtime, inoCtimeExtra)
	if fits(ino, inoCrtimeExtra+4) {
		set(inoCrtime, inoCrtimeExtra)
	}
	// The mtime as ext4 stores it: the low 32 bits signed, the two epoch
	// bits of the extra word above them, the nanoseconds above those.
	sec, nsec := int64(int32(le.Uint32(ino[inoMtime:]))), int64(0)
	if fits(ino, inoMtimeExtra+4) {
		x := le.Uint32(ino[inoMtimeExtra:])
		sec += int64(x&extraTimeEpochBit) << 32
		nsec = int64(x >> 2)
	}
	if sec > epoch || (sec == epoch && nsec > 0) {
		set(inoMtime, inoMtimeExtra)
	}
	return changed
}

// setInodeChecksum stores the inode's crc32c (ext4_inode_csum): seeded with
// the filesystem's seed, the inode number and its generation, over the
// inode with its checksum fields taken as zero.
func setInodeChecksum(ino []byte, seed, num uint32) {
	le := binary.LittleEndian
	hasHi := fits(ino, inoChecksumHi+2)
	le.PutUint16(ino[inoChecksumLo:], 0)
	if hasHi {
		le.PutUint16(ino[inoChecksumHi:], 0)
	}
	var n [4]byte
	raw := func(crc uint32, p []byte) uint32 { return ^crc32.Update(^crc, castagnoli, p) }
	le.PutUint32(n[:], num)
	c := raw(seed, n[:])
	c = raw(c, ino[inoGeneration:inoGeneration+4])
	c = raw(c, ino)
	le.PutUint16(ino[inoChecksumLo:], uint16(c))
	if hasHi {
		le.PutUint16(ino[inoChecksumHi:], uint16(c>>16))
	}
}
