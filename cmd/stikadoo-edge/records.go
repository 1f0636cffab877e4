package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/storage"
)

// The command line reads the record from the store file when no daemon
// holds it, and asks the running daemon's admin API (loopback only) when
// one does.

const (
	// cliLockTimeout is how long the command line waits for the store
	// file before concluding the daemon holds it.
	cliLockTimeout = 200 * time.Millisecond
	// adminTimeout bounds one admin API request, body included.
	adminTimeout = 10 * time.Second
)

// Limits of admin API answers; variables only so tests can make them
// small.
var (
	maxAdminResponse int64 = 64 << 20 // one JSON answer
	maxAdminExport   int64 = 1 << 30  // an export
)

// records is the record as the command line sees it.
type records interface {
	Devices(ctx context.Context) ([]proto.Device, error)
	Approve(ctx context.Context, id string) (proto.Device, error)
	Revoke(ctx context.Context, id string) (proto.Device, error)
	Sessions(ctx context.Context, limit int) ([]proto.Session, error)
	Session(ctx context.Context, id string) (proto.Session, []proto.Turn, error)
	Export(ctx context.Context, w io.Writer, since time.Time) error
	Close() error
}

// recordFlags say where the record is.
type recordFlags struct {
	config   string
	stateDir string
	server   string
}

func (rf *recordFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&rf.config, "config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	fs.StringVar(&rf.stateDir, "state-dir", "", "state directory holding the record, overriding server.state_dir")
	fs.StringVar(&rf.server, "server", "", "base URL of the running server's admin API (default http://127.0.0.1:<server.listen port>); given, the store file is not opened")
}

// openRecords opens the store file (read-only unless write is set), or,
// when the running daemon holds it, returns a client of the daemon's admin
// API.
func openRecords(rf recordFlags, write bool) (records, error) {
	cfg, err := loadConfig(configPath(rf.config), flagOverrides{StateDir: rf.stateDir}, os.Getenv)
	if err != nil {
		return nil, err
	}
	if rf.server != "" {
		return newAdminClient(rf.server, nil)
	}
	path := filepath.Join(cfg.StateDir, storeFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open record: %s does not exist (has stikadoo-edge serve run with state directory %s?): %w", path, cfg.StateDir, errNoRecord)
	}
	st, err := storage.Open(path, storage.Options{ReadOnly: !write, LockTimeout: cliLockTimeout})
	switch {
	case err == nil:
		return storeRecords{st}, nil
	case errors.Is(err, storage.ErrLocked):
		return newAdminClient(adminURL(cfg.Listen), nil)
	case errors.Is(err, fs.ErrPermission):
		// The file belongs to the daemon's user; the daemon may still
		// answer.
		return newAdminClient(adminURL(cfg.Listen), err)
	}
	return nil, err
}

// adminURL is the loopback URL of the admin API of a daemon listening on
// listen.
func adminURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		port = "8000"
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// storeRecords reads and writes the store file directly.
type storeRecords struct{ st *storage.Store }

func (r storeRecords) Close() error { return r.st.Close() }

func (r storeRecords) Devices(context.Context) ([]proto.Device, error) { return r.st.Devices() }

func (r storeRecords) Sessions(_ context.Context, limit int) ([]proto.Session, error) {
	return r.st.Sessions(limit, time.Time{})
}

func (r storeRecords) Session(_ context.Context, id string) (proto.Session, []proto.Turn, error) {
	return r.st.Session(id)
}

func (r storeRecords) Export(_ context.Context, w io.Writer, since time.Time) error {
	return r.st.Export(w, since)
}

// Approve does what the running gateway does on approval: the device may
// activate and get tokens again.
func (r storeRecords) Approve(_ context.Context, id string) (proto.Device, error) {
	id = proto.NormalizeDeviceID(id)
	return r.st.UpdateDevice(id, func(d *proto.Device) error {
		if d.FirstSeen.IsZero() {
			return fmt.Errorf("approve device %s: %w", id, proto.ErrNotFound)
		}
		d.Approve(time.Now())
		return nil
	})
}

// Revoke does what the running gateway does on revocation: tokens issued
// until now are refused and the device gets no new one until approved.
func (r storeRecords) Revoke(_ context.Context, id string) (proto.Device, error) {
	id = proto.NormalizeDeviceID(id)
	return r.st.UpdateDevice(id, func(d *proto.Device) error {
		if d.FirstSeen.IsZero() {
			return fmt.Errorf("revoke device %s: %w", id, proto.ErrNotFound)
		}
		d.Revoke(time.Now())
		return nil
	})
}

// adminClient asks the running daemon.
type adminClient struct {
	base   string
	client *http.Client
	// direct, if set, is why the store file could not be opened; it is
	// reported when the daemon does not answer either.
	direct error
}

func newAdminClient(base string, direct error) (*adminClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin API URL %q: want http://host:port: %w", base, errUsage)
	}
	return &adminClient{
		base: strings.TrimSuffix(base, "/"),
		client: &http.Client{
			Timeout:   adminTimeout,
			Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1, IdleConnTimeout: adminTimeout},
		},
		direct: direct,
	}, nil
}

func (c *adminClient) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// do sends a request and returns the response of a 2xx answer; any other
// answer becomes an error carrying the server's message.
func (c *adminClient) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin request %s %s: %w", method, path, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if c.direct != nil {
			return nil, fmt.Errorf("%w; and the server at %s does not answer: %v", c.direct, c.base, err)
		}
		return nil, fmt.Errorf("ask the running server at %s (it holds the record; if it listens elsewhere, give --server URL): %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	err = fmt.Errorf("%s %s: %s (HTTP %d): %w", method, c.base+path, e.Error, resp.StatusCode, errAdmin)
	if resp.StatusCode == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", err, proto.ErrNotFound)
	}
	return nil, err
}

// getJSON decodes a JSON answer of at most maxAdminResponse bytes into v.
func (c *adminClient) getJSON(ctx context.Context, method, path string, v any) error {
	resp, err := c.do(ctx, method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse+1))
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", path, err)
	}
	if int64(len(b)) > maxAdminResponse {
		return fmt.Errorf("answer of %s is larger than %d bytes: %w", path, maxAdminResponse, errAdmin)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}

func (c *adminClient) Devices(ctx context.Context) ([]proto.Device, error) {
	var ds []proto.Device
	return ds, c.getJSON(ctx, http.MethodGet, "/api/v1/devices", &ds)
}

func (c *adminClient) Approve(ctx context.Context, id string) (proto.Device, error) {
	var d proto.Device
	return d, c.getJSON(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(proto.NormalizeDeviceID(id))+"/approve", &d)
}

func (c *adminClient) Revoke(ctx context.Context, id string) (proto.Device, error) {
	var d proto.Device
	return d, c.getJSON(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(proto.NormalizeDeviceID(id))+"/revoke", &d)
}

func (c *adminClient) Sessions(ctx context.Context, limit int) ([]proto.Session, error) {
	var ss []proto.Session
	return ss, c.getJSON(ctx, http.MethodGet, "/api/v1/sessions?limit="+strconv.Itoa(limit), &ss)
}

func (c *adminClient) Session(ctx context.Context, id string) (proto.Session, []proto.Turn, error) {
	var v struct {
		Session proto.Session `json:"session"`
		Turns   []proto.Turn  `json:"turns"`
	}
	err := c.getJSON(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), &v)
	return v.Session, v.Turns, err
}

func (c *adminClient) Export(ctx context.Context, w io.Writer, since time.Time) error {
	path := "/api/v1/export"
	if !since.IsZero() {
		path += "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	}
	resp, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxAdminExport+1))
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if n > maxAdminExport {
		return fmt.Errorf("export: answer larger than %d bytes: %w", maxAdminExport, errAdmin)
	}
	return nil
}
