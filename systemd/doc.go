// Package systemd is how stikadoo-edge talks to the service manager: the
// sd_notify protocol (READY=1, STATUS=, WATCHDOG=1, STOPPING=1 on the
// datagram socket named by NOTIFY_SOCKET), the watchdog interval systemd
// asks for (WATCHDOG_USEC, WATCHDOG_PID), and log lines for the journal
// with sd-daemon priority prefixes ("<3>" error .. "<7>" debug) when
// stderr is connected to it (JOURNAL_STREAM).
//
// The folder also holds the unit file (stikadoo-edge.service), the Debian
// packaging (nfpm.yaml and the maintainer scripts in deb/) and the tests
// that check them: systemd-analyze verify on the unit, and the built
// packages inspected with dpkg-deb and installed into a throwaway root.
//
// It is the protocol in a few lines of the standard library rather than a
// dependency. Package systemd imports nothing of this module; only
// cmd/stikadoo-edge uses it.
package systemd
