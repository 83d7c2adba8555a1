package tests

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageLayout enforces the house rules that tools do not: every
// package directory has exactly one doc.go carrying the package comment;
// unsafe is imported only in *_unsafe.go files (tests aside); imports flow
// one way (low-level packages never import sandlock or cmd).
func TestPackageLayout(t *testing.T) {
	root := ".."
	low := map[string]bool{"clone3": true, "landlockabi": true, "bpfasm": true}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.Dir(rel)
		isTest := strings.HasSuffix(path, "_test.go")
		if f.Doc != nil && !isTest && filepath.Base(path) != "doc.go" && strings.HasPrefix(f.Doc.Text(), "Package ") {
			t.Errorf("%s: package comment outside doc.go", rel)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if p == "unsafe" && !isTest && !strings.HasSuffix(path, "_unsafe.go") {
				t.Errorf("%s imports unsafe outside a *_unsafe.go file", rel)
			}
			top := strings.Split(dir, string(filepath.Separator))[0]
			const mod = "github.com/sandlock-go/sandlock-go/"
			if low[top] && !isTest && (strings.HasPrefix(p, mod+"sandlock") || strings.HasPrefix(p, mod+"cmd")) {
				t.Errorf("%s: low-level package imports %s", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"../sandlock", "../clone3", "../landlockabi", "../bpfasm", "../cmd/sandlock-run", "../tests", "../tests/testelf"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		doc := filepath.Join(dir, "doc.go")
		f, err := parser.ParseFile(token.NewFileSet(), doc, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			if dir == "../tests/testelf" {
				continue
			}
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if f.Doc == nil {
			t.Errorf("%s has no package comment", doc)
		}
	}
}
