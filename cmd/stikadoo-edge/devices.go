package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// cmdDevicesList prints every device seen, most recently seen first.
func cmdDevicesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("devices list", "[--json] [--config FILE] [--state-dir DIR] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	r, err := openRecords(rf, false)
	if err != nil {
		return err
	}
	defer r.Close()
	list, err := r.Devices(ctx)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	if *asJSON {
		if list == nil {
			list = []proto.Device{}
		}
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSERIAL\tBOARD\tFIRMWARE\tIP\tLAST SEEN\tSTATE")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, dash(d.SerialNumber), dash(d.Board),
			dash(d.FirmwareVersion), dash(d.IP), formatTime(d.LastSeen), deviceState(d))
	}
	return tw.Flush()
}

// deviceState says in a few words where a device stands.
func deviceState(d proto.Device) string {
	a := d.Activation
	switch {
	case d.Blocked:
		return "blocked"
	case a.Activated():
		return "activated"
	case a.Verified && !a.Approved:
		return "waiting for approval"
	case a.Code != "" || a.Challenge != "":
		return "activating"
	}
	return "-"
}

// cmdDevicesApprove lets a device in: one that waits for approval
// activates, a revoked one may get tokens again.
func cmdDevicesApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return changeDevice(ctx, "devices approve", args, stdout, stderr, records.Approve, "approved")
}

// cmdDevicesRevoke refuses every token a device holds and blocks it until
// approved again.
func cmdDevicesRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return changeDevice(ctx, "devices revoke", args, stdout, stderr, records.Revoke, "revoked")
}

func changeDevice(ctx context.Context, name string, args []string, stdout, stderr io.Writer,
	change func(records, context.Context, string) (proto.Device, error), done string) error {
	fs := newFlags(name, "ID [--config FILE] [--state-dir DIR] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "one device ID (see stikadoo-edge devices list)"); err != nil {
		return err
	}
	r, err := openRecords(rf, true)
	if err != nil {
		return err
	}
	defer r.Close()
	d, err := change(r, ctx, pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(stdout, "%s %s (now %s)\n", done, d.ID, deviceState(d))
	return nil
}

// cmdDevicesEnroll opens an enrollment window on the running server, as a
// long press of its button does.
func cmdDevicesEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("devices enroll", "[--config FILE] [--server URL]")
	var rf recordFlags
	rf.register(fs)
	pos, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	base := rf.server
	if base == "" {
		cfg, err := loadConfig(configPath(rf.config), flagOverrides{StateDir: rf.stateDir}, os.Getenv)
		if err != nil {
			return err
		}
		base = adminURL(cfg.Listen)
	}
	c, err := newAdminClient(base, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	var ans struct {
		Until time.Time `json:"until"`
	}
	if err := c.getJSON(ctx, http.MethodPost, "/api/v1/enrollment", &ans); err != nil {
		return fmt.Errorf("devices enroll: %w", err)
	}
	fmt.Fprintf(stdout, "new devices get a token at their next start until %s\n", ans.Until.Local().Format(time.TimeOnly))
	return nil
}
