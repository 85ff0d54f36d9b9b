// Command schemagen prints the JSON Schema of the recipe format; `make
// schema` writes it to recipes/schema.json.
package main

import (
	"fmt"
	"os"

	"github.com/kforge/kforge/recipes"
)

func main() {
	// The schema's descriptions come from the doc comments of the recipes
	// package, read from its source directory.
	if err := os.Chdir("recipes"); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen: run from the repository root:", err)
		os.Exit(1)
	}
	data, err := recipes.Schema()
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	os.Stdout.Write(data)
}
