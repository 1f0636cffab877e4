package edge

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The URL a LAN device is given: the request is
// served through the real handler with the local address a LAN connection
// would carry.
func TestWebSocketURLFromLocalAddress(t *testing.T) {
	s := &Server{cfg: Config{}.Defaults()}
	cases := []struct {
		local *net.TCPAddr
		want  string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.20"), Port: 8000}, "ws://192.168.1.20:8000/xiaozhi/v1/"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.7"), Port: 8000}, "ws://10.0.0.7:8000/xiaozhi/v1/"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 9000, Zone: "eth0"}, "ws://[fe80::1]:9000/xiaozhi/v1/"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "http://stikadoo.local:8000/xiaozhi/ota/", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(c.local)))
		if got := s.wsURL(r); got != c.want {
			t.Errorf("local %v: got %q, want %q", c.local, got, c.want)
		}
		if got, want := s.publicBase(r), "http://"+c.want[len("ws://"):len(c.want)-len("/xiaozhi/v1/")]; got != want {
			t.Errorf("local %v: sticker base %q, want %q", c.local, got, want)
		}
	}
}

func TestParseOTABodyLenient(t *testing.T) {
	for _, body := range []string{
		`{"application":{"version":"1.2.3",},"board":{"name":"b",},}`,
		`{"application":{"version":"1.2.3"},"board":{"name":"b"}}`,
		"  \n" + `{"application":{"version":"1.2.3"},"board":{"name":"b"},"extra":[1,2,],}`,
	} {
		info := parseOTABody([]byte(body))
		if info.Application.Version != "1.2.3" || info.Board.Name != "b" {
			b, _ := json.Marshal(info)
			t.Errorf("%s -> %s", body, b)
		}
	}
	for _, body := range []string{"", "nonsense", `{"application":`, "[1,2"} {
		_ = parseOTABody([]byte(body)) // must not panic; zero values are fine
	}
}
