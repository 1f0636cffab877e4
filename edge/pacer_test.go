package edge_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// TestCloudAudioPaced: the cloud sends 3 s of speech at once. The device
// (which keeps at most about 40 packets) gets it at about real time, a
// few packets ahead, every packet of it, and tts stop only once it could
// have been played. The bounds hold on a slow machine: lateness only
// lowers the lead and lengthens the playing time measured.
func TestCloudAudioPaced(t *testing.T) {
	const burst = 3 * time.Second
	const frame = 60 * time.Millisecond
	gw, cl := startCloud(t, nil, cloud.Config{})
	gw.SetFaults(cloudtest.Faults{TTSBurst: burst})
	ts := startServer(t, edge.Config{}, edge.Deps{Images: &edgetest.ImageGenerator{}, Cloud: cloudAdapter{cl}}) // stt relayed
	var mu sync.Mutex
	var audioAt []time.Time
	var stopAt time.Time
	dev := connect(t, ts, &edgetest.Device{Dialect: proto.DialectOpusV1, Frames: func(mt int, data []byte) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if mt == websocket.BinaryMessage {
			audioAt = append(audioAt, now)
		} else if len(audioAt) > 0 && string(data) == `{"type":"tts","state":"stop"}` {
			stopAt = now
		}
	}})
	if res, err := dev.RunTurn(relayCtx(t), edgetest.Speech(time.Second)); err != nil || !res.ImageDelivered {
		t.Fatalf("turn: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	want := int(burst/frame) + 2 // the burst, and the script's two packets
	if len(audioAt) != want {
		t.Fatalf("device got %d audio packets, want %d", len(audioAt), want)
	}
	// Never far ahead of real time: the lead (4 packets) and one more,
	// with 5 packets of slack for a late first packet.
	first := audioAt[0]
	for i, at := range audioAt {
		if ahead := i - int(at.Sub(first)/frame); ahead > 10 {
			t.Fatalf("packet %d arrived %s after the first: %d packets ahead of playback", i, at.Sub(first), ahead)
		}
	}
	played := time.Duration(want-5) * frame
	if stopAt.IsZero() || stopAt.Sub(first) < played {
		t.Errorf("tts stop %s after the first packet, want at least %s (the audio must have played)", stopAt.Sub(first), played)
	}
	if h := ts.Health(); h.Sessions != 1 {
		t.Errorf("%d sessions open, want the device's still open", h.Sessions)
	}
}
