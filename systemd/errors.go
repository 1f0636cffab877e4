package systemd

import "errors"

// ErrNoSocket: NOTIFY_SOCKET names no usable socket (empty, or not an
// absolute path or an abstract "@" name).
var ErrNoSocket = errors.New("no notification socket")
