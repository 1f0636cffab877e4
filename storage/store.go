package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the store file when Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// Options tune Open. The zero value opens the file for reading and writing
// with DefaultLockTimeout.
type Options struct {
	// LockTimeout is how long to wait for the file lock (zero:
	// DefaultLockTimeout). A writer holds the lock exclusively for as long
	// as the store is open.
	LockTimeout time.Duration
	// ReadOnly opens an existing store for reading only, sharing the lock
	// with other readers (for command-line tools). It cannot be opened
	// while a writer (the running daemon) holds the file.
	ReadOnly bool
}

// Store is a bbolt-backed record of devices, sessions, turns and images.
// It is safe for concurrent use; every write is committed with fsync
// before the call returns.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens (creating it and its folder if needed) the store file at
// path. If another process holds the file for longer than the lock timeout
// it returns an error wrapping ErrLocked; a file written by a newer schema
// yields an error wrapping ErrSchema.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open store %q: create folder: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  timeout,
		ReadOnly: opts.ReadOnly,
		// NoSync, NoGrowSync and NoFreelistSync stay false: a commit is on
		// disk when it returns.
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %q: another stikadoo-edge process is using the file (its lock was not released within %s): %w", path, timeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if opts.ReadOnly {
		err = db.View(checkSchema)
	} else {
		err = db.Update(initSchema)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	return s, nil
}

// initSchema creates the buckets of a new file and checks the schema of an
// existing one.
func initSchema(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) == nil {
		var other []string
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			other = append(other, string(name))
			return nil
		}); err != nil {
			return err
		}
		if len(other) > 0 {
			return fmt.Errorf("file holds buckets %q but no schema: not a stikadoo-edge store: %w", other, ErrSchema)
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", bucketMeta, err)
		}
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion)); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	}
	if err := checkSchema(tx); err != nil && !errors.Is(err, errMissingBucket) {
		return err
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %q: %w", name, err)
		}
	}
	return nil
}

var errMissingBucket = fmt.Errorf("bucket missing: %w", ErrSchema)

// checkSchema refuses a file of a newer schema or one missing buckets.
func checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("no schema version: not a stikadoo-edge store, or never opened for writing: %w", ErrSchema)
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return fmt.Errorf("schema version is unreadable: %w", ErrSchema)
	}
	if n := binary.BigEndian.Uint64(v); n > schemaVersion {
		return fmt.Errorf("file has schema %d, written by a newer stikadoo-edge; this build reads up to schema %d: %w", n, schemaVersion, ErrSchema)
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: %q", errMissingBucket, name)
		}
	}
	return nil
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %q: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Check reports whether the store takes writes: it commits an empty write
// transaction, which bbolt writes (free list and meta page) and syncs like
// any other. A full or failing disk, a file opened read-only or a closed
// store is an error. It waits for a write in progress, so the service's
// watchdog notices a store that hangs.
func (s *Store) Check() error {
	if err := s.db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("check store %q: %w", s.path, err)
	}
	return nil
}

// UpdateDevice reads the device id (a zero Device with only ID set if it
// is new), lets fn change it and writes it back, all in one transaction.
// If fn returns an error nothing is written and that error is returned as
// is. fn must not call the store. The ID of the written device is always
// id, whatever fn did to it.
func (s *Store) UpdateDevice(id string, fn func(*proto.Device) error) (proto.Device, error) {
	if err := checkID("device", id); err != nil {
		return proto.Device{}, fmt.Errorf("update device: %w", err)
	}
	var out proto.Device
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		d := proto.Device{ID: id}
		if v := b.Get([]byte(id)); v != nil {
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		if err := fn(&d); err != nil {
			fnErr = err
			return err
		}
		d.ID = id
		v, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := b.Put([]byte(id), v); err != nil {
			return err
		}
		out = d
		return nil
	})
	if fnErr != nil {
		return proto.Device{}, fnErr
	}
	if err != nil {
		return proto.Device{}, fmt.Errorf("update device %q: %w", id, err)
	}
	return out, nil
}

// Device returns a device or an error wrapping proto.ErrNotFound.
func (s *Store) Device(id string) (proto.Device, error) {
	var d proto.Device
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDevices).Get([]byte(id))
		if v == nil {
			return proto.ErrNotFound
		}
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		return proto.Device{}, fmt.Errorf("read device %q: %w", id, err)
	}
	return d, nil
}

// Devices lists every device (never nil), most recently seen first (ties
// by ID).
func (s *Store) Devices() ([]proto.Device, error) {
	ds := []proto.Device{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			var d proto.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode device %q: %w", k, err)
			}
			ds = append(ds, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	slices.SortFunc(ds, func(a, b proto.Device) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ds, nil
}

// PutSession writes a session, replacing any session with the same ID.
func (s *Store) PutSession(sess proto.Session) error {
	if err := checkID("session", sess.ID); err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	v, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("put session %q: encode: %w", sess.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		sessions, ids := tx.Bucket(bucketSessions), tx.Bucket(bucketSessionIDs)
		key := sessionKey(sess.Start, sess.ID)
		if old := ids.Get([]byte(sess.ID)); old != nil && !bytes.Equal(old, key) {
			if err := sessions.Delete(old); err != nil {
				return err
			}
		}
		if err := sessions.Put(key, v); err != nil {
			return err
		}
		return ids.Put([]byte(sess.ID), key)
	})
	if err != nil {
		return fmt.Errorf("put session %q: %w", sess.ID, err)
	}
	return nil
}

// PutTurn writes a turn, replacing any turn with the same ID. The turn's
// session need not be stored yet.
func (s *Store) PutTurn(t proto.Turn) error {
	if err := checkID("turn", t.ID); err != nil {
		return fmt.Errorf("put turn: %w", err)
	}
	if err := checkID("turn's session", t.SessionID); err != nil {
		return fmt.Errorf("put turn %q: %w", t.ID, err)
	}
	for _, img := range turnImages(t) {
		if err := checkID("turn's image", img); err != nil {
			return fmt.Errorf("put turn %q: %w", t.ID, err)
		}
	}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("put turn %q: encode: %w", t.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		turns, ids, refs := tx.Bucket(bucketTurns), tx.Bucket(bucketTurnIDs), tx.Bucket(bucketImageRefs)
		key := turnKey(t.SessionID, t.Seq, t.ID)
		if oldKey := ids.Get([]byte(t.ID)); oldKey != nil {
			if oldV := turns.Get(oldKey); oldV != nil {
				var old proto.Turn
				if err := json.Unmarshal(oldV, &old); err != nil {
					return fmt.Errorf("decode stored turn: %w", err)
				}
				for _, img := range turnImages(old) {
					if err := refs.Delete(imageRefKey(img, t.ID)); err != nil {
						return err
					}
				}
			}
			if !bytes.Equal(oldKey, key) {
				if err := turns.Delete(oldKey); err != nil {
					return err
				}
			}
		}
		if err := turns.Put(key, v); err != nil {
			return err
		}
		if err := ids.Put([]byte(t.ID), key); err != nil {
			return err
		}
		for _, img := range turnImages(t) {
			if err := refs.Put(imageRefKey(img, t.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put turn %q: %w", t.ID, err)
	}
	return nil
}

// turnImages lists the images a turn references.
func turnImages(t proto.Turn) []string {
	var ids []string
	if t.ImageID != "" {
		ids = append(ids, t.ImageID)
	}
	if t.OriginalID != "" && t.OriginalID != t.ImageID {
		ids = append(ids, t.OriginalID)
	}
	return ids
}

// PutImage writes an image, replacing any image with the same ID. An
// image with a zero Created time is stamped with the current time, which
// retention goes by. Images over MaxImageBytes are refused with an error
// wrapping ErrTooLarge.
func (s *Store) PutImage(img proto.Image) error {
	if err := checkID("image", img.ID); err != nil {
		return fmt.Errorf("put image: %w", err)
	}
	if len(img.Data) == 0 {
		return fmt.Errorf("put image %q: no data: %w", img.ID, ErrInvalid)
	}
	if len(img.Data) > MaxImageBytes {
		return fmt.Errorf("put image %q: %d bytes, more than %d: %w", img.ID, len(img.Data), MaxImageBytes, ErrTooLarge)
	}
	if img.Created.IsZero() {
		img.Created = time.Now()
	}
	v, err := encodeImage(imageRecord{ID: img.ID, ContentType: img.ContentType, Created: img.Created.Round(0), Data: img.Data})
	if err != nil {
		return fmt.Errorf("put image: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		images, times := tx.Bucket(bucketImages), tx.Bucket(bucketImageTimes)
		tk := imageTimeKey(img.Created, img.ID)
		if oldV := images.Get([]byte(img.ID)); oldV != nil {
			old, err := decodeImage(img.ID, oldV)
			if err != nil {
				return err
			}
			if old := imageTimeKey(old.Created, img.ID); !bytes.Equal(old, tk) {
				if err := times.Delete(old); err != nil {
					return err
				}
			}
		}
		if err := images.Put([]byte(img.ID), v); err != nil {
			return err
		}
		return times.Put(tk, nil)
	})
	if err != nil {
		return fmt.Errorf("put image %q: %w", img.ID, err)
	}
	return nil
}

// Image returns a stored image or an error wrapping proto.ErrNotFound.
func (s *Store) Image(id string) (proto.Image, error) {
	var img proto.Image
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketImages).Get([]byte(id))
		if v == nil {
			return proto.ErrNotFound
		}
		r, err := decodeImage(id, v)
		if err != nil {
			return err
		}
		img = proto.Image{ID: id, ContentType: r.ContentType, Created: r.Created, Data: bytes.Clone(r.Data)}
		return nil
	})
	if err != nil {
		return proto.Image{}, fmt.Errorf("read image %q: %w", id, err)
	}
	return img, nil
}

// Sessions lists up to limit sessions (limit <= 0: all) that started
// strictly before before (zero: now), newest first; the list is never nil.
// To page, pass the Start of the last session of the previous page
// (sessions sharing that exact start time are skipped).
func (s *Store) Sessions(limit int, before time.Time) ([]proto.Session, error) {
	if before.IsZero() {
		before = time.Now()
	}
	out := []proto.Session{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		k, _ := c.Seek(timeKey(before))
		var v []byte
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var sess proto.Session
			if err := json.Unmarshal(v, &sess); err != nil {
				return fmt.Errorf("decode session %q: %w", k[timeKeyLen:], err)
			}
			out = append(out, sess)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// Session returns one session and its turns in Seq order, or an error
// wrapping proto.ErrNotFound.
func (s *Store) Session(id string) (proto.Session, []proto.Turn, error) {
	var sess proto.Session
	var turns []proto.Turn
	err := s.db.View(func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketSessionIDs).Get([]byte(id))
		if key == nil {
			return proto.ErrNotFound
		}
		v := tx.Bucket(bucketSessions).Get(key)
		if v == nil {
			return fmt.Errorf("index names a missing record: %w", proto.ErrNotFound)
		}
		if err := json.Unmarshal(v, &sess); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		var err error
		turns, err = sessionTurns(tx, id)
		return err
	})
	if err != nil {
		return proto.Session{}, nil, fmt.Errorf("read session %q: %w", id, err)
	}
	return sess, turns, nil
}

// sessionTurns returns a session's turns in Seq order (never nil).
func sessionTurns(tx *bolt.Tx, sessionID string) ([]proto.Turn, error) {
	turns := []proto.Turn{}
	prefix := turnPrefix(sessionID)
	c := tx.Bucket(bucketTurns).Cursor()
	for k, v := c.Seek(prefix); hasPrefixKey(k, prefix); k, v = c.Next() {
		var t proto.Turn
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("decode turn of session %q: %w", sessionID, err)
		}
		turns = append(turns, t)
	}
	return turns, nil
}

// ExportLine is one line of Export.
type ExportLine struct {
	Session proto.Session `json:"session"`
	Turns   []proto.Turn  `json:"turns"`
}

// exportBatch is how many sessions Export reads per transaction, so a slow
// writer does not hold a read transaction open for the whole export.
// A variable only so tests can make it small.
var exportBatch = 64

// Export writes every session that started at or after since as JSON
// lines, one {"session":{...},"turns":[...]} object per line, oldest
// first.
func (s *Store) Export(w io.Writer, since time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var after []byte // last key written; nil before the first batch
	for {
		var lines []ExportLine
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketSessions).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.Seek(timeKey(since))
			} else {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(lines) < exportBatch; k, v = c.Next() {
				var l ExportLine
				if err := json.Unmarshal(v, &l.Session); err != nil {
					return fmt.Errorf("decode session %q: %w", k[timeKeyLen:], err)
				}
				var err error
				if l.Turns, err = sessionTurns(tx, l.Session.ID); err != nil {
					return err
				}
				lines = append(lines, l)
				after = bytes.Clone(k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("export sessions: %w", err)
		}
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return fmt.Errorf("export sessions: write: %w", err)
			}
		}
		if len(lines) < exportBatch {
			return nil
		}
	}
}

// Stats are the store's record counts and file size.
type Stats struct {
	Devices   int   `json:"devices"`
	Sessions  int   `json:"sessions"`
	Turns     int   `json:"turns"`
	Images    int   `json:"images"`
	FileBytes int64 `json:"file_bytes"`
}

// Stats counts the records and measures the file.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.db.View(func(tx *bolt.Tx) error {
		st.Devices = tx.Bucket(bucketDevices).Stats().KeyN
		st.Sessions = tx.Bucket(bucketSessions).Stats().KeyN
		st.Turns = tx.Bucket(bucketTurns).Stats().KeyN
		st.Images = tx.Bucket(bucketImages).Stats().KeyN
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store stats: %w", err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return Stats{}, fmt.Errorf("store stats: %w", err)
	}
	st.FileBytes = fi.Size()
	return st, nil
}
