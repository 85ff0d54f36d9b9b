package main

import (
	"github.com/spf13/cobra"

	"github.com/kforge/kforge/internal/helper"
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
	cmd.AddCommand(unpack)
	return cmd
}
