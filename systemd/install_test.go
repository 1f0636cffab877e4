package systemd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// envMake names the make that runs `make install` and `make uninstall`
// into a throwaway DESTDIR (`make test-install` sets it). Without it the
// test skips.
const envMake = "STIKADOO_MAKE"

// runMake runs make in the repository with args and returns its output.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Getenv(envMake), append([]string{"-C", "..", "--no-print-directory"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestMakeInstall installs from source into a staging root, as a Pi
// owner without the package would, and checks every file, that a second
// install keeps an edited configuration, and that uninstall removes the
// program and the unit but keeps the configuration.
func TestMakeInstall(t *testing.T) {
	if os.Getenv(envMake) == "" {
		t.Skipf("%s is not set: run `make test-install`", envMake)
	}
	root := t.TempDir()
	destdir := "DESTDIR=" + root
	out := runMake(t, "install", destdir)
	if !strings.Contains(out, "systemctl daemon-reload && systemctl enable --now stikadoo-edge") {
		t.Errorf("install does not say how to start the service:\n%s", out)
	}

	bin := filepath.Join(root, "usr/local/bin/stikadoo-edge")
	unit := filepath.Join(root, "etc/systemd/system/stikadoo-edge.service")
	config := filepath.Join(root, "etc/stikadoo-edge/stikadoo-edge.toml")
	for path, mode := range map[string]os.FileMode{bin: 0o755, unit: 0o644, config: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("not installed: %v", err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}

	if v, err := exec.Command(bin, "version").CombinedOutput(); err != nil || len(bytes.TrimSpace(v)) == 0 {
		t.Errorf("installed binary: version = %q, %v", v, err)
	}

	u, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, line := range strings.Split(string(u), "\n") {
		if strings.HasPrefix(line, "ExecStart=") {
			starts = append(starts, line)
		}
	}
	if len(starts) != 1 || !strings.HasPrefix(starts[0], "ExecStart=/usr/local/bin/stikadoo-edge ") {
		t.Errorf("unit's ExecStart %q, want the installed /usr/local/bin/stikadoo-edge", starts)
	}
	src, err := os.ReadFile("stikadoo-edge.service")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(src), "\nExecStart=/usr/bin/stikadoo-edge ", "\nExecStart=/usr/local/bin/stikadoo-edge ", 1); string(u) != want {
		t.Errorf("installed unit differs from the source by more than its ExecStart:\n%s", u)
	}

	want, err := os.ReadFile("../cmd/stikadoo-edge/stikadoo-edge.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(config); !bytes.Equal(got, want) {
		t.Error("installed configuration differs from the documented default")
	}

	// An operator's edit survives installing a newer build.
	edited := append(bytes.Clone(want), []byte("\n# edited by the operator\n")...)
	if err := os.WriteFile(config, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runMake(t, "install", destdir); !strings.Contains(out, "keeping "+config) {
		t.Errorf("second install does not say it keeps the configuration:\n%s", out)
	}
	if got, _ := os.ReadFile(config); !bytes.Equal(got, edited) {
		t.Error("second install replaced the operator's configuration")
	}

	out = runMake(t, "uninstall", destdir)
	for _, gone := range []string{bin, unit} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s (%v)", gone, err)
		}
	}
	if got, _ := os.ReadFile(config); !bytes.Equal(got, edited) {
		t.Error("uninstall removed or changed the configuration")
	}
	if !strings.Contains(out, "kept: /etc/stikadoo-edge") {
		t.Errorf("uninstall does not say what it kept:\n%s", out)
	}
}
