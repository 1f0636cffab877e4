package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Bucket names.
var (
	bucketMeta       = []byte("meta")
	bucketDevices    = []byte("devices")
	bucketSessions   = []byte("sessions")
	bucketSessionIDs = []byte("session_ids")
	bucketTurns      = []byte("turns")
	bucketTurnIDs    = []byte("turn_ids")
	bucketImages     = []byte("images")
	bucketImageTimes = []byte("image_times")
	bucketImageRefs  = []byte("image_refs")

	allBuckets = [][]byte{
		bucketMeta, bucketDevices, bucketSessions, bucketSessionIDs,
		bucketTurns, bucketTurnIDs, bucketImages, bucketImageTimes, bucketImageRefs,
	}

	keySchema = []byte("schema")
)

// schemaVersion is the layout this build writes and reads.
const schemaVersion = 1

// MaxIDLen is the longest ID (device, session, turn or image) the store
// accepts, in bytes.
const MaxIDLen = 1024

// MaxImageBytes is the largest image the store accepts.
const MaxImageBytes = 8 << 20

// timeKeyLen is the length of an encoded time.
const timeKeyLen = 8

var (
	minKeyTime = time.Unix(0, math.MinInt64)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// timeKey encodes t as 8 bytes that sort like the times they encode. The
// zero time sorts first; times outside what int64 nanoseconds hold (before
// 1678, after 2262) are clamped.
func timeKey(t time.Time) []byte {
	b := make([]byte, timeKeyLen)
	putTimeKey(b, t)
	return b
}

func putTimeKey(b []byte, t time.Time) {
	var n int64
	switch {
	case t.IsZero():
		binary.BigEndian.PutUint64(b, 0)
		return
	case t.Before(minKeyTime):
		n = math.MinInt64
	case t.After(maxKeyTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	u := uint64(n) ^ (1 << 63)
	if u == 0 {
		u = 1 // keep 0 for the zero time
	}
	binary.BigEndian.PutUint64(b, u)
}

// orderedInt encodes n as 8 bytes that sort like the integers they encode.
func putOrderedInt(b []byte, n int64) {
	binary.BigEndian.PutUint64(b, uint64(n)^(1<<63))
}

// sessionKey is start + id.
func sessionKey(start time.Time, id string) []byte {
	k := make([]byte, timeKeyLen+len(id))
	putTimeKey(k, start)
	copy(k[timeKeyLen:], id)
	return k
}

// lenPrefix is len16(id) + id: a prefix no other id's prefix can extend.
func lenPrefix(id string, extra int) []byte {
	k := make([]byte, 2+len(id), 2+len(id)+extra)
	binary.BigEndian.PutUint16(k, uint16(len(id)))
	copy(k[2:], id)
	return k
}

// turnPrefix is the prefix every turn key of a session starts with.
func turnPrefix(sessionID string) []byte { return lenPrefix(sessionID, 0) }

// turnKey is turnPrefix(session) + seq + turn id.
func turnKey(sessionID string, seq int, turnID string) []byte {
	k := lenPrefix(sessionID, 8+len(turnID))
	var s [8]byte
	putOrderedInt(s[:], int64(seq))
	k = append(k, s[:]...)
	return append(k, turnID...)
}

// imageRefPrefix is the prefix of every reference to an image.
func imageRefPrefix(imageID string) []byte { return lenPrefix(imageID, 0) }

// imageRefKey records that a turn references an image.
func imageRefKey(imageID, turnID string) []byte {
	return append(lenPrefix(imageID, len(turnID)), turnID...)
}

// imageTimeKey is created + image id.
func imageTimeKey(created time.Time, id string) []byte {
	k := make([]byte, timeKeyLen+len(id))
	putTimeKey(k, created)
	copy(k[timeKeyLen:], id)
	return k
}

// Image values are: version byte, length of the created time's binary
// form (1 byte), that form, content type length (2 bytes), content type,
// data.
const imageValueVersion = 1

func encodeImage(img imageRecord) ([]byte, error) {
	tb, err := img.Created.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode image %q created time: %w", img.ID, err)
	}
	if len(tb) > 255 || len(img.ContentType) > math.MaxUint16 {
		return nil, fmt.Errorf("encode image %q: %w", img.ID, ErrInvalid)
	}
	v := make([]byte, 0, 1+1+len(tb)+2+len(img.ContentType)+len(img.Data))
	v = append(v, imageValueVersion, byte(len(tb)))
	v = append(v, tb...)
	v = binary.BigEndian.AppendUint16(v, uint16(len(img.ContentType)))
	v = append(v, img.ContentType...)
	v = append(v, img.Data...)
	return v, nil
}

// imageRecord is an image as stored. Data aliases the value it was decoded
// from when decoded with decodeImage; copy it before the transaction ends.
type imageRecord struct {
	ID          string
	ContentType string
	Created     time.Time
	Data        []byte
}

func decodeImage(id string, v []byte) (imageRecord, error) {
	bad := fmt.Errorf("decode image %q: %w", id, ErrSchema)
	if len(v) < 2 || v[0] != imageValueVersion {
		return imageRecord{}, bad
	}
	n := int(v[1])
	v = v[2:]
	if len(v) < n+2 {
		return imageRecord{}, bad
	}
	var created time.Time
	if err := created.UnmarshalBinary(v[:n]); err != nil {
		return imageRecord{}, fmt.Errorf("decode image %q created time: %w", id, err)
	}
	v = v[n:]
	m := int(binary.BigEndian.Uint16(v))
	v = v[2:]
	if len(v) < m {
		return imageRecord{}, bad
	}
	return imageRecord{ID: id, ContentType: string(v[:m]), Created: created, Data: v[m:]}, nil
}

// hasPrefixKey reports whether k starts with p (nil k: false).
func hasPrefixKey(k, p []byte) bool { return k != nil && bytes.HasPrefix(k, p) }

func checkID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%s has no id: %w", kind, ErrInvalid)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%s id is %d bytes, more than %d: %w", kind, len(id), MaxIDLen, ErrInvalid)
	}
	return nil
}
