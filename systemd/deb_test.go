package systemd_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The package tests read the packages `make deb` built: STIKADOO_DEB_DIR
// is their folder and STIKADOO_DEB_ARCHES the architectures to expect
// (`make test-deb` sets both). Without them they skip.
const (
	envDebDir    = "STIKADOO_DEB_DIR"
	envDebArches = "STIKADOO_DEB_ARCHES"
)

const (
	pkgName    = "stikadoo-edge"
	binPath    = "/usr/bin/stikadoo-edge"
	unitPath   = "/usr/lib/systemd/system/stikadoo-edge.service"
	configPath = "/etc/stikadoo-edge/stikadoo-edge.toml"
)

// debFor returns the one package built for arch.
func debFor(t *testing.T, arch string) string {
	t.Helper()
	dir := os.Getenv(envDebDir)
	if dir == "" {
		t.Skipf("%s is not set: run `make test-deb` to build and check the Debian packages", envDebDir)
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
	m, err := filepath.Glob(filepath.Join(dir, pkgName+"_*_"+arch+".deb"))
	if err != nil || len(m) != 1 {
		t.Fatalf("want one %s package for %s in %s, found %q (%v)", pkgName, arch, dir, m, err)
	}
	return m[0]
}

func debArches(t *testing.T) []string {
	a := strings.Fields(os.Getenv(envDebArches))
	if len(a) == 0 {
		a = []string{"amd64", "arm64", "armhf"}
	}
	return a
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// entry is one line of dpkg-deb --contents.
type entry struct{ mode, owner, date, path string }

func contents(t *testing.T, deb string) map[string]entry {
	t.Helper()
	m := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "--contents", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("contents line %q", line)
		}
		p := strings.TrimPrefix(f[5], ".")
		m[strings.TrimSuffix(p, "/")] = entry{mode: f[0], owner: f[1], date: f[3] + " " + f[4], path: p}
	}
	return m
}

// binary reads /usr/bin/stikadoo-edge out of the package.
func binary(t *testing.T, deb string) []byte {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the package: %v", binPath, err)
		}
		if strings.TrimPrefix(h.Name, ".") == binPath {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}

// libPackage is the Debian package of each shared library the binary may
// need.
var libPackage = map[string]string{
	"libc.so.6": "libc6", "libm.so.6": "libc6", "libpthread.so.0": "libc6", "libdl.so.2": "libc6",
	"ld-linux-x86-64.so.2": "libc6", "ld-linux-aarch64.so.1": "libc6", "ld-linux-armhf.so.3": "libc6",
	"libopus.so.0": "libopus0", "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1",
}

// TestDebPackages inspects each package: its fields, files, modes and
// times, the conffile, the maintainer scripts, and the binary inside (its
// architecture, speech recognition built in, every library it links
// covered by Depends).
func TestDebPackages(t *testing.T) {
	for _, arch := range debArches(t) {
		t.Run(arch, func(t *testing.T) {
			deb := debFor(t, arch)
			fields := run(t, "dpkg-deb", "--field", deb, "Package", "Architecture", "Version", "Depends")
			for _, want := range []string{"Package: " + pkgName, "Architecture: " + arch} {
				if !strings.Contains(fields, want+"\n") {
					t.Errorf("control fields lack %q:\n%s", want, fields)
				}
			}
			var depends []string
			for _, line := range strings.Split(fields, "\n") {
				if d, ok := strings.CutPrefix(line, "Depends: "); ok {
					for _, p := range strings.Split(d, ",") {
						depends = append(depends, strings.Fields(p)[0])
					}
				}
			}

			c := contents(t, deb)
			for path, mode := range map[string]string{
				binPath:                                  "-rwxr-xr-x",
				unitPath:                                 "-rw-r--r--",
				configPath:                               "-rw-r--r--",
				"/usr/share/doc/stikadoo-edge/copyright": "-rw-r--r--",
			} {
				e, ok := c[path]
				if !ok {
					t.Errorf("package lacks %s", path)
					continue
				}
				if e.mode != mode || e.owner != "root/root" {
					t.Errorf("%s: %s %s, want %s root/root", path, e.mode, e.owner, mode)
				}
			}
			// Reproducible: every file carries the same time (the commit's).
			dates := map[string]bool{}
			for _, e := range c {
				dates[e.date] = true
			}
			if len(dates) != 1 {
				t.Errorf("files carry %d different times, want one: %v", len(dates), dates)
			}

			if got := strings.TrimSpace(run(t, "dpkg-deb", "--info", deb, "conffiles")); got != configPath {
				t.Errorf("conffiles %q, want %q", got, configPath)
			}
			for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
				if out := run(t, "dpkg-deb", "--info", deb, s); !strings.HasPrefix(out, "#!/bin/sh") {
					t.Errorf("%s missing or not a shell script: %.40q", s, out)
				}
			}
			info := run(t, "dpkg-deb", "--info", deb)
			if !strings.Contains(info, "Description: Local server for Stikadoo AI sticker printers") {
				t.Errorf("no description in\n%s", info)
			}

			bin := binary(t, deb)
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("binary is not ELF: %v", err)
			}
			if f.Machine != elfMachine[arch] {
				t.Errorf("binary is for %v, want %v", f.Machine, elfMachine[arch])
			}
			libs, err := f.ImportedLibraries()
			if err != nil {
				t.Fatal(err)
			}
			for _, lib := range libs {
				p, ok := libPackage[lib]
				if !ok {
					t.Errorf("binary needs %s, of no package this test knows", lib)
				} else if !slices.Contains(depends, p) {
					t.Errorf("binary needs %s but Depends %q lacks %s", lib, depends, p)
				}
			}
			// The C library must be at least as new as the newest symbol
			// version the binary uses.
			syms, err := f.ImportedSymbols()
			if err != nil {
				t.Fatal(err)
			}
			newest := ""
			for _, s := range syms {
				if v, ok := strings.CutPrefix(s.Version, "GLIBC_"); ok && versionLess(newest, v) {
					newest = v
				}
			}
			if want := "libc6 (>= " + newest + ")"; newest == "" || !strings.Contains(fields, want) {
				t.Errorf("binary uses GLIBC_%s; Depends should say %q:\n%s", newest, want, fields)
			}
			if !slices.Contains(libs, "libopus.so.0") {
				t.Errorf("binary links %q, not libopus: built without Opus decoding?", libs)
			}
			bi, err := buildinfo.Read(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("build info: %v", err)
			}
			for _, s := range bi.Settings {
				if s.Key == "-tags" && !strings.Contains(s.Value, "whispercpp") {
					t.Errorf("built with tags %q: no whisper.cpp speech recognition", s.Value)
				}
				if s.Key == "-trimpath" && s.Value != "true" {
					t.Errorf("built without -trimpath")
				}
			}
		})
	}
}

// dpkgRoot makes an empty Debian system root for dpkg --root: its
// database and the account files the maintainer scripts edit.
func dpkgRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"var/lib/dpkg/status": "", "var/lib/dpkg/available": "",
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:20000:0:99999:7:::\n", "etc/gshadow": "root:*::\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func dpkg(t *testing.T, root string, args ...string) string {
	t.Helper()
	// Chrootless: the maintainer scripts run here with DPKG_ROOT=root
	// (they touch only files under it); dependencies are not in the
	// empty root.
	base := []string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--force-not-root", "--log=/dev/null"}
	cmd := exec.Command("dpkg", append(base, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// TestDebInstall installs this machine's package into a throwaway root
// and checks what lands where, that the service is enabled, that a changed
// configuration survives a reinstall and a remove, and that only a purge
// deletes the configuration and the state.
func TestDebInstall(t *testing.T) {
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}[runtime.GOARCH]
	if !slices.Contains(debArches(t), arch) {
		t.Skipf("no package for this machine (%s) among %s", arch, os.Getenv(envDebArches))
	}
	deb := debFor(t, arch)
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed")
	}
	root := dpkgRoot(t)
	dpkg(t, root, "--install", deb)

	for path, mode := range map[string]os.FileMode{binPath: 0o755, unitPath: 0o644, configPath: 0o644} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("after install: %v", err)
			continue
		}
		if fi.Mode().Perm() != mode || !fi.Mode().IsRegular() {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	want, err := os.ReadFile("../cmd/stikadoo-edge/stikadoo-edge.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, configPath)); !bytes.Equal(got, want) {
		t.Errorf("installed %s is not the documented default configuration", configPath)
	}
	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(status, []byte("Conffiles:\n "+configPath+" ")) {
		t.Errorf("dpkg does not record %s as a conffile:\n%s", configPath, status)
	}
	if group, _ := os.ReadFile(filepath.Join(root, "etc/group")); !hasLine(group, "gpio:") {
		t.Errorf("postinst did not create the gpio group the unit joins:\n%s", group)
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/stikadoo-edge.service")
	if _, err := exec.LookPath("systemctl"); err == nil {
		if target, err := os.Readlink(wants); err != nil || target != unitPath {
			t.Errorf("service not enabled: %s -> %q (%v)", wants, target, err)
		}
	}

	// The administrator's settings survive a reinstall.
	changed := append(append([]byte{}, want...), "\n[server]\nlisten = \":8080\"\n"...)
	if err := os.WriteFile(filepath.Join(root, configPath), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg(t, root, "--install", deb)
	if got, _ := os.ReadFile(filepath.Join(root, configPath)); !bytes.Equal(got, changed) {
		t.Error("reinstall replaced the changed configuration")
	}

	// State as the service leaves it (DynamicUser=: private folder and a link).
	private := filepath.Join(root, "var/lib/private/stikadoo-edge")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(private, "stikadoo-edge.db"), []byte("record"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/stikadoo-edge", filepath.Join(root, "var/lib/stikadoo-edge")); err != nil {
		t.Fatal(err)
	}

	dpkg(t, root, "--remove", pkgName)
	for _, p := range []string{binPath, unitPath} {
		if exists(filepath.Join(root, p)) {
			t.Errorf("remove left %s", p)
		}
	}
	if exists(wants) {
		t.Error("remove left the service enabled")
	}
	if got, _ := os.ReadFile(filepath.Join(root, configPath)); !bytes.Equal(got, changed) {
		t.Error("remove deleted or changed the configuration")
	}
	if !exists(filepath.Join(private, "stikadoo-edge.db")) {
		t.Error("remove deleted the record; only purge may")
	}

	// Installed again after a remove (dpkg passes the removed version, as
	// for an upgrade): the service is enabled again.
	dpkg(t, root, "--install", deb)
	if target, err := os.Readlink(wants); err != nil || target != unitPath {
		t.Errorf("reinstalled after remove, the service is not enabled: %q (%v)", target, err)
	}
	if exists(filepath.Join(root, "etc/stikadoo-edge/.removed")) {
		t.Error("the remove mark outlived the reinstall")
	}
	dpkg(t, root, "--remove", pkgName)

	dpkg(t, root, "--purge", pkgName)
	for _, p := range []string{configPath, "/etc/stikadoo-edge", "/var/lib/stikadoo-edge", "/var/lib/private/stikadoo-edge"} {
		if exists(filepath.Join(root, p)) {
			t.Errorf("purge left %s", p)
		}
	}
	if !exists(filepath.Join(root, "var/lib")) {
		t.Error("purge deleted more than its own state")
	}
}

func hasLine(b []byte, prefix string) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return true
		}
	}
	return false
}

// versionLess compares dotted numeric versions ("2.9" < "2.34").
func versionLess(a, b string) bool {
	if a == "" {
		return b != ""
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
