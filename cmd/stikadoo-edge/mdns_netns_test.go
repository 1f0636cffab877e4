package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// envHelperArgs makes the test binary run one stikadoo-edge command
// (arguments separated by \x1f) instead of the tests: the multicast test
// runs the real daemon and the real discover command inside network
// namespaces with it.
const envHelperArgs = "STIKADOO_EDGE_HELPER_ARGS"

// envGoodbyeIface makes the test binary wait on that interface for an
// mDNS goodbye (a _xiaozhi._tcp record with TTL 0) instead.
const envGoodbyeIface = "STIKADOO_EDGE_HELPER_GOODBYE"

func TestMain(m *testing.M) {
	if ifname := os.Getenv(envGoodbyeIface); ifname != "" {
		os.Exit(awaitGoodbye(ifname))
	}
	if args := os.Getenv(envHelperArgs); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runMain(ctx, strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// awaitGoodbye listens for mDNS on ifname, says "listening" on stdout,
// and returns 0 once a _xiaozhi._tcp PTR record with TTL 0 arrives, or 1
// after 20 s.
func awaitGoodbye(ifname string) int {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Println("listening")
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 9000)
	for {
		n, err := c.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "no goodbye:", err)
			return 1
		}
		var msg dns.Msg
		if msg.Unpack(buf[:n]) != nil || !msg.Response {
			continue
		}
		for _, rr := range append(msg.Answer, msg.Extra...) {
			if ptr, ok := rr.(*dns.PTR); ok && ptr.Hdr.Name == "_xiaozhi._tcp.local." && ptr.Hdr.Ttl == 0 {
				fmt.Println("goodbye", strings.ReplaceAll(ptr.Ptr, `\`, "")) // presentation escapes dropped
				return 0
			}
		}
	}
}

// netnsPair is two network namespaces joined by a veth pair: A
// (10.77.0.1/24) for the server, B (10.77.0.2/24) for the browser.
// Nothing they send leaves them.
type netnsPair struct {
	a, b         string // namespace names
	ifA, ifB     string // interface names
	addrA, addrB string
}

func run1(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// newNetnsPair creates the namespaces, or skips the test when this
// process may not.
func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("multicast test skipped: creating network namespaces needs root (run the tests as root, or in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("multicast test skipped: the ip command (iproute2) is not installed")
	}
	id := os.Getpid() % 1_000_000
	n := &netnsPair{
		a: fmt.Sprintf("stikadoo-a-%d", id), b: fmt.Sprintf("stikadoo-b-%d", id),
		ifA: fmt.Sprintf("sea%d", id), ifB: fmt.Sprintf("seb%d", id),
		addrA: "10.77.0.1", addrB: "10.77.0.2",
	}
	if err := run1("ip", "netns", "add", n.a); err != nil {
		t.Skipf("multicast test skipped: cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { _ = run1("ip", "netns", "del", n.a) })
	if err := run1("ip", "netns", "add", n.b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run1("ip", "netns", "del", n.b) }) // takes the veth pair with it
	for _, c := range [][]string{
		// The pair is born inside the namespaces: never in the machine's own.
		{"ip", "-n", n.a, "link", "add", n.ifA, "type", "veth", "peer", "name", n.ifB, "netns", n.b},
		{"ip", "-n", n.a, "addr", "add", n.addrA + "/24", "dev", n.ifA},
		{"ip", "-n", n.b, "addr", "add", n.addrB + "/24", "dev", n.ifB},
		{"ip", "-n", n.a, "link", "set", "lo", "up"},
		{"ip", "-n", n.b, "link", "set", "lo", "up"},
		{"ip", "-n", n.a, "link", "set", n.ifA, "up", "multicast", "on"},
		{"ip", "-n", n.b, "link", "set", n.ifB, "up", "multicast", "on"},
		{"ip", "-n", n.a, "route", "add", "224.0.0.0/4", "dev", n.ifA},
		{"ip", "-n", n.b, "route", "add", "224.0.0.0/4", "dev", n.ifB},
	} {
		if err := run1(c...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// helper returns a command running this test binary as stikadoo-edge with
// args inside namespace ns.
func helper(t *testing.T, ns string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, mustExecutable(t))
	cmd.Env = append(os.Environ(), envHelperArgs+"="+strings.Join(args, "\x1f"))
	return cmd
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// daemonProc is a daemon running in a namespace.
type daemonProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []string
	seen chan struct{} // a new log line arrived
	done chan error
}

func startDaemon(t *testing.T, ns string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: helper(t, ns, append([]string{"serve"}, args...)...), seen: make(chan struct{}, 1), done: make(chan error, 1)}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() { // ends when the daemon exits and closes its stderr
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.logs = append(d.logs, sc.Text())
			d.mu.Unlock()
			select {
			case d.seen <- struct{}{}:
			default:
			}
		}
	}()
	go func() { // ends when the daemon exits
		<-scanned
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
		}
	})
	return d
}

// waitLog waits for a log line matching re.
func (d *daemonProc) waitLog(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(20 * time.Second)
	for {
		d.mu.Lock()
		for _, l := range d.logs {
			if rx.MatchString(l) {
				d.mu.Unlock()
				return l
			}
		}
		logs := strings.Join(d.logs, "\n")
		d.mu.Unlock()
		select {
		case <-d.seen:
		case err := <-d.done:
			d.done <- err
			t.Fatalf("daemon exited (%v) before logging %q:\n%s", err, re, logs)
		case <-deadline:
			t.Fatalf("daemon did not log %q within 20 s:\n%s", re, logs)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit within 20 s of SIGTERM")
	}
}

type discovered struct {
	Instance string   `json:"instance"`
	Port     int      `json:"port"`
	Addrs    []string `json:"addrs"`
	OTAURLs  []string `json:"ota_urls"`
	WSPath   string   `json:"ws_path"`
	ID       string   `json:"id"`
	Version  string   `json:"version"`
}

// discover runs `stikadoo-edge discover` in namespace ns.
func discover(t *testing.T, ns string) ([]discovered, int) {
	t.Helper()
	cmd := helper(t, ns, "discover", "--timeout", "3s", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var found []discovered
	dec := json.NewDecoder(&stdout)
	for {
		var d discovered
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("discover output: %v (stderr %s)", err, stderr.String())
		}
		found = append(found, d)
	}
	if code != 0 && !strings.Contains(stderr.String(), "no server answered") {
		t.Fatalf("discover exit %d: %s", code, stderr.String())
	}
	return found, code
}

// TestMDNSInNamespace runs the daemon in one network namespace and
// discover in another: the browser finds the OTA service with its TXT
// records and the veth address; after SIGTERM it is gone. A daemon
// listening on loopback is not found at all.
func TestMDNSInNamespace(t *testing.T) {
	n := newNetnsPair(t)
	const name = "Stikadoo Edge (netns test)"
	cfg := writeConfig(t, "[mdns]\nname = \""+name+"\"\n")

	d := startDaemon(t, n.a, "--config", cfg, "--listen", ":8000", "--state-dir", filepath.Join(t.TempDir(), "state"))
	line := d.waitLog(t, `msg="mdns: advertising"`)
	if !strings.Contains(line, "interfaces="+n.ifA) || !strings.Contains(line, "addrs="+n.addrA) {
		t.Errorf("advertising on the wrong interfaces or addresses: %s", line)
	}

	found, code := discover(t, n.b)
	if code != 0 || len(found) != 1 {
		t.Fatalf("discover in the other namespace found %+v (exit %d), want the one server", found, code)
	}
	f := found[0]
	if f.Instance != name || f.Port != 8000 || !slices.Equal(f.Addrs, []string{n.addrA}) {
		t.Errorf("found %+v: want %q on %s port 8000", f, name, n.addrA)
	}
	if want := "http://" + n.addrA + ":8000/xiaozhi/ota/"; !slices.Equal(f.OTAURLs, []string{want}) {
		t.Errorf("OTA URLs %v, want %s", f.OTAURLs, want)
	}
	if f.WSPath != "/xiaozhi/v1/" || f.Version != buildVersion() || !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(f.ID) {
		t.Errorf("TXT records: ws %q, ver %q, id %q", f.WSPath, f.Version, f.ID)
	}

	// Listen for the goodbye from the browser's side, then stop the server.
	gb := exec.Command("ip", "netns", "exec", n.b, mustExecutable(t))
	gb.Env = append(os.Environ(), envGoodbyeIface+"="+n.ifB)
	gbOut, err := gb.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := gb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gb.Process.Kill() })
	gbLines := bufio.NewScanner(gbOut)
	if !gbLines.Scan() || gbLines.Text() != "listening" {
		t.Fatalf("goodbye listener did not start: %q", gbLines.Text())
	}
	d.stop(t)
	d.waitLog(t, `msg=stopped`)
	if !gbLines.Scan() || gbLines.Text() != "goodbye "+name+"._xiaozhi._tcp.local." {
		t.Errorf("no goodbye seen after SIGTERM: %q", gbLines.Text())
	}
	if err := gb.Wait(); err != nil {
		t.Errorf("goodbye listener: %v", err)
	}
	if found, code := discover(t, n.b); len(found) != 0 || code != exitError {
		t.Fatalf("after shutdown discover found %+v (exit %d), want nothing", found, code)
	}

	// On loopback there is nothing to find, so nothing is advertised.
	lo := startDaemon(t, n.a, "--config", cfg, "--listen", "127.0.0.1:8000", "--state-dir", filepath.Join(t.TempDir(), "state"))
	lo.waitLog(t, `msg="mdns: not advertising: the server listens on loopback only"`)
	if found, code := discover(t, n.b); len(found) != 0 || code != exitError {
		t.Fatalf("a loopback server was found: %+v (exit %d)", found, code)
	}
	lo.stop(t)
}
