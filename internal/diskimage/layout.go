// Package diskimage lays out a Kata Containers guest disk image the way
// Kata's osbuilder (tools/osbuilder/image-builder/image_builder.sh plus its
// nsdax.gpl.c helper) does, but without parted, loop devices or root: the
// MBRs and the NVDIMM "pfn" info block are encoded here and the ext4 image,
// made elsewhere, is copied in at the partition offset (Assemble), or made
// in place at that offset and completed around it (AddHeaders).
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
	"bytes"
	"errors"
	"fmt"
	"io"
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
		PartStart:  DAXHeaderSize + PartitionStart,
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

// Assemble writes the complete image for the fsSize-byte filesystem in
// fsImage to out, replacing anything out held: with dax, MBR #1 and the
// nd_pfn_sb (uuid as its uuid; all zero is what nsdax writes) in the first
// 2 MiB; the MBR of the partition's disk at DataOffset; the filesystem at
// PartStart; and the file truncated to exactly SizeBytes.
//
// Only the MBR sectors, the info block and the non-zero 4 KiB blocks of the
// filesystem are written; everything else is left to Truncate, so the
// result is as sparse as the filesystem allows and zero regions read back as
// zeros. Syncing out is left to the caller.
func Assemble(out *os.File, fsImage io.ReaderAt, fsSize int64, dax bool, uuid [16]byte) error {
	l, err := NewLayout(fsSize, dax)
	if err != nil {
		return err
	}
	// Truncating to 0 first drops any old content, so the holes we leave
	// are zeros and the result does not depend on what out held.
	if err := out.Truncate(0); err != nil {
		return err
	}
	if err := writeHeaders(out, l, uuid); err != nil {
		return err
	}
	return copyNonZero(out, l.PartStart, fsImage, fsSize)
}

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
// it: it writes what Assemble writes around the filesystem (the MBRs and,
// with dax, the nd_pfn_sb) and extends the file to SizeBytes. It is
// Assemble without the copy of the filesystem.
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

// copyNonZero copies size bytes of src to dst at off, skipping 4 KiB blocks
// that are all zero (they are already holes in dst) and coalescing runs of
// data blocks into single writes.
func copyNonZero(dst io.WriterAt, off int64, src io.ReaderAt, size int64) error {
	const block = 4096
	buf := make([]byte, 1<<20)
	var zero [block]byte
	for pos := int64(0); pos < size; {
		chunk := buf[:min(int64(len(buf)), size-pos)]
		n, err := src.ReadAt(chunk, pos)
		if n < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("diskimage: reading filesystem at %d: %w", pos+int64(n), err)
		}
		// Walk the chunk block by block; [runStart, i) is non-zero data
		// not yet written.
		runStart := -1
		for i := 0; i <= len(chunk); i += block {
			isData := i < len(chunk) && !bytes.Equal(chunk[i:i+block], zero[:])
			if isData && runStart < 0 {
				runStart = i
			}
			if !isData && runStart >= 0 {
				if _, err := dst.WriteAt(chunk[runStart:i], off+pos+int64(runStart)); err != nil {
					return err
				}
				runStart = -1
			}
		}
		pos += int64(len(chunk))
	}
	return nil
}
