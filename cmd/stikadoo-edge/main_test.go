package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/storage"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"runtime", errors.New("disk full"), exitError},
		{"usage", fmt.Errorf("serve: bad flag: %w", errUsage), exitUsage},
		{"config sentinel", fmt.Errorf("config x: line 3: %w", errConfig), exitConfig},
		{"config error", &edge.ConfigError{Field: "gateway.protocol_version", Msg: "4 is not 1, 2 or 3"}, exitConfig},
		{"wrapped config error", fmt.Errorf("config x: %w", &edge.ConfigError{Field: "a", Msg: "b"}), exitConfig},
		{"store locked", fmt.Errorf("open store: %w", storage.ErrLocked), exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	clearSecretEnv(t)
	bad := writeConfig(t, "[gateway]\nprotocol_version = 4\n")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"bare prints help", nil, exitOK, "usage: stikadoo-edge COMMAND", ""},
		{"help", []string{"help"}, exitOK, "sessions list", ""},
		{"version", []string{"version"}, exitOK, "stikadoo-edge ", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"missing subcommand", []string{"devices"}, exitUsage, "", "missing command (one of approve, enroll, list, revoke)"},
		{"unknown subcommand", []string{"config", "edit"}, exitUsage, "", `unknown command "edit"`},
		{"bad flag", []string{"serve", "--nope"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"flag help", []string{"serve", "-h"}, exitOK, "usage: stikadoo-edge serve", ""},
		{"serve stray argument", []string{"serve", "now"}, exitUsage, "", `unexpected argument "now"`},
		{"serve bad config", []string{"serve", "--config", bad}, exitConfig, "", "gateway.protocol_version"},
		{"serve bad listen flag", []string{"serve", "--listen", "nowhere", "--state-dir", t.TempDir()}, exitConfig, "", "server.listen"},
		{"serve bad level flag", []string{"serve", "--log-level", "chatty", "--state-dir", t.TempDir()}, exitConfig, "", "server.log_level"},
		{"show without id", []string{"sessions", "show", "--state-dir", t.TempDir()}, exitUsage, "", "want one session ID"},
		{"bad since", []string{"sessions", "export", "--since", "soon"}, exitUsage, "", "--since"},
		{"bad limit", []string{"sessions", "list", "--limit", "0"}, exitUsage, "", "--limit 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out, errOut, tc.out, tc.err)
			}
		})
	}
}

func TestParseFlagsInterspersed(t *testing.T) {
	fs := newFlags("x", "")
	j := fs.Bool("json", false, "")
	n := fs.Int("n", 0, "")
	pos, err := parseFlags(fs, []string{"a", "--json", "b", "-n", "3"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "a b" || !*j || *n != 3 {
		t.Errorf("positional %q, json %v, n %d", pos, *j, *n)
	}
}
