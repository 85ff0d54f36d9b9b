package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	// MediaTypeInToto is the media type of an in-toto statement, and the
	// artifactType of the referrer that carries kforge's provenance.
	MediaTypeInToto = "application/vnd.in-toto+json"
	// PredicateSLSAProvenance is the predicate type of SLSA provenance v1.
	PredicateSLSAProvenance = "https://slsa.dev/provenance/v1"
	// BuildType names what a kforge provenance's build definition holds:
	// the recipe and lock (by digest), the target and platform as external
	// parameters, every input of the lock as a resolved dependency.
	BuildType = "https://kforge.dev/provenance/recipe/v1"
	// BuilderID names kforge as the builder; the versions of kforge and of
	// BuildKit's daemon go with it.
	BuilderID = "https://kforge.dev/kforge"
)

// Provenance renders the build as an in-toto statement whose subjects are
// the outputs and whose predicate is SLSA provenance v1. Nothing in it
// depends on when or where the build ran, so the same build gives the same
// bytes and a second push of an artifact adds no second provenance.
func Provenance(b *Build) ([]byte, error) {
	deps := []*intoto.ResourceDescriptor{
		{Name: b.RecipeFile, Digest: map[string]string{"sha256": b.RecipeSHA256}, Annotations: annotations(map[string]any{"kind": "recipe"})},
		{Name: "lock", Digest: map[string]string{"sha256": b.LockSHA256}, Annotations: annotations(map[string]any{"kind": "lock"})},
	}
	for _, in := range b.Inputs {
		deps = append(deps, dependency(in))
	}
	external, err := structpb.NewStruct(map[string]any{
		"recipe": b.RecipeFile, "target": b.Target, "platform": b.Platform,
	})
	if err != nil {
		return nil, err
	}
	internal, err := structpb.NewStruct(map[string]any{"recipeName": b.Recipe, "kind": b.Kind})
	if err != nil {
		return nil, err
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType: BuildType, ExternalParameters: external, InternalParameters: internal,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{
			Id: BuilderID, Version: map[string]string{"kforge": b.Kforge, "buildkit": b.BuildKit},
		}},
	}
	if err := pred.Validate(); err != nil {
		return nil, err
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: PredicateSLSAProvenance, Predicate: predStruct}
	for _, out := range b.Outputs {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: out.Name, Digest: map[string]string{"sha256": out.SHA256}})
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return stableJSON(st)
}

// Statement is what a kforge provenance says, read back.
type Statement struct {
	Subjects     []Output
	RecipeSHA256 string
	LockSHA256   string
	Target       string
	Platform     string
	Inputs       []Input
	Builder      map[string]string
}

// ReadProvenance parses an in-toto statement with kforge's SLSA provenance.
func ReadProvenance(data []byte) (*Statement, error) {
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("not a valid in-toto statement: %w", err)
	}
	if st.GetPredicateType() != PredicateSLSAProvenance {
		return nil, fmt.Errorf("the statement's predicate is %s, not SLSA provenance v1", st.GetPredicateType())
	}
	raw, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, err
	}
	var pred slsa.Provenance
	if err := protojson.Unmarshal(raw, &pred); err != nil {
		return nil, fmt.Errorf("the SLSA provenance does not parse: %w", err)
	}
	def := pred.GetBuildDefinition()
	if def.GetBuildType() != BuildType {
		return nil, fmt.Errorf("the provenance's build type is %q, not kforge's %s", def.GetBuildType(), BuildType)
	}
	out := &Statement{Builder: pred.GetRunDetails().GetBuilder().GetVersion()}
	for _, s := range st.GetSubject() {
		out.Subjects = append(out.Subjects, Output{Name: s.GetName(), SHA256: s.GetDigest()["sha256"]})
	}
	ext := def.GetExternalParameters().AsMap()
	out.Target, _ = ext["target"].(string)
	out.Platform, _ = ext["platform"].(string)
	for _, d := range def.GetResolvedDependencies() {
		ann := d.GetAnnotations().AsMap()
		kind, _ := ann["kind"].(string)
		switch kind {
		case "recipe":
			out.RecipeSHA256 = d.GetDigest()["sha256"]
		case "lock":
			out.LockSHA256 = d.GetDigest()["sha256"]
		default:
			in := Input{Kind: kind, Name: d.GetName(), SHA256: d.GetDigest()["sha256"], URI: d.GetDownloadLocation()}
			in.Version, _ = ann["version"].(string)
			in.Arch, _ = ann["arch"].(string)
			in.Suite, _ = ann["suite"].(string)
			out.Inputs = append(out.Inputs, in)
		}
	}
	return out, nil
}

// dependency is an input as a resolved dependency: its package URL as the
// URI where it has one, what kforge knows of it as annotations.
func dependency(in Input) *intoto.ResourceDescriptor {
	d := &intoto.ResourceDescriptor{Name: in.Name, Uri: in.Purl(), DownloadLocation: in.URI}
	if in.SHA256 != "" {
		d.Digest = map[string]string{"sha256": in.SHA256}
	}
	ann := map[string]any{"kind": in.Kind}
	for k, v := range map[string]string{"version": in.Version, "arch": in.Arch, "suite": in.Suite} {
		if v != "" {
			ann[k] = v
		}
	}
	d.Annotations = annotations(ann)
	return d
}

func annotations(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err) // only strings go in
	}
	return s
}

func toStruct(m *slsa.Provenance) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// stableJSON renders a statement with sorted keys and fixed indentation:
// protojson's own output varies its spacing on purpose.
func stableJSON(st *intoto.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sameInputs says how two input lists differ: what want has that got lacks,
// and what got has beyond want.
func sameInputs(want, got []Input) (missing, extra []string) {
	w, g := keys(want), keys(got)
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if !g[k] {
			missing = append(missing, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(g)) {
		if !w[k] {
			extra = append(extra, k)
		}
	}
	return missing, extra
}

func keys(inputs []Input) map[string]bool {
	m := map[string]bool{}
	for _, in := range inputs {
		m[in.Key()] = true
	}
	return m
}
