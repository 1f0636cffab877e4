package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/panel"
	"github.com/stikadoo/stikadoo-edge/storage"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

// The store is what the gateway records into.
var _ edge.Store = (*storage.Store)(nil)

// Files in the state directory.
const (
	storeFile    = "stikadoo-edge.db" // the record (bbolt)
	tokenKeyFile = "token.key"        // the secret that signs device tokens, hex
)

// cmdServe runs the daemon until a signal.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "[--config FILE] [--listen ADDR] [--state-dir DIR] [--log-level LEVEL] [--no-mdns]")
	file := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	var ov flagOverrides
	fs.StringVar(&ov.Listen, "listen", "", `address to serve on, overriding server.listen (default ":8000")`)
	fs.StringVar(&ov.StateDir, "state-dir", "", "folder of the record and the token key, overriding server.state_dir")
	fs.StringVar(&ov.LogLevel, "log-level", "", "debug, info, warn or error, overriding server.log_level")
	fs.BoolVar(&ov.NoMDNS, "no-mdns", false, "advertise nothing on the LAN, overriding mdns.enabled")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(configPath(*file), ov, os.Getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	svc, err := serviceFromEnv(os.Getenv, os.Getpid())
	if err != nil {
		return err
	}
	return runService(ctx, cfg, log, svc)
}

// run serves devices until ctx is done, then stops every session, closes
// the store and returns nil.
func run(ctx context.Context, cfg daemonConfig, log *slog.Logger) error {
	return runService(ctx, cfg, log, service{})
}

// runService is run under a service manager: it tells svc when the daemon
// is ready, healthy and stopping.
func runService(ctx context.Context, cfg daemonConfig, log *slog.Logger, svc service) error {
	d, err := openDaemon(cfg, log)
	if err != nil {
		return err
	}
	d.svc = svc
	ln, err := d.listen()
	if err != nil {
		d.close()
		return err
	}
	return d.serve(ctx, ln)
}

// daemon is the wired server: store, gateway and settings.
type daemon struct {
	cfg    daemonConfig
	log    *slog.Logger
	store  *storage.Store
	srv    *edge.Server
	images *imagegen.Generator
	// closeSTT frees the speech engine and the voice activity model;
	// noSTT says why there is no speech engine.
	closeSTT func()
	noSTT    string
	// pending, if set, loads a speech model once one is downloaded.
	pending *pendingTranscriber
	// cloud is the cloud backend's client; nil when there is none or the
	// policy is local.
	cloud *cloud.Client
	// Appliance: the mDNS identity and the status light and button (nil:
	// none).
	serverID string
	panel    *panel.Panel
	// svc is systemd's notification socket and watchdog, if any.
	svc service
	// storeChecked is when the watchdog's health check last wrote to the
	// record (read and set by the watchdog's goroutine only).
	storeChecked time.Time
}

// openDaemon prepares the state directory, opens the store (failing at
// once when another stikadoo-edge holds it) and builds the gateway.
func openDaemon(cfg daemonConfig, log *slog.Logger) (*daemon, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	st, err := storage.Open(filepath.Join(cfg.StateDir, storeFile), storage.Options{})
	if err != nil {
		return nil, err
	}
	secret, err := loadTokenKey(filepath.Join(cfg.StateDir, tokenKeyFile), log)
	if err != nil {
		st.Close()
		return nil, err
	}
	gen, err := imagegen.New(cfg.Image.generatorConfig(), log)
	if err != nil {
		st.Close()
		return nil, &edge.ConfigError{Field: "image", Msg: err.Error()}
	}
	tr, closeSTT, noSTT, err := openTranscriber(cfg.STT, cfg.StateDir, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	var pending *pendingTranscriber
	if tr == nil && cfg.STT.Engine == engineAuto && cfg.STT.Whisper.ModelPath == "" && whispercpp.Version() != "" {
		// No model downloaded yet: look for one while serving.
		pending = newPendingTranscriber(cfg.STT, cfg.StateDir, noSTT, log)
		tr, closeSTT = pending, pending.Close
	}
	find, closeVAD, err := openSpeechFinder(cfg.STT, cfg.StateDir, log)
	if err != nil {
		closeSTT()
		st.Close()
		return nil, err
	}
	closeEngines := func() { closeVAD(); closeSTT() }
	cl, err := openCloud(cfg.Cloud, cfg.Gateway.Cloud, log)
	if err != nil {
		closeEngines()
		st.Close()
		return nil, err
	}
	gw := cfg.Gateway
	gw.Auth.TokenSecret = secret
	gw.Version = buildVersion()
	deps := edge.Deps{Store: st, Images: gen, Logger: log, SpeechFinder: find, NoSTT: noSTT}
	if cfg.Retention.KeepAudio {
		deps.Recorder = &audioRecorder{dir: filepath.Join(cfg.StateDir, audioDirName)}
	}
	if tr != nil {
		deps.Transcriber = tr
	}
	if cl != nil {
		deps.Cloud = cloudGateway{cl}
	}
	acts := &gatewayActions{log: log}
	pnl, err := panel.Open(cfg.GPIO, acts, log)
	if err != nil {
		closeEngines()
		st.Close()
		return nil, &edge.ConfigError{Field: "gpio", Msg: err.Error()}
	}
	if pnl != nil {
		deps.Observer = panelObserver{pnl}
	}
	srv, err := edge.NewServer(gw, deps)
	if err != nil {
		closeEngines()
		st.Close()
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	if stats := whisperStats(tr); stats != nil {
		if err := srv.RegisterMetrics(whisperMetrics(stats)...); err != nil {
			closeEngines()
			st.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	acts.srv = srv
	return &daemon{cfg: cfg, log: log, store: st, srv: srv, images: gen, closeSTT: closeEngines, noSTT: noSTT,
		pending: pending, cloud: cl, serverID: serverID(secret), panel: pnl}, nil
}

// listen binds the configured address.
func (d *daemon) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// close closes the store, logging a failure (there is no one else to
// tell).
func (d *daemon) close() {
	d.closeSTT()
	if err := d.store.Close(); err != nil {
		d.log.Error("close store", "err", err)
	}
}

// serve serves ln and prunes the record until ctx is done or serving
// fails, then closes the store.
func (d *daemon) serve(ctx context.Context, ln net.Listener) error {
	defer d.close()
	urls, lan := otaURLs(ln.Addr(), d.cfg.Gateway.OTAPath)
	d.log.Info("serving devices", "addr", ln.Addr().String(), "ota_urls", strings.Join(urls, " "),
		"state_dir", d.cfg.StateDir, "config", d.cfg.File, "version", buildVersion())
	if !lan {
		d.log.Warn("only this machine can connect: no network address is served", "addr", ln.Addr().String())
	}
	if d.noSTT != "" {
		// The gateway tells devices in a readable alert, and the health
		// report says degraded.
		d.log.Warn("speech recognition is not configured: devices that speak are told it is not available", "why", d.noSTT)
		if d.pending != nil {
			d.log.Info("a speech model downloaded while serving is picked up within seconds", "models", modelsDir(d.cfg.StateDir))
		}
	}
	d.log.Info("stickers", "images", d.images.Describe())
	if d.cfg.Image.Backend.Kind == "" {
		d.log.Warn("no image model is configured: every sticker is the words in a frame, drawn on this machine (set [image] backend)")
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { // ends when gctx is done (after sessions are closed) or serving fails
		return d.srv.Serve(gctx, ln)
	})
	if d.cloud != nil {
		d.log.Info("cloud relay", "host", d.cloud.Host(), "policy", d.cfg.Gateway.Cloud.Policy)
		g.Go(func() error { // ends when gctx is done
			return d.cloud.Run(gctx)
		})
	}
	g.Go(func() error { // ends when gctx is done, or at once when retention is off
		r := d.cfg.Retention
		return d.store.RunRetention(gctx, r.Every, r.MaxAge, r.MaxSessions, d.log)
	})
	if d.pending != nil {
		g.Go(func() error { // ends when a model has loaded or gctx is done
			return d.pending.watch(gctx, modelPoll)
		})
	}
	if d.cfg.Retention.KeepAudio {
		d.log.Info("keeping what devices say", "dir", filepath.Join(d.cfg.StateDir, audioDirName), "for", d.cfg.Retention.MaxAge.String())
		g.Go(func() error { // ends when gctx is done
			r := d.cfg.Retention
			return runAudioRetention(gctx, filepath.Join(d.cfg.StateDir, audioDirName), r.Every, r.MaxAge, d.sessionGone, d.log)
		})
	}
	if d.cfg.MDNS.Enabled {
		g.Go(func() error { // ends when gctx is done (after the goodbye), or at once on loopback
			d.advertise(gctx, ln.Addr())
			return nil
		})
	}
	if d.panel != nil {
		g.Go(func() error { // ends when gctx is done; the light goes dark
			return d.panel.Run(gctx)
		})
	}
	g.Go(func() error { // ends when gctx is done
		return d.superviseService(gctx, d.svc, ln.Addr(), strings.Join(urls, " "))
	})
	err := g.Wait()
	if err == nil {
		d.log.Info("stopped")
	}
	return err
}

// sessionGone reports whether the record no longer holds a session (a
// read error counts as still there: nothing is deleted on a doubt).
func (d *daemon) sessionGone(id string) bool {
	_, _, err := d.store.Session(id)
	return errors.Is(err, proto.ErrNotFound)
}

// otaURLs lists the OTA URLs a device can be given: one per non-loopback
// IPv4 address of this machine when listening on every interface (IPv6
// ones only when there is no IPv4 address), or the one address listened
// on. lan is false when only this machine can connect; the URLs are then
// loopback ones. It reads interface addresses and sends nothing.
func otaURLs(addr net.Addr, otaPath string) (urls []string, lan bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, false
	}
	port := strconv.Itoa(tcp.Port)
	mk := func(ip net.IP) string { return "http://" + net.JoinHostPort(ip.String(), port) + otaPath }
	loopback := []string{mk(net.IPv4(127, 0, 0, 1))}
	if !tcp.IP.IsUnspecified() {
		return []string{mk(tcp.IP)}, !tcp.IP.IsLoopback()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return loopback, false
	}
	var v4, v6 []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			v4 = append(v4, mk(ip4))
		} else if tcp.IP.To4() == nil { // a "0.0.0.0" listener serves no IPv6
			v6 = append(v6, mk(ip))
		}
	}
	switch {
	case len(v4) > 0:
		return v4, true
	case len(v6) > 0:
		return v6, true
	}
	return loopback, false
}

// loadTokenKey reads the secret that signs device tokens, creating it (32
// random bytes, hex, mode 0600) on first start. Keeping it across restarts
// keeps the tokens devices hold valid.
func loadTokenKey(path string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createTokenKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read token key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("read token key %q: not 64 hexadecimal digits; delete the file to make a new key (devices get new tokens at their next start): %w", path, errConfig)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("token key is readable by other users; run chmod 600 on it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return key, nil
}

func createTokenKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create token key: %w", err)
	}
	// CreateTemp makes the file with mode 0600; the rename makes the key
	// appear whole or not at all.
	f, err := os.CreateTemp(filepath.Dir(path), ".token.key.*")
	if err != nil {
		return nil, fmt.Errorf("create token key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("create token key %q: %w", path, err)
	}
	return key, nil
}
