package edge_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stikadoo/stikadoo-edge"

// TestImportDirection keeps the layering of DESIGN.md true: the wire
// format imports nothing of ours, adapters import at most the wire format,
// and the gateway imports no adapter.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{} // package -> packages of this module it needs
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		listed[f[0]] = true
		for _, d := range f[1:] {
			if strings.HasPrefix(d, module+"/") {
				deps[f[0]] = append(deps[f[0]], strings.TrimPrefix(d, module+"/"))
			}
		}
	}
	rules := map[string]func(dep string) bool{
		"edge/proto": func(string) bool { return false },
		"storage":    func(d string) bool { return d == "edge/proto" },
		"stt":        func(d string) bool { return d == "edge/proto" },
		"edge":       func(d string) bool { return d == "edge/proto" || d == "stt" },
		"edge/cloud": func(d string) bool { return d == "edge/proto" },
		"edge/cloud/cloudtest": func(d string) bool {
			return d == "edge/proto" || d == "edge/cloud"
		},
		// The appliance's hardware and network packages stand alone: the
		// command maps the gateway onto them.
		"discovery": func(string) bool { return false },
		"panel":     func(string) bool { return false },
		"systemd":   func(string) bool { return false },
	}
	checked := 0
	for pkg, allowed := range rules {
		if !listed[module+"/"+pkg] {
			continue
		}
		checked++
		for _, d := range deps[module+"/"+pkg] {
			if !allowed(d) {
				t.Errorf("%s imports %s, which the layering forbids", pkg, d)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("only %d of the layered packages were found by go list", checked)
	}
}
