package edge

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// imageFile is the only shape of name served: 32 hex digits (128 random
// bits) and an extension. Nothing else can name a stored image.
var imageFile = regexp.MustCompile(`^([0-9a-f]{32})\.(png|jpg|webp|bin)$`)

// handleImage serves a stored sticker with Content-Length: the device
// reads a chunked response as empty.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	m := imageFile.FindStringSubmatch(r.PathValue("file"))
	if m == nil {
		http.NotFound(w, r)
		return
	}
	img, err := s.deps.Store.Image(m[1])
	if errors.Is(err, proto.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Error("read sticker", "id", m[1], "err", err)
		http.Error(w, "could not read the sticker", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(img.Data)))
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	h.Set("ETag", `"`+img.ID+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == `"`+img.ID+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(img.Data)
	}
}
