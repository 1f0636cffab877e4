package edgetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func TestNewPercentiles(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 down to 1: sorting is the function's job
	}
	cases := []struct {
		name               string
		in                 []time.Duration
		p50, p90, p99, max time.Duration
	}{
		{"none", nil, 0, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"hundred", ms(hundred...), 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
		{"ten, one slow", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 40), time.Millisecond, time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := append([]time.Duration(nil), c.in...)
			p := NewPercentiles(in)
			if p.N != len(c.in) || p.P50 != c.p50 || p.P90 != c.p90 || p.P99 != c.p99 || p.Max != c.max {
				t.Errorf("NewPercentiles = %+v, want n %d p50 %v p90 %v p99 %v max %v", p, len(c.in), c.p50, c.p90, c.p99, c.max)
			}
			for i := range in {
				if in[i] != c.in[i] {
					t.Fatalf("the input was reordered")
				}
			}
		})
	}
	if got := NewPercentiles(ms(1, 2, 3)).String(); got != "2.0 / 3.0 / 3.0 / 3.0 ms" {
		t.Errorf("String = %q", got)
	}
}

func TestParseVmRSS(t *testing.T) {
	cases := []struct {
		name, in string
		want     uint64
		ok       bool
	}{
		{"status file", "Name:\tedge.test\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n", 12345 << 10, true},
		{"no line", "Name:\tkthreadd\nThreads:\t1\n", 0, false},
		{"odd unit", "VmRSS:\t12 MB\n", 0, false},
		{"not a number", "VmRSS:\tlots kB\n", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseVmRSS(strings.NewReader(c.in))
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, ok %v", got, err, c.want, c.ok)
			}
		})
	}
	if _, err := os.Stat("/proc/self/status"); err == nil {
		if rss, err := processRSS(os.Getpid()); err != nil || rss < 1<<20 {
			t.Errorf("processRSS(self) = %d, %v", rss, err)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name, in string
		want     float64
		ok       bool
	}{
		{"plain", "4242 (edge.test) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 130 0 0 20 0 9 0 100 0", 3.8, true},
		{"spaces and parentheses in the name", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 5 0", 1, true},
		{"truncated", "7 (x) R 1 7", 0, false},
		{"no name", "7 x R", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStatCPU(c.in)
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, ok %v", got, err, c.want, c.ok)
			}
		})
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if _, err := processCPU("/proc/self/stat"); err != nil {
			t.Errorf("processCPU(self): %v", err)
		}
	}
}

func TestEncodeUtterance(t *testing.T) {
	speech := Speech(time.Second) // 16⅔ frames: the last one is padded
	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1, proto.DialectOpusV3, proto.DialectBrowser} {
		t.Run(dialect, func(t *testing.T) {
			frames, err := encodeUtterance(dialect, speech)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 17 {
				t.Fatalf("%d frames, want 17", len(frames))
			}
			want := websocket.BinaryMessage
			if dialect == proto.DialectStikadoo {
				want = websocket.TextMessage
			}
			for i, f := range frames {
				if f.messageType != want || len(f.data) == 0 {
					t.Fatalf("frame %d: type %d, %d bytes", i, f.messageType, len(f.data))
				}
			}
			if dialect == proto.DialectStikadoo && len(frames[0].data) != 2560 {
				t.Errorf("PCM frame of %d base64 bytes, want 2560 (960 samples)", len(frames[0].data))
			}
		})
	}
	if _, err := encodeUtterance("carrier-pigeon", speech); err == nil {
		t.Errorf("unknown dialect encoded")
	}
}

func TestLoadConfigChecked(t *testing.T) {
	cases := []struct {
		name string
		cfg  LoadConfig
	}{
		{"no URLs", LoadConfig{Devices: 1}},
		{"no devices", LoadConfig{OTAURL: "http://127.0.0.1:1/", HealthURL: "http://127.0.0.1:1/h"}},
		{"stagger too long", LoadConfig{OTAURL: "http://127.0.0.1:1/", HealthURL: "http://127.0.0.1:1/h", Devices: 1, Utterance: time.Second, Stagger: time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if rep, err := RunLoad(context.Background(), c.cfg); err == nil {
				t.Errorf("RunLoad(%+v) = %+v, want an error", c.cfg, rep)
			}
		})
	}
}

func TestLoadTable(t *testing.T) {
	a := &LoadReport{
		Dialect: proto.DialectStikadoo, Devices: 200, Connected: 200, Turns: 200, ServerGC: true,
		Utterance: 3 * time.Second, Stagger: time.Second,
		IdleBytesPerSession: 40 << 10, IdleRSSPerSession: 60 << 10, StreamingBytesPerSession: 300 << 10,
		HelloRTT:  NewPercentiles([]time.Duration{time.Millisecond, 2 * time.Millisecond}),
		Baseline:  LoadSample{Goroutines: 9, RSS: 20 << 20},
		Idle:      LoadSample{Goroutines: 609},
		Streaming: LoadSample{RSS: 80 << 20},
		After:     LoadSample{Goroutines: 9, RSS: 30 << 20},
	}
	b := &LoadReport{Dialect: proto.DialectOpusV1, Devices: 200, Connected: 199, Errors: 1}
	got := LoadTable(a, b)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	for i, line := range lines {
		if n := strings.Count(line, "|"); n != 4 {
			t.Errorf("line %d has %d cells separators, want 4: %q", i, n, line)
		}
	}
	for _, want := range []string{
		"| | stikadoo | opus-v1 |",
		"| 200 / 200 / 0 of 200 | 199 / 0 / 1 of 200 |",
		"(after GC) | 40.0 KiB | 0.0 KiB |",
		"| 60.0 KiB | not measured |",
		"| 1.0 / 2.0 / 2.0 / 2.0 ms | no samples |",
		"| 9 → 609 → 9 |",
		"| 20.0 MiB → 80.0 MiB → 30.0 MiB | not measured |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if a.Table() != LoadTable(a) {
		t.Errorf("Table differs from LoadTable")
	}
}

// Two hundred Stikadoo printers against a gateway on this machine.
func ExampleRunLoad() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunLoad(ctx, LoadConfig{
		OTAURL:    "http://127.0.0.1:8000/xiaozhi/ota/",
		HealthURL: "http://127.0.0.1:8000/api/v1/health",
		Devices:   200,
		Dialect:   proto.DialectStikadoo,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rep.Table())
}
