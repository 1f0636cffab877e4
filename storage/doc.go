// Package storage is the record of Stikadoo Edge: devices, sessions, turns
// and the images served to devices, kept in one bbolt file. It implements
// the gateway's Store interface, enforces retention (Prune, RunRetention)
// and reports counts for the health report (Stats).
//
// The file is opened with a lock timeout so that a second stikadoo-edge on
// the same file fails at once with ErrLocked instead of hanging, and with
// fsync on every commit, so a record is durable when a call returns even if
// the Pi loses power.
//
// Layout (schema 1), one bucket each:
//
//	meta           "schema" -> uint64 big-endian
//	devices        device id -> JSON proto.Device
//	sessions       start (8 bytes, ordered) + session id -> JSON proto.Session
//	session_ids    session id -> its key in sessions
//	turns          len16(session id) + session id + seq (8 bytes, ordered) + turn id -> JSON proto.Turn
//	turn_ids       turn id -> its key in turns
//	images         image id -> created, content type and data
//	image_times    created (8 bytes, ordered) + image id -> empty
//	image_refs     len16(image id) + image id + turn id -> empty
//
// so sessions list newest first with one cursor walk, a session's turns are
// one prefix scan in Seq order, and retention finds old images and the
// turns that still use them without reading every record.
//
// Package storage imports bbolt and, of this module, only edge/proto. It
// must not import the gateway (edge): cmd/stikadoo-edge wires the two.
package storage
