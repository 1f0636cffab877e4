package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/systemd"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1  // a runtime error
	exitUsage  = 2  // bad command line
	exitConfig = 78 // EX_CONFIG: bad configuration; systemd does not restart (RestartPreventExitStatus=78)
)

const helpText = `stikadoo-edge serves voice sticker printers on the local network.

usage: stikadoo-edge COMMAND [flags]

commands:
  serve                      run the server (flags: --config, --listen, --state-dir,
                             --log-level, --no-mdns)
  config check               check the configuration file
  config print [--defaults]  print the configuration in use (secrets masked),
                             or the documented defaults
  sessions list              list recent sessions
  sessions show ID           show a session and its turns
  sessions export            write sessions and turns as JSON lines
  devices list               list the devices seen
  devices approve ID         let a device that waits for approval in
  devices revoke ID          refuse a device's tokens and block it
  devices enroll             let new devices get tokens for a while
                             ([auth] enrollment = "window"; the server must run)
  simulate                   talk to a server as a fake device
  discover [--timeout 3s]    list the Stikadoo servers on the LAN (mDNS) and
                             their OTA URLs, as a device would find them
  model list                 list the speech models and which are downloaded
  model download NAME        download a speech model into the state directory
  model verify FILE          check a model file against the catalogue
  transcribe FILE            transcribe a WAV file or a kept recording (.opus)
  sticker "WORDS" -o OUT.png make one sticker with the configured image model
  sticker --render IMG -o OUT.png
                             render a local image for the printer
  version                    print the version
  help                       print this help

Run "stikadoo-edge COMMAND -h" for a command's flags. The configuration file is
/etc/stikadoo-edge/stikadoo-edge.toml when it exists; see docs/configuration.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain runs one command and returns the process's exit code.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "stikadoo-edge: %v\n", err)
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintln(stderr, `run "stikadoo-edge help" for usage`)
	}
	return code
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	var cerr *edge.ConfigError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errConfig), errors.As(err, &cerr):
		return exitConfig
	default:
		return exitError
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, helpText)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "config":
		return subcommand(ctx, "config", rest, stdout, stderr, map[string]commandFunc{
			"check": cmdConfigCheck,
			"print": cmdConfigPrint,
		})
	case "sessions":
		return subcommand(ctx, "sessions", rest, stdout, stderr, map[string]commandFunc{
			"list":   cmdSessionsList,
			"show":   cmdSessionsShow,
			"export": cmdSessionsExport,
		})
	case "devices":
		return subcommand(ctx, "devices", rest, stdout, stderr, map[string]commandFunc{
			"list":    cmdDevicesList,
			"approve": cmdDevicesApprove,
			"revoke":  cmdDevicesRevoke,
			"enroll":  cmdDevicesEnroll,
		})
	case "simulate":
		return runSimulate(ctx, rest, stdout, stderr)
	case "discover":
		return cmdDiscover(ctx, rest, stdout, stderr)
	case "sticker":
		return cmdSticker(ctx, rest, stdout, stderr)
	case "model":
		return cmdModel(ctx, rest, stdout, stderr)
	case "transcribe":
		return cmdTranscribe(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "stikadoo-edge %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, helpText)
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
}

// commandFunc runs one subcommand with the arguments after its name.
type commandFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func subcommand(ctx context.Context, group string, args []string, stdout, stderr io.Writer, cmds map[string]commandFunc) error {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 0 {
		return fmt.Errorf("%s: missing command (one of %s): %w", group, strings.Join(names, ", "), errUsage)
	}
	f, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown command %q (one of %s): %w", group, args[0], strings.Join(names, ", "), errUsage)
	}
	return f(ctx, args[1:], stdout, stderr)
}

// buildVersion is the version set at build time, or the module version
// recorded by `go install`.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// newFlags returns a flag set for "stikadoo-edge NAME" whose usage line
// shows synopsis.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stikadoo-edge %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments, and
// returns the positional ones. -h prints the usage to stdout and returns
// flag.ErrHelp; a bad flag prints it to stderr and returns an error
// wrapping errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, err
			}
			fs.SetOutput(stderr)
			fs.Usage()
			return nil, fmt.Errorf("%s: %v: %w", fs.Name(), err, errUsage)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(fs *flag.FlagSet, pos []string, n int, what string) error {
	if len(pos) != n {
		if n == 0 {
			return fmt.Errorf("%s: unexpected argument %q: %w", fs.Name(), pos[0], errUsage)
		}
		return fmt.Errorf("%s: want %s: %w", fs.Name(), what, errUsage)
	}
	return nil
}

// newLogger returns the daemon's logger, writing to w (journald adds the
// time, so text logs leave it out).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	newHandler := func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, opts) }
	if format != "json" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey && os.Getenv("JOURNAL_STREAM") != "" {
				return slog.Attr{}
			}
			return a
		}
		newHandler = func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, opts) }
	}
	// Into the journal, each line carries its priority ("<4>" for a
	// warning), so journalctl -p filters by level.
	if f, ok := w.(*os.File); ok && systemd.IsJournal(f, os.Getenv) {
		return slog.New(systemd.NewJournalHandler(w, newHandler)), nil
	}
	return slog.New(newHandler(w)), nil
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}
