package plugin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostFunctionsUseScopedHost guards the namespace of on_event (abi/ABI.md, "Namespaces"):
// code that acts for a guest reaches the Host through guest.host(), the view from the event's
// namespace during on_event, never through guest.plugin.host directly, which acts in the
// default namespace when no connection's event is being handled. group_size, group_members,
// timers and attachments once did, and answered for the default namespace during on_event
// (host.TestBusEventActsInItsNamespace drives each of them through a real socket and NATS).
func TestHostFunctionsUseScopedHost(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			guests := guestNames(fn)
			if len(guests) == 0 {
				continue
			}
			checked++
			if fn.Name.Name == "host" && fn.Recv != nil {
				continue // guest.host() itself chooses between the two
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "host" {
					return true
				}
				inner, ok := sel.X.(*ast.SelectorExpr)
				if !ok || inner.Sel.Name != "plugin" {
					return true
				}
				if id, ok := inner.X.(*ast.Ident); ok && guests[id.Name] {
					t.Errorf("%s: %s uses %s.plugin.host: use %s.host(), which acts in the event's namespace during on_event",
						fset.Position(sel.Pos()), fn.Name.Name, id.Name, id.Name)
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("only %d functions take a *guest: the check no longer finds the host functions", checked)
	}
}

// guestNames is the names fn gives its *guest receiver and parameters.
func guestNames(fn *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	add := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, field := range fl.List {
			star, ok := field.Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if id, ok := star.X.(*ast.Ident); !ok || id.Name != "guest" {
				continue
			}
			for _, n := range field.Names {
				names[n.Name] = true
			}
		}
	}
	add(fn.Recv)
	add(fn.Type.Params)
	return names
}
