package recipes

// Rootfs is a Kata guest root filesystem: a locked Debian package set with
// the agent and Kata's systemd wiring, as osbuilder's rootfs.sh lays it out.
type Rootfs struct {
	// Base is the environment (package set) the rootfs starts from; Kata's
	// list for a systemd guest is systemd, chrony, iptables, dbus,
	// cryptsetup-bin, e2fsprogs and libseccomp2.
	Base string `yaml:"base" json:"base"`
	// Agent is the rust target that builds the agent (with kataAgent set).
	Agent string `yaml:"agent" json:"agent"`
	// Init is what the kernel starts: systemd (default; it starts the agent
	// through kata-containers.target) or agent (the agent is /sbin/init, as
	// with Kata's AGENT_INIT=yes).
	Init string `yaml:"init,omitempty" json:"init,omitempty" jsonschema:"enum=systemd,enum=agent"`
	// KeepUnits keeps the systemd units and generators Kata removes
	// (journald, udevd, timesyncd and others).
	KeepUnits bool `yaml:"keepUnits,omitempty" json:"keepUnits,omitempty"`
}

// Image is a Kata disk image (kata-containers.img): an MBR with one ext4
// partition holding the rootfs, and the DAX header in front.
type Image struct {
	// Rootfs is the rootfs target the image holds.
	Rootfs string `yaml:"rootfs" json:"rootfs"`
	// Builder is the environment with e2fsprogs (mkfs.ext4, debugfs) the
	// filesystem is made in.
	Builder string `yaml:"builder" json:"builder"`
	// DAX writes the NVDIMM PFN header that lets the kernel map the image
	// with DAX; true when unset, as Kata builds its images.
	DAX *bool `yaml:"dax,omitempty" json:"dax,omitempty"`
	// Size fixes the image size in MiB; computed from the content when 0.
	Size int64 `yaml:"size,omitempty" json:"size,omitempty" jsonschema:"minimum=0"`
	// FreeSpace is the room in MiB left free in a computed size.
	FreeSpace int64 `yaml:"freeSpace,omitempty" json:"freeSpace,omitempty" jsonschema:"minimum=0"`
}

// Initrd is a Kata initrd (kata-containers-initrd.img): the rootfs as a
// newc cpio, compressed.
type Initrd struct {
	// Rootfs is the rootfs target the initrd holds.
	Rootfs string `yaml:"rootfs" json:"rootfs"`
	// Compression is gzip (default) or zstd.
	Compression string `yaml:"compression,omitempty" json:"compression,omitempty" jsonschema:"enum=gzip,enum=zstd"`
}

// InitOrDefault is the guest's init, systemd when unset.
func (r Rootfs) InitOrDefault() string {
	if r.Init == "" {
		return "systemd"
	}
	return r.Init
}

// DAXOrDefault says whether the DAX header is written.
func (i Image) DAXOrDefault() bool { return i.DAX == nil || *i.DAX }

// CompressionOrDefault is the initrd's compression.
func (i Initrd) CompressionOrDefault() string {
	if i.Compression == "" {
		return "gzip"
	}
	return i.Compression
}
