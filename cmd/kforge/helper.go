package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kforge/kforge/internal/helper"
	"github.com/kforge/kforge/internal/initramfs"
)

// newHelperCommand holds the in-build steps: kforge runs itself inside the
// graph for work that needs logic rather than a shell.
func newHelperCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "helper",
		Short:  "Steps that run inside build graphs (not for direct use)",
		Hidden: true,
	}
	var root string
	unpack := &cobra.Command{
		Use:   "unpack-debs --root DIR DEB|DIR...",
		Short: "Extract the data of .deb files into a root filesystem with a merged /usr",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			debs, err := helper.DebPaths(args)
			if err != nil {
				return err
			}
			return helper.UnpackDebs(root, debs)
		},
	}
	unpack.Flags().StringVar(&root, "root", "", "root filesystem to unpack into")
	_ = unpack.MarkFlagRequired("root")
	cmd.AddCommand(unpack, newInitrdHelper(), newDiskImageHelper(), newTemplateHelper(), newCopyTreeHelper())
	return cmd
}

func newCopyTreeHelper() *cobra.Command {
	var src, dst string
	var epoch int64
	c := &cobra.Command{
		Use:   "copy-tree --src DIR --dst DIR --epoch N",
		Short: "Copy a tree with owners, modes and links kept and every time clamped to the epoch",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return helper.CopyTreeClamped(src, dst, epoch)
		},
	}
	c.Flags().StringVar(&src, "src", "", "the tree to copy")
	c.Flags().StringVar(&dst, "dst", "", "an empty directory to copy it into")
	c.Flags().Int64Var(&epoch, "epoch", 0, "SOURCE_DATE_EPOCH: the latest time")
	return c
}

func newInitrdHelper() *cobra.Command {
	var rootfs, out string
	var opt initramfs.Options
	c := &cobra.Command{
		Use:   "initrd --rootfs DIR --out FILE",
		Short: "Write a rootfs as a reproducible newc initrd",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return helper.WriteInitrd(rootfs, out, opt)
		},
	}
	c.Flags().StringVar(&rootfs, "rootfs", "", "the tree to archive")
	c.Flags().StringVar(&out, "out", "", "the initrd to write")
	c.Flags().Int64Var(&opt.Epoch, "epoch", 0, "SOURCE_DATE_EPOCH: the latest mtime")
	c.Flags().StringVar(&opt.Compression, "compression", "gzip", "gzip or zstd")
	c.Flags().StringVar(&opt.Init, "init", "/sbin/init", "what /init points at when the rootfs has no /init")
	c.Flags().BoolVar(&opt.Fast, "fast", false, "compress at the fastest level (an initrd booted once, such as a test's)")
	return c
}

func newDiskImageHelper() *cobra.Command {
	var rootfs, out string
	var opt helper.DiskImageOptions
	c := &cobra.Command{
		Use:   "disk-image --rootfs DIR --out FILE",
		Short: "Make a Kata disk image (MBR, DAX header, ext4) of a rootfs without privileges",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return helper.DiskImage(rootfs, out, opt, cmd.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&rootfs, "rootfs", "", "the tree to put in the image")
	c.Flags().StringVar(&out, "out", "", "the image to write")
	c.Flags().StringVar(&opt.Stage, "stage", os.TempDir(), "scratch directory")
	c.Flags().Int64Var(&opt.Epoch, "epoch", 0, "SOURCE_DATE_EPOCH")
	c.Flags().Int64Var(&opt.SizeMiB, "size", 0, "image size in MiB (0: from the content)")
	c.Flags().Int64Var(&opt.FreeMiB, "free", 0, "free space in MiB in a computed size")
	c.Flags().BoolVar(&opt.DAX, "dax", true, "write the NVDIMM PFN (DAX) header")
	return c
}

func newTemplateHelper() *cobra.Command {
	var from, to string
	var set []string
	c := &cobra.Command{
		Use:   "template --from FILE --to FILE --set PLACEHOLDER=VALUE...",
		Short: "Write a file from a template, each placeholder replaced literally",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			replace := map[string]string{}
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--set %q: want PLACEHOLDER=VALUE", kv)
				}
				replace[k] = v
			}
			return helper.ApplyTemplate(from, to, replace)
		},
	}
	c.Flags().StringVar(&from, "from", "", "the template")
	c.Flags().StringVar(&to, "to", "", "the file to write")
	// An array, not pflag's map flag: that one splits values at commas.
	c.Flags().StringArrayVar(&set, "set", nil, "PLACEHOLDER=VALUE, replaced literally (repeatable)")
	return c
}
