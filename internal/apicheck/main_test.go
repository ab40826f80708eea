package main

import (
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUsesEveryName: main.go names every exported function, type, method
// and Dialer/ListenConfig field of package pollnet, for the native build
// and the fallback, so the cross-builds check the whole API.
func TestUsesEveryName(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	for _, tags := range [][]string{nil, {"pollnet_stdnet"}} {
		for _, name := range exportedNames(t, filepath.Join("..", ".."), tags) {
			if !strings.Contains(string(src), name) {
				t.Errorf("main.go does not use %s (build tags %v)", name, tags)
			}
		}
	}
}

// exportedNames lists package pollnet's API as main.go spells it:
// "pollnet.F", "(*pollnet.T).M" and "Field:".
func exportedNames(t *testing.T, dir string, tags []string) []string {
	ctx := build.Default
	ctx.BuildTags = tags
	pkg, err := ctx.ImportDir(dir, 0)
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/pollnet/pollnet")
	require.NoError(t, err)
	var names []string
	for _, f := range p.Funcs {
		names = append(names, "pollnet."+f.Name)
	}
	for _, typ := range p.Types {
		for _, f := range typ.Funcs {
			names = append(names, "pollnet."+f.Name)
		}
		for _, m := range typ.Methods {
			names = append(names, "(*pollnet."+typ.Name+")."+m.Name)
		}
		for _, spec := range typ.Decl.Specs {
			st, ok := spec.(*ast.TypeSpec).Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, field := range st.Fields.List {
				for _, n := range field.Names {
					if n.IsExported() {
						names = append(names, n.Name+":")
					}
				}
			}
		}
	}
	require.NotEmpty(t, names)
	for _, n := range names {
		require.False(t, strings.Contains(n, " "), n)
	}
	return names
}
