package recipes

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Error is a problem in a recipe or lock file at a known place.
type Error struct {
	File   string
	Line   int // 1-based; 0 when the problem has no single place
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Load reads and validates the recipe at path.
func Load(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading recipe: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a recipe strictly (unknown fields and duplicate keys are
// errors) and validates it. name is used in error messages only.
func Parse(name string, data []byte) (*Recipe, error) {
	var r Recipe
	if err := yaml.UnmarshalWithOptions(data, &r, yaml.Strict()); err != nil {
		return nil, positioned(name, err)
	}
	r.Path = name
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, positioned(name, err)
	}
	r.loc = &locator{file: file, name: name}
	if err := validate(&r, r.loc); err != nil {
		return nil, err
	}
	return &r, nil
}

// positioned turns a go-yaml error into an *Error carrying line and column.
func positioned(name string, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &Error{File: name, Msg: err.Error()}
	}
	pos := ye.GetToken().Position
	msg := ye.GetMessage()
	var unknown *yaml.UnknownFieldError
	if errors.As(err, &unknown) {
		field := ye.GetToken().Value
		msg = fmt.Sprintf("unknown field %q", field)
		if s := closest(field, knownFieldNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		msg += "; see recipes/schema.json for the fields a recipe may have"
	}
	return &Error{File: name, Line: pos.Line, Column: pos.Column, Msg: msg}
}

// locator finds the line and column of a YAML path in the parsed recipe so
// that validation errors point at the offending value.
type locator struct {
	file *ast.File
	name string
}

// errorf builds an *Error at the node addressed by path ("$.a.b[0]"); when the
// path does not exist it falls back to the nearest existing parent.
func (l *locator) errorf(path, format string, args ...any) error {
	e := &Error{File: l.name, Msg: fmt.Sprintf(format, args...)}
	for p := path; p != ""; p = parentPath(p) {
		yp, err := yaml.PathString(p)
		if err != nil {
			continue
		}
		node, err := yp.FilterFile(l.file)
		if err != nil || node == nil || node.GetToken() == nil {
			continue
		}
		e.Line = node.GetToken().Position.Line
		e.Column = node.GetToken().Position.Column
		break
	}
	return e
}

func parentPath(p string) string {
	if p == "$" {
		return ""
	}
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return "$"
	}
	return p[:i]
}

// knownFieldNames lists every field name the recipe format knows, for
// suggestions after a misspelling.
func knownFieldNames() []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" || seen[name] {
				continue
			}
			seen[name] = true
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Recipe{}))
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	return names
}
