package diskimage

import (
	"encoding/binary"
	"fmt"
	"io"
)

// PartitionType is the MBR type of the rootfs partition: 0x83, "Linux",
// what parted writes for "mkpart primary ext4".
const PartitionType = 0x83

// CHS geometry GNU parted assumes for a regular file (4 heads, 32 sectors
// per track). image_builder.sh runs parted on the image file, so these are
// the CHS bytes a Kata image carries. Nothing that matters reads CHS when
// the LBA fields are set (Linux and sfdisk use LBA only); matching parted
// just keeps our partition entries byte-identical to Kata's.
const (
	chsHeads   = 4
	chsSectors = 32
	// parted stops encoding real cylinders above 1021 and writes the
	// conventional "beyond CHS" value cylinder 1023, last head, last sector.
	chsMaxCylinder = 1021
)

// WriteMBR writes a classic MBR sector at offset in w: empty boot code,
// diskSignature at byte 440, one primary partition (type 0x83, not active)
// starting at partStartLBA and partSectors long, relative to offset, and
// the 0x55AA boot signature. The whole 512-byte sector is written so it
// also overwrites an old one.
//
// parted also puts a small boot loader in the first bytes; Kata guests are
// booted by the hypervisor loading the kernel directly, so that code never
// runs and is left out.
func WriteMBR(w io.WriterAt, offset int64, partStartLBA, partSectors uint32, diskSignature uint32) error {
	if partSectors == 0 {
		return fmt.Errorf("diskimage: empty partition")
	}
	if partStartLBA == 0 {
		return fmt.Errorf("diskimage: partition would overlap the MBR")
	}
	last := uint64(partStartLBA) + uint64(partSectors) - 1
	if last > 1<<32-1 {
		return fmt.Errorf("diskimage: partition end %d beyond 32-bit LBA", last)
	}
	var mbr [SectorSize]byte
	binary.LittleEndian.PutUint32(mbr[440:], diskSignature)
	// Bytes 444-445 stay zero ("not copy-protected").
	e := mbr[446:462]
	e[0] = 0x00 // status: not bootable, as parted leaves it
	putCHS(e[1:4], partStartLBA)
	e[4] = PartitionType
	putCHS(e[5:8], uint32(last))
	binary.LittleEndian.PutUint32(e[8:], partStartLBA)
	binary.LittleEndian.PutUint32(e[12:], partSectors)
	mbr[510], mbr[511] = 0x55, 0xAA
	_, err := w.WriteAt(mbr[:], offset)
	return err
}

// putCHS encodes lba as the 3 CHS bytes of a partition entry (head;
// sector in bits 0-5 with cylinder bits 8-9 in bits 6-7; cylinder bits 0-7)
// in parted's file geometry.
func putCHS(b []byte, lba uint32) {
	c := lba / (chsHeads * chsSectors)
	h := (lba / chsSectors) % chsHeads
	s := lba%chsSectors + 1
	if c > chsMaxCylinder {
		c, h, s = 1023, chsHeads-1, chsSectors
	}
	b[0] = byte(h)
	b[1] = byte(s) | byte(c>>8)<<6
	b[2] = byte(c)
}
