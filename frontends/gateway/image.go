package gateway

import (
	"encoding/json"

	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/gateway/client"

	"github.com/kforge/kforge/internal/artifact"
	kllb "github.com/kforge/kforge/llb"
	"github.com/kforge/kforge/recipes"
)

// addImageMeta makes a container target's result an image for BuildKit's
// exporters (-o type=image, oci, docker): its config, and manifest
// annotations that name the recipe and lock it was built from, as kforge's
// artifacts do.
func addImageMeta(res *client.Result, r *recipes.Recipe, target string, d kllb.GuestDigests) error {
	dt, err := json.Marshal(kllb.ContainerConfig(r, target))
	if err != nil {
		return err
	}
	res.AddMeta(exptypes.ExporterImageConfigKey, dt)
	for k, v := range containerAnnotations(r, target, d) {
		res.AddMeta(exptypes.AnnotationManifestKey(nil, k), []byte(v))
	}
	return nil
}

// containerAnnotations are the manifest annotations of a container
// target's image.
func containerAnnotations(r *recipes.Recipe, target string, d kllb.GuestDigests) map[string]string {
	return map[string]string{
		artifact.AnnotationKind:         recipes.KindContainer,
		artifact.AnnotationTarget:       target,
		artifact.AnnotationRecipe:       r.Name,
		artifact.AnnotationRecipeSHA256: d.Recipe,
		artifact.AnnotationLockSHA256:   d.Lock,
		artifact.AnnotationCreated:      r.Created().Format("2006-01-02T15:04:05Z"),
	}
}
