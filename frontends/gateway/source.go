package gateway

import (
	"errors"

	bk "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"

	"github.com/kforge/kforge/recipes"
)

// recipeSource is the recipe as read from the dockerfile local, with its
// source map: errors and ops point into it.
type recipeSource struct {
	*dockerui.Source
	recipe *recipes.Recipe // nil until parsed
}

func (s *recipeSource) info() *pb.SourceInfo {
	info := &pb.SourceInfo{Filename: s.SourceMap.Filename, Data: s.SourceMap.Data, Language: s.SourceMap.Language}
	if s.SourceMap.Definition != nil {
		info.Definition = s.SourceMap.Definition.ToPB()
	}
	return info
}

// lineRange is one recipe position as BuildKit's range: lines are 1-based,
// characters 0-based.
func lineRange(line, column int) []*pb.Range {
	if line < 1 {
		line, column = 1, 1
	}
	pos := pb.Position{Line: int32(line), Character: int32(max(column-1, 0))}
	return []*pb.Range{{Start: &pos, End: &pb.Position{Line: int32(line), Character: pos.Character}}}
}

// locate is the source-map location of a recipe node, for llb.Contexts.
func (s *recipeSource) locate(yamlPath string) bk.ConstraintsOpt {
	line, column := s.recipe.Position(yamlPath)
	return s.SourceMap.Location(lineRange(line, column))
}

// wrap attaches the recipe's source to an error: at the error's own line
// when it is a recipe error with a place, else at the target's definition
// (a lock that is missing or stale belongs to the target being built), else
// at the top of the recipe. buildx prints these lines; so does the CLI.
func (s *recipeSource) wrap(err error, target string) error {
	if err == nil || len(errdefs.Sources(err)) > 0 {
		return err
	}
	line, column := 0, 0
	var re *recipes.Error
	if errors.As(err, &re) && re.File == s.SourceMap.Filename && re.Line > 0 {
		line, column = re.Line, re.Column
	} else if s.recipe != nil && target != "" {
		line, column = s.recipe.Position(s.recipe.TargetPath(target))
	}
	return errdefs.WithSource(err, &errdefs.Source{Info: s.info(), Ranges: lineRange(line, column)})
}

// Snippet is a recipe position as BuildKit's error source, for the CLI to
// print the recipe lines of an error as buildx prints them.
func Snippet(filename string, data []byte, line, column int) *errdefs.Source {
	return &errdefs.Source{Info: &pb.SourceInfo{Filename: filename, Data: data, Language: "YAML"}, Ranges: lineRange(line, column)}
}
