package diskimage

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The NVDIMM pfn info block (struct nd_pfn_sb, linux drivers/nvdimm/pfn.h):
// a 4 KiB little-endian record the guest's nvdimm driver looks for at
// PFNInfoOffset into a namespace. Finding a valid one, it sets the
// namespace up in fsdax mode with the data starting at dataoff. Offsets of
// the fields nsdax sets (the rest stay zero):
const (
	// PFNInfoOffset is where the kernel reads the block (SZ_4K), leaving
	// the first 4 KiB, and so MBR #1, alone.
	PFNInfoOffset = 4096
	// PFNInfoSize is sizeof(struct nd_pfn_sb).
	PFNInfoSize = 4096

	sbSignature    = 0  // u8[16] "NVDIMM_PFN_INFO\0"
	sbUUID         = 16 // u8[16]
	sbParentUUID   = 32 // u8[16]; must match the namespace: zero for the legacy namespace QEMU gives
	sbFlags        = 48 // le32
	sbVersionMajor = 52 // le16
	sbVersionMinor = 54 // le16
	sbDataOff      = 56 // le64
	sbNPFNs        = 64 // le64
	sbMode         = 72 // le32
	sbStartPad     = 76 // le32, minor version 1
	sbEndTrunc     = 80 // le32, minor version 1
	sbAlign        = 84 // le32, minor version 2
	sbPageSize     = 88 // le32, minor version 4
	sbPageStruct   = 92 // le16, minor version 4
	sbChecksum     = PFNInfoSize - 8

	pfnSignature = "NVDIMM_PFN_INFO\x00"
	// pfnModeRAM (enum nd_pfn_mode PFN_MODE_RAM) keeps the struct pages
	// for the mapping in guest RAM instead of reserving room for them on
	// the device, which is why dataoff can be just the 2 MiB header.
	pfnModeRAM = 1
	// pfnVersionMinor is what nsdax writes (major stays 0). Minor 2 makes
	// the kernel honour align; being below 4, the kernel fills page_size
	// and page_struct_size with its own defaults, so they stay zero.
	pfnVersionMinor = 2
)

// WriteDAXHeader writes the nd_pfn_sb the way Kata's nsdax tool does
// ("nsdax IMAGE 2097152 2097152"): signature, PFN_MODE_RAM, dataoff =
// DAXHeaderSize, align = DAXAlignment, version 0.2, npfns 0, the given
// uuid, and the nd_sb_checksum. nsdax leaves uuid zero; pass a zero uuid
// for its exact bytes. fileSize is the size of the whole image and is only
// checked: the kernel rejects a block whose data would start past the end.
func WriteDAXHeader(w io.WriterAt, fileSize int64, uuid [16]byte) error {
	if fileSize <= DAXHeaderSize || fileSize%DAXAlignment != 0 {
		return fmt.Errorf("diskimage: DAX image size %d must be a multiple of %d larger than %d", fileSize, DAXAlignment, DAXHeaderSize)
	}
	sb := pfnInfo(uuid)
	_, err := w.WriteAt(sb[:], PFNInfoOffset)
	return err
}

// pfnInfo encodes the info block WriteDAXHeader writes.
func pfnInfo(uuid [16]byte) [PFNInfoSize]byte {
	var sb [PFNInfoSize]byte
	le := binary.LittleEndian
	copy(sb[sbSignature:], pfnSignature)
	copy(sb[sbUUID:], uuid[:])
	le.PutUint16(sb[sbVersionMinor:], pfnVersionMinor)
	le.PutUint64(sb[sbDataOff:], DAXHeaderSize)
	le.PutUint32(sb[sbMode:], pfnModeRAM)
	le.PutUint32(sb[sbAlign:], DAXAlignment)
	// The checksum field is still zero here, as nd_sb_checksum requires.
	le.PutUint64(sb[sbChecksum:], Fletcher64(sb[:]))
	return sb
}

// Fletcher64 is the kernel's nd_fletcher64(addr, len, le=true): over b read
// as little-endian 32-bit words, a 32-bit running sum lo and the sum hi of
// its successive values, returned as hi<<32 | lo (both wrap at 32 bits).
// Trailing bytes short of a word are ignored, as in the kernel. For an info
// block's checksum, pass the whole block with its checksum field zeroed.
func Fletcher64(b []byte) uint64 {
	var lo uint32
	var hi uint64
	for i := 0; i+4 <= len(b); i += 4 {
		lo += binary.LittleEndian.Uint32(b[i:])
		hi += uint64(lo)
	}
	return hi<<32 | uint64(lo)
}
