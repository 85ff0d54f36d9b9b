// Package artifact lays kforge's outputs out as OCI artifacts (image-spec
// v1.1 manifests with an artifactType, the empty config and one layer per
// file), reads them back with every blob verified, and installs them in Kata
// Containers' layout. docs/artifacts.md documents the media types and
// annotations; the constants below are the same list.
package artifact

import (
	"path"
	"strings"
)

// Kinds of target that ship as artifacts.
const (
	KindKernel = "kernel"
	KindImage  = "image"
	KindInitrd = "initrd"
	KindRootfs = "rootfs"
)

// ArtifactTypes are the manifests' artifactType, one per kind.
var ArtifactTypes = map[string]string{
	KindKernel: "application/vnd.kforge.kernel.v1",
	KindImage:  "application/vnd.kforge.image.v1",
	KindInitrd: "application/vnd.kforge.initrd.v1",
	KindRootfs: "application/vnd.kforge.rootfs.v1",
}

// KindOf returns the kind of an artifactType, or "" for anything else.
func KindOf(artifactType string) string {
	for kind, t := range ArtifactTypes {
		if t == artifactType {
			return kind
		}
	}
	return ""
}

// Layer media types: what each file is.
const (
	MediaVmlinux      = "application/vnd.kforge.kernel.vmlinux.v1"       // the ELF kernel
	MediaVmlinuz      = "application/vnd.kforge.kernel.vmlinuz.v1"       // the boot image: bzImage, arm64 Image
	MediaConfig       = "application/vnd.kforge.kernel.config.v1"        // the final .config
	MediaSystemMap    = "application/vnd.kforge.kernel.system-map.v1"    // System.map
	MediaConfigReport = "application/vnd.kforge.kernel.config-report.v1" // why requested options did not land
	MediaDiskImage    = "application/vnd.kforge.image.disk.v1"           // kata-containers.img: MBR, DAX header, ext4
	MediaInitrdGzip   = "application/vnd.kforge.initrd.cpio.v1+gzip"     // newc cpio, gzip
	MediaInitrdZstd   = "application/vnd.kforge.initrd.cpio.v1+zstd"     // newc cpio, zstd
	MediaRootfsTar    = "application/vnd.kforge.rootfs.tar.v1"           // the rootfs as an uncompressed tar
	MediaOctetStream  = "application/octet-stream"                       // a file of no known role
)

// Annotation keys. The org.opencontainers ones are image-spec's; the
// dev.kforge ones are this project's.
const (
	AnnotationTitle         = "org.opencontainers.image.title"
	AnnotationCreated       = "org.opencontainers.image.created"
	AnnotationVersion       = "org.opencontainers.image.version"
	AnnotationKind          = "dev.kforge.kind"
	AnnotationTarget        = "dev.kforge.target"
	AnnotationRecipe        = "dev.kforge.recipe.name"
	AnnotationRecipeSHA256  = "dev.kforge.recipe.sha256"
	AnnotationLockSHA256    = "dev.kforge.lock.sha256"
	AnnotationPlatform      = "dev.kforge.platform"
	AnnotationKernelVersion = "dev.kforge.kernel.version"
	AnnotationConfigVersion = "dev.kforge.kernel.config-version"
	// AnnotationMode is a file's permission bits in octal ("0644"): layers
	// are blobs and keep no mode of their own.
	AnnotationMode = "dev.kforge.file.mode"
	// AnnotationLinks lists the symlinks, comma-separated, that point at a
	// file in its directory: Kata's vmlinux.container and vmlinuz.container.
	AnnotationLinks = "dev.kforge.file.links"
)

// layerMediaType says what a file of an artifact of the kind is, from its
// name and first bytes.
func layerMediaType(kind, name string, head []byte) string {
	switch {
	case kind == KindKernel && strings.HasPrefix(name, "vmlinux-"):
		return MediaVmlinux
	case kind == KindKernel && strings.HasPrefix(name, "vmlinuz-"):
		return MediaVmlinuz
	case kind == KindKernel && strings.HasPrefix(name, "config-report-"):
		return MediaConfigReport
	case kind == KindKernel && strings.HasPrefix(name, "config-"):
		return MediaConfig
	case kind == KindKernel && strings.HasPrefix(name, "System.map-"):
		return MediaSystemMap
	case kind == KindImage && path.Ext(name) == ".img":
		return MediaDiskImage
	case kind == KindInitrd && len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return MediaInitrdGzip
	case kind == KindInitrd && len(head) >= 4 && string(head[:4]) == "\x28\xb5\x2f\xfd":
		return MediaInitrdZstd
	case kind == KindRootfs:
		return MediaRootfsTar
	}
	return MediaOctetStream
}
