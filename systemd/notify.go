package systemd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Environment variables systemd sets for a service.
const (
	EnvNotifySocket  = "NOTIFY_SOCKET"  // datagram socket for sd_notify messages
	EnvWatchdogUSec  = "WATCHDOG_USEC"  // watchdog timeout in microseconds
	EnvWatchdogPID   = "WATCHDOG_PID"   // the process the watchdog is meant for
	EnvJournalStream = "JOURNAL_STREAM" // "DEV:INODE" of the journal stream on stdout/stderr
)

// Notification states (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Status returns the STATUS= line that systemctl status shows.
func Status(s string) string {
	// One line: a newline would start another assignment.
	return "STATUS=" + strings.Join(strings.Fields(s), " ")
}

// writeTimeout bounds one send: the socket is local, and a service manager
// that does not read must not stall the daemon.
const writeTimeout = 2 * time.Second

// Notifier sends sd_notify messages. The zero value and a nil *Notifier
// send nothing, so callers need not ask whether systemd is there.
// It is safe for concurrent use.
type Notifier struct {
	addr *net.UnixAddr
}

// NotifierFromEnv returns a notifier for the socket getenv(NOTIFY_SOCKET)
// names, or nil when it is unset (not run by systemd, or Type= is not
// notify). A value that is not a socket name is an error wrapping
// ErrNoSocket.
func NotifierFromEnv(getenv func(string) string) (*Notifier, error) {
	name := getenv(EnvNotifySocket)
	if name == "" {
		return nil, nil
	}
	return NewNotifier(name)
}

// NewNotifier returns a notifier for the datagram socket at path, or at
// the abstract address "@name".
func NewNotifier(path string) (*Notifier, error) {
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("notify socket %q: not an absolute path or an abstract name: %w", path, ErrNoSocket)
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}, nil
}

// Notify sends one message of newline-separated assignments, such as
// Ready+"\n"+Status("serving"). A nil notifier does nothing.
func (n *Notifier) Notify(msg string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// WatchdogInterval returns how often to send WATCHDOG=1: half the timeout
// systemd set in WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. It is
// zero when there is no watchdog, or when WATCHDOG_PID names another
// process. A malformed value is an error.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	s := getenv(EnvWatchdogUSec)
	if s == "" {
		return 0, nil
	}
	if p := getenv(EnvWatchdogPID); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("watchdog: %s=%q is not a process ID", EnvWatchdogPID, p)
		}
		if n != pid {
			return 0, nil
		}
	}
	us, err := strconv.ParseUint(s, 10, 63)
	if err != nil || us == 0 {
		return 0, fmt.Errorf("watchdog: %s=%q is not a positive number of microseconds", EnvWatchdogUSec, s)
	}
	return time.Duration(us) * time.Microsecond / 2, nil
}
