package main

import (
	"context"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/kforge/kforge/internal/registry"
)

// registryFlags are the options of every command that talks to a registry,
// named as oras names them.
type registryFlags struct {
	caFile    string
	plainHTTP bool
}

func (f *registryFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM file of a CA to trust beside the system's roots for registry TLS")
	cmd.Flags().BoolVar(&f.plainHTTP, "plain-http", false, "reach the registry over plain HTTP; without it only a registry on this host (localhost, 127.0.0.1, ::1) may speak HTTP")
}

func (f *registryFlags) client() (*registry.Client, error) {
	return registry.New(registry.Options{CAFile: f.caFile, PlainHTTP: f.plainHTTP})
}

// repository opens ref and returns the client too, for explaining errors.
func (f *registryFlags) repository(ctx context.Context, ref string) (*remote.Repository, *registry.Client, error) {
	c, err := f.client()
	if err != nil {
		return nil, nil, err
	}
	repo, _, err := c.Repository(ctx, ref)
	return repo, c, err
}
