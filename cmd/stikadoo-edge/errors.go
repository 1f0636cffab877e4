package main

import "errors"

var (
	// errConfig marks a configuration error that is not an
	// *edge.ConfigError: an unreadable or malformed file, an unreadable
	// credential file. Like *edge.ConfigError it exits with exitConfig
	// (78), which the systemd unit does not restart.
	errConfig = errors.New("configuration error")
	// errNoRecord: the state directory holds no store yet (the daemon has
	// never run with it).
	errNoRecord = errors.New("no record yet")
	// errAdmin: the running daemon's admin API answered with an error.
	errAdmin = errors.New("admin API refused the request")
	// errNoneFound: discover heard no server.
	errNoneFound = errors.New("no Stikadoo server found")
)
