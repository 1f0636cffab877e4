package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const unitFile = "stikadoo-edge.service"

// unitSettings reads the unit's "Key=value" lines, by section.
func unitSettings(t *testing.T, text string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line %q is not Key=value", line)
			}
			m[section+"."+k] = append(m[section+"."+k], v)
		}
	}
	return m
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUnitSettings keeps the promises the daemon and the packages rely on.
func TestUnitSettings(t *testing.T) {
	u := unitSettings(t, readUnit(t))
	want := map[string]string{
		"Service.Type":                     "notify",
		"Service.ExecStart":                "/usr/bin/stikadoo-edge serve",
		"Service.Restart":                  "on-failure",
		"Service.RestartPreventExitStatus": "78", // exitConfig in cmd/stikadoo-edge
		"Service.DynamicUser":              "yes",
		"Service.StateDirectory":           "stikadoo-edge", // $STATE_DIRECTORY, the daemon's default state_dir
		"Service.ConfigurationDirectory":   "stikadoo-edge", // /etc/stikadoo-edge/stikadoo-edge.toml
		"Service.ProtectSystem":            "strict",
		"Service.ProtectHome":              "yes",
		"Service.PrivateTmp":               "yes",
		"Service.NoNewPrivileges":          "yes",
		"Service.SupplementaryGroups":      "gpio",
		"Install.WantedBy":                 "multi-user.target",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"Service.WatchdogSec", "Service.TimeoutStopSec"} {
		if len(u[k]) != 1 {
			t.Fatalf("%s: %q, want one setting", k, u[k])
		}
		d, err := time.ParseDuration(u[k][0])
		// The daemon gives sessions 5 s to close; the watchdog is fed
		// every half period and must tolerate a slow health check (5 s).
		if err != nil || d < 15*time.Second || d > time.Minute {
			t.Errorf("%s = %q, want 15s..1m", k, u[k][0])
		}
	}
	families := strings.Fields(strings.Join(u["Service.RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"} {
		if !slices.Contains(families, f) {
			t.Errorf("RestrictAddressFamilies %q lacks %s (notify socket, devices, mDNS, address changes)", families, f)
		}
	}
	if !slices.Contains(u["Service.DeviceAllow"], "char-gpiochip rw") {
		t.Errorf("DeviceAllow %q does not allow the GPIO chips", u["Service.DeviceAllow"])
	}
	// Settings that would take GPIO or multicast away.
	for _, k := range []string{"Service.PrivateDevices", "Service.PrivateNetwork", "Service.IPAddressDeny", "Service.ProtectKernelTunables"} {
		if v := u[k]; len(v) > 0 && v[0] != "no" {
			t.Errorf("%s = %q would cut off GPIO or the network", k, v)
		}
	}
}

// TestUnitVerify runs systemd-analyze verify on the unit, with ExecStart
// pointing at a binary that exists here.
func TestUnitVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd); the unit is not verified")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(readUnit(t), "ExecStart=/usr/bin/stikadoo-edge", "ExecStart="+exe, 1)
	path := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", "--man=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Warnings do not fail verify; any line about the unit is a finding.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, unitFile) {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
