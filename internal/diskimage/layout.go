// Package diskimage lays out a Kata Containers guest disk image the way
// Kata's osbuilder (tools/osbuilder/image-builder/image_builder.sh plus its
// nsdax.gpl.c helper) does, but without parted, loop devices or root: the
// MBRs and the NVDIMM "pfn" info block are encoded here and the ext4 image,
// made in place at the partition offset by mke2fs, is completed around it
// (AddHeaders).
//
// With DAX (what image_builder.sh always produces) the file looks like this:
//
//	0        512 B    4 KiB     8 KiB          2 MiB     2 MiB+512 B  3 MiB           size-1 MiB  size
//	| MBR #1 |  ...   | nd_pfn_sb |    ...     | MBR #2  |    ...      | rootfs partition |  1 MiB   |
//
// MBR #1 describes the partition relative to the file (start 3 MiB) and is
// what a plain virtio-blk guest reads. A guest that maps the file as an
// NVDIMM in fsdax mode finds the info block at 4 KiB, hides everything
// before dataoff (2 MiB) and so reads MBR #2, which describes the same
// partition relative to 2 MiB (start 1 MiB). Both views put the filesystem
// at the same bytes of the file.
//
// Without DAX the image is exactly the part of the DAX image from 2 MiB on,
// i.e. the file image_builder.sh has before set_dax_header prepends the
// header: MBR at 0, partition at 1 MiB, 1 MiB free at the end.
package diskimage

import (
	"fmt"
	"os"
)

// Sizes from image_builder.sh. They are fixed by what the Kata runtime and
// guest kernel expect, so they are constants rather than options.
const (
	// SectorSize is the logical sector size MBR LBAs count in.
	SectorSize = 512

	mib = 1 << 20

	// PartitionStart is rootfs_start (1 MiB): where parted puts the
	// partition ("mkpart primary ext4 1M -1M", -a optimal) relative to
	// the MBR that describes it.
	PartitionStart = 1 * mib

	// TailReserve is the space after the partition; rootfs_end=-1 makes
	// parted end it 1 MiB before the end of the disk.
	TailReserve = 1 * mib

	// DAXHeaderSize is dax_header_sz (2 MiB): the region holding MBR #1
	// and the nd_pfn_sb, and the value written as the sb's dataoff.
	DAXHeaderSize = 2 * mib

	// DAXAlignment is dax_alignment (2 MiB), written as the sb's align so
	// the guest can map the filesystem with 2 MiB huge pages.
	DAXAlignment = 2 * mib

	// ImageAlignment is mem_boundary_mb (128 MiB): image_builder.sh rounds
	// the DAX image up to it because the file is hot-plugged as guest
	// memory (an NVDIMM), which wants memory-block-sized chunks.
	ImageAlignment = 128 * mib

	// DiskSignature is written into every MBR. parted picks a random one;
	// a fixed value keeps images reproducible. Kata boots with
	// root=/dev/pmem0p1 or /dev/vda1, never by PARTUUID, so nothing reads
	// it. The bytes spell "KFRG" on disk.
	DiskSignature uint32 = 0x4752464b
)

// Layout is where everything goes in an image file. All offsets are in
// bytes from the start of the file.
type Layout struct {
	// SizeBytes is the size of the whole file.
	SizeBytes int64
	// DataOffset is where the MBR disk the partition belongs to begins:
	// 0 without DAX, DAXHeaderSize with DAX (MBR #2). A DAX guest sees
	// the file from here on as /dev/pmem0.
	DataOffset int64
	// PartStart is where the partition, and so the filesystem, begins.
	PartStart int64
	// PartSize is the partition's size. The filesystem may be smaller;
	// to fill the partition as image_builder.sh's mkfs does, make the
	// filesystem PartSize bytes (NewLayout gives the same layout for it).
	PartSize int64
	// DAX says whether the file carries MBR #1 and the nd_pfn_sb in front.
	DAX bool
}

// NewLayout returns the layout image_builder.sh produces for a filesystem
// of fsSize bytes (a positive multiple of 4096).
//
// image_builder.sh picks a DAX image size img (MiB) as a multiple of 128 MiB
// and then, with parted, gets a partition of img-4 MiB: 2 MiB of DAX
// header, 1 MiB before the partition and 1 MiB after it. Here the sizing
// runs the other way: the smallest such img whose partition holds fsSize.
// Without DAX the file is that image minus its first 2 MiB.
func NewLayout(fsSize int64, dax bool) (Layout, error) {
	if fsSize <= 0 || fsSize%4096 != 0 {
		return Layout{}, fmt.Errorf("diskimage: filesystem size %d is not a positive multiple of 4096", fsSize)
	}
	overhead := int64(DAXHeaderSize + PartitionStart + TailReserve)
	if fsSize > (1<<62)-overhead-ImageAlignment {
		return Layout{}, fmt.Errorf("diskimage: filesystem size %d too large", fsSize)
	}
	img := roundUp(fsSize+overhead, ImageAlignment)
	l := Layout{
		SizeBytes:  img,
		DataOffset: DAXHeaderSize,
		PartStart:  PartStartOf(true),
		PartSize:   img - overhead,
		DAX:        true,
	}
	if !dax {
		l.SizeBytes -= DAXHeaderSize
		l.DataOffset = 0
		l.PartStart -= DAXHeaderSize
		l.DAX = false
	}
	// MBR fields are 32-bit sector counts (2 TiB with 512-byte sectors).
	if (l.PartStart+l.PartSize)/SectorSize > 1<<32-1 {
		return Layout{}, fmt.Errorf("diskimage: filesystem size %d does not fit an MBR partition", fsSize)
	}
	return l, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// PartStartOf is where the filesystem begins in an image with or without
// the DAX header: the offset at which to make a filesystem for AddHeaders.
func PartStartOf(dax bool) int64 {
	if dax {
		return DAXHeaderSize + PartitionStart
	}
	return PartitionStart
}

// AddHeaders completes an image whose file already holds the fsSize-byte
// filesystem at PartStartOf(dax), with nothing but zeros (or holes) before
// it: it writes the MBRs and, with dax, the nd_pfn_sb (uuid as its uuid;
// all zero is what nsdax writes) around the filesystem and extends the file
// to exactly SizeBytes with holes. Only the MBR sectors and the info block
// are written, so the image is as sparse as the filesystem's file. Syncing
// is left to the caller.
func AddHeaders(out *os.File, fsSize int64, dax bool, uuid [16]byte) error {
	l, err := NewLayout(fsSize, dax)
	if err != nil {
		return err
	}
	st, err := out.Stat()
	if err != nil {
		return err
	}
	if st.Size() > l.SizeBytes || st.Size() < l.PartStart+fsSize {
		return fmt.Errorf("diskimage: %s is %d bytes, not a %d-byte filesystem at %d", out.Name(), st.Size(), fsSize, l.PartStart)
	}
	return writeHeaders(out, l, uuid)
}

// writeHeaders extends out to the layout's size and writes its MBRs and,
// with DAX, the info block.
func writeHeaders(out *os.File, l Layout, uuid [16]byte) error {
	if err := out.Truncate(l.SizeBytes); err != nil {
		return err
	}
	sectors := uint32(l.PartSize / SectorSize)
	if l.DAX {
		if err := WriteMBR(out, 0, uint32(l.PartStart/SectorSize), sectors, DiskSignature); err != nil {
			return err
		}
		if err := WriteDAXHeader(out, l.SizeBytes, uuid); err != nil {
			return err
		}
	}
	return WriteMBR(out, l.DataOffset, uint32((l.PartStart-l.DataOffset)/SectorSize), sectors, DiskSignature)
}
