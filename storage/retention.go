package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// PruneStats counts what one Prune deleted.
type PruneStats struct {
	Sessions int `json:"sessions"`
	Turns    int `json:"turns"`
	Images   int `json:"images"`
}

// Batch sizes: how much one write transaction of Prune may delete or
// examine, so a big prune never holds the write lock (and a huge dirty
// page set) for long. Variables only so tests can make them small.
var (
	pruneSessionBatch = 128
	pruneScanBatch    = 1024
)

// Prune deletes sessions that started before now-maxAge (maxAge 0: no age
// limit) and sessions beyond the newest maxSessions (0: no count limit),
// with their turns and the images those turns referenced that no other
// turn references. With an age limit it also deletes images created
// before now-maxAge that no turn references, and turns older than that
// whose session was never stored. Devices are never pruned. Work is done
// in small transactions; a failed Prune leaves a consistent store and
// returns what it deleted so far.
func (s *Store) Prune(now time.Time, maxAge time.Duration, maxSessions int) (PruneStats, error) {
	return s.prune(context.Background(), now, maxAge, maxSessions)
}

func (s *Store) prune(ctx context.Context, now time.Time, maxAge time.Duration, maxSessions int) (PruneStats, error) {
	var st PruneStats
	if maxAge < 0 || maxSessions < 0 {
		return st, fmt.Errorf("prune store %q: negative limit (max age %s, max sessions %d): %w", s.path, maxAge, maxSessions, ErrInvalid)
	}
	if maxAge == 0 && maxSessions == 0 {
		return st, nil
	}
	var cutoff []byte // time key; records strictly before it are old
	if maxAge > 0 {
		cutoff = timeKey(now.Add(-maxAge))
	}
	steps := []func(context.Context, []byte, int, *PruneStats) error{s.pruneSessions}
	if cutoff != nil {
		steps = append(steps, s.pruneOrphanTurns, s.pruneOldImages)
	}
	for _, step := range steps {
		if err := step(ctx, cutoff, maxSessions, &st); err != nil {
			return st, fmt.Errorf("prune store %q: %w", s.path, err)
		}
	}
	return st, nil
}

// pruneSessions deletes old and surplus sessions, oldest first, a batch
// per transaction.
func (s *Store) pruneSessions(ctx context.Context, cutoff []byte, maxSessions int, st *PruneStats) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			var batch PruneStats
			c := tx.Bucket(bucketSessions).Cursor()
			// Sessions whose key sorts before boundary are beyond the
			// newest maxSessions.
			var boundary []byte
			if maxSessions > 0 {
				k, _ := c.Last()
				for i := 1; i < maxSessions && k != nil; i++ {
					k, _ = c.Prev()
				}
				boundary = bytes.Clone(k)
			}
			var doomed [][]byte
			for k, _ := c.First(); k != nil && len(doomed) < pruneSessionBatch; k, _ = c.Next() {
				old := cutoff != nil && bytes.Compare(k[:timeKeyLen], cutoff) < 0
				surplus := boundary != nil && bytes.Compare(k, boundary) < 0
				if !old && !surplus {
					break // keys only get newer from here
				}
				doomed = append(doomed, bytes.Clone(k))
			}
			for _, k := range doomed {
				if err := deleteSession(tx, k, &batch); err != nil {
					return err
				}
			}
			n = len(doomed)
			*st = add(*st, batch)
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		if n < pruneSessionBatch {
			return nil
		}
	}
}

func add(a, b PruneStats) PruneStats {
	return PruneStats{Sessions: a.Sessions + b.Sessions, Turns: a.Turns + b.Turns, Images: a.Images + b.Images}
}

// deleteSession deletes the session at key, its turns and the images only
// they referenced.
func deleteSession(tx *bolt.Tx, key []byte, st *PruneStats) error {
	id := string(key[timeKeyLen:])
	if err := tx.Bucket(bucketSessions).Delete(key); err != nil {
		return err
	}
	ids := tx.Bucket(bucketSessionIDs)
	if bytes.Equal(ids.Get([]byte(id)), key) {
		if err := ids.Delete([]byte(id)); err != nil {
			return err
		}
	}
	st.Sessions++
	return deleteTurns(tx, turnPrefix(id), st)
}

// deleteTurns deletes every turn whose key starts with prefix, their
// image references, and the images no turn references any more.
func deleteTurns(tx *bolt.Tx, prefix []byte, st *PruneStats) error {
	turns, ids, refs := tx.Bucket(bucketTurns), tx.Bucket(bucketTurnIDs), tx.Bucket(bucketImageRefs)
	type doomed struct {
		key  []byte
		turn proto.Turn
	}
	var ds []doomed
	c := turns.Cursor()
	for k, v := c.Seek(prefix); hasPrefixKey(k, prefix); k, v = c.Next() {
		d := doomed{key: bytes.Clone(k)}
		if err := json.Unmarshal(v, &d.turn); err != nil {
			return fmt.Errorf("decode turn: %w", err)
		}
		ds = append(ds, d)
	}
	var images []string
	for _, d := range ds {
		if err := turns.Delete(d.key); err != nil {
			return err
		}
		if bytes.Equal(ids.Get([]byte(d.turn.ID)), d.key) {
			if err := ids.Delete([]byte(d.turn.ID)); err != nil {
				return err
			}
		}
		for _, img := range turnImages(d.turn) {
			if err := refs.Delete(imageRefKey(img, d.turn.ID)); err != nil {
				return err
			}
			images = append(images, img)
		}
		st.Turns++
	}
	for _, img := range images {
		deleted, err := deleteImageIfUnused(tx, img)
		if err != nil {
			return err
		}
		if deleted {
			st.Images++
		}
	}
	return nil
}

// deleteImageIfUnused deletes an image no turn references.
func deleteImageIfUnused(tx *bolt.Tx, id string) (bool, error) {
	prefix := imageRefPrefix(id)
	if k, _ := tx.Bucket(bucketImageRefs).Cursor().Seek(prefix); hasPrefixKey(k, prefix) {
		return false, nil
	}
	images := tx.Bucket(bucketImages)
	v := images.Get([]byte(id))
	if v == nil {
		return false, nil
	}
	r, err := decodeImage(id, v)
	if err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketImageTimes).Delete(imageTimeKey(r.Created, id)); err != nil {
		return false, err
	}
	if err := images.Delete([]byte(id)); err != nil {
		return false, err
	}
	return true, nil
}

// pruneOrphanTurns deletes the turns of sessions that were never stored
// (or are gone) when the session's first turn started before cutoff.
func (s *Store) pruneOrphanTurns(ctx context.Context, cutoff []byte, _ int, st *PruneStats) error {
	var next []byte // where the next batch starts; nil: the beginning
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			var batch PruneStats
			turns, ids := tx.Bucket(bucketTurns), tx.Bucket(bucketSessionIDs)
			c := turns.Cursor()
			var k, v []byte
			if next == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(next)
			}
			var orphans [][]byte // turn prefixes
			for i := 0; k != nil && i < pruneScanBatch; i++ {
				if len(k) < 2 || len(k) < 2+int(binary.BigEndian.Uint16(k)) {
					return fmt.Errorf("malformed turn key %q: %w", k, ErrSchema)
				}
				prefix := bytes.Clone(k[:2+int(binary.BigEndian.Uint16(k))])
				if ids.Get(prefix[2:]) == nil {
					var t proto.Turn
					if err := json.Unmarshal(v, &t); err != nil {
						return fmt.Errorf("decode turn: %w", err)
					}
					if bytes.Compare(timeKey(t.Start), cutoff) < 0 {
						orphans = append(orphans, prefix)
					}
				}
				next = prefixEnd(prefix)
				if next == nil {
					k = nil
					break
				}
				k, v = c.Seek(next)
			}
			done = k == nil
			for _, p := range orphans {
				if err := deleteTurns(tx, p, &batch); err != nil {
					return err
				}
			}
			*st = add(*st, batch)
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete orphan turns: %w", err)
		}
		if done {
			return nil
		}
	}
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil if there is none.
func prefixEnd(p []byte) []byte {
	e := bytes.Clone(p)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

// pruneOldImages deletes images created before cutoff that no turn
// references.
func (s *Store) pruneOldImages(ctx context.Context, cutoff []byte, _ int, st *PruneStats) error {
	var after []byte // last key examined
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketImageTimes).Cursor()
			var k []byte
			if after == nil {
				k, _ = c.First()
			} else if k, _ = c.Seek(after); bytes.Equal(k, after) {
				k, _ = c.Next()
			}
			var ids []string
			for i := 0; ; i++ {
				if k == nil || bytes.Compare(k[:timeKeyLen], cutoff) >= 0 {
					done = true
					break
				}
				if i == pruneScanBatch {
					break
				}
				ids = append(ids, string(k[timeKeyLen:]))
				after = bytes.Clone(k)
				k, _ = c.Next()
			}
			for _, id := range ids {
				deleted, err := deleteImageIfUnused(tx, id)
				if err != nil {
					return err
				}
				if deleted {
					st.Images++
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete old images: %w", err)
		}
		if done {
			return nil
		}
	}
}

// RunRetention prunes the store once at start and then every every, until
// ctx is done, when it returns nil. Maximum age and count are as for
// Prune; with neither set it returns nil at once. A failed prune is logged
// and tried again at the next tick. log may be nil.
func (s *Store) RunRetention(ctx context.Context, every, maxAge time.Duration, maxSessions int, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		return fmt.Errorf("store retention: interval %s is not positive: %w", every, ErrInvalid)
	}
	if maxAge < 0 || maxSessions < 0 {
		return fmt.Errorf("store retention: negative limit (max age %s, max sessions %d): %w", maxAge, maxSessions, ErrInvalid)
	}
	if maxAge == 0 && maxSessions == 0 {
		log.Info("store retention off: no maximum age or session count", "path", s.path)
		return nil
	}
	run := func() {
		start := time.Now()
		st, err := s.prune(ctx, start, maxAge, maxSessions)
		switch {
		case err != nil && ctx.Err() != nil:
			// Shutting down; the next start prunes again.
		case err != nil:
			log.Error("prune store", "path", s.path, "err", err)
		case st != PruneStats{}:
			log.Info("pruned store", "path", s.path, "sessions", st.Sessions, "turns", st.Turns,
				"images", st.Images, "took", time.Since(start))
		}
	}
	run()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			run()
		}
	}
}
