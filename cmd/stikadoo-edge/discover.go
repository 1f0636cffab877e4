package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/discovery"
)

// cmdDiscover browses the LAN for Stikadoo servers, to check what a
// device would find.
func cmdDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("discover", "[--timeout 3s] [--json]")
	wait := fs.Duration("timeout", 3*time.Second, "how long to listen for answers")
	asJSON := fs.Bool("json", false, "print JSON lines instead of text")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	if *wait <= 0 || *wait > 10*time.Minute {
		return fmt.Errorf("discover: --timeout %s is not between 0 and 10m: %w", *wait, errUsage)
	}
	found, err := discovery.Browse(ctx, *wait)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("discover: no server answered within %s (is it running on this network with mDNS on?): %w", *wait, errNoneFound)
	}
	printFound(stdout, found, *asJSON)
	return nil
}

// printFound lists servers, one block (or JSON line) each.
func printFound(w io.Writer, found []discovery.Found, asJSON bool) {
	for _, f := range found {
		if asJSON {
			ips := make([]string, len(f.IPs))
			for i, ip := range f.IPs {
				ips[i] = ip.String()
			}
			b, _ := json.Marshal(map[string]any{
				"instance": f.Instance, "host": f.Host, "port": f.Port, "addrs": ips,
				"ota_urls": f.OTAURLs(), "ws_path": f.TXT["ws"], "id": f.TXT["id"], "version": f.TXT["ver"],
			})
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintf(w, "%s\n", printable(f.Instance))
		fmt.Fprintf(w, "  host:     %s port %d\n", printable(f.Host), f.Port)
		fmt.Fprintf(w, "  id:       %s\n", orDash(f.TXT["id"]))
		fmt.Fprintf(w, "  version:  %s\n", orDash(f.TXT["ver"]))
		fmt.Fprintf(w, "  ota url:  %s\n", printable(strings.Join(f.OTAURLs(), " ")))
		fmt.Fprintf(w, "  ws path:  %s\n", orDash(f.TXT["ws"]))
	}
}

// orDash returns s fit for a terminal (names and records come from
// anyone on the LAN: control characters are replaced), or "-" for none.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, s)
}
