package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

func TestCloudSecretsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cloud-key")
	if err := os.WriteFile(keyFile, []byte(" key-from-file-0042\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "[cloud]\nurl = \"wss://abc.execute-api.eu-west-1.amazonaws.com/prod\"\napi_key = \"in-file\"\n"
	for _, tc := range []struct {
		name      string
		env       map[string]string
		key, tok  string
		wantField string
	}{
		{"file", nil, "in-file", "", ""},
		{"variable", map[string]string{envCloudAPIKey: "env-key", envCloudToken: "env-token"}, "env-key", "env-token", ""},
		{"credential file", map[string]string{envCloudAPIKeyFile: keyFile, envCloudTokenFile: keyFile}, "key-from-file-0042", "key-from-file-0042", ""},
		{"both", map[string]string{envCloudAPIKey: "a", envCloudAPIKeyFile: keyFile}, "", "", envCloudAPIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(writeConfig(t, base), flagOverrides{}, envOf(tc.env))
			if tc.wantField != "" {
				var ce *edge.ConfigError
				if !errors.As(err, &ce) || ce.Field != tc.wantField {
					t.Fatalf("error %v, want one naming %s", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Cloud.APIKey != tc.key || c.Cloud.Token != tc.tok {
				t.Errorf("key %q token %q, want %q %q", c.Cloud.APIKey, c.Cloud.Token, tc.key, tc.tok)
			}
		})
	}
}

func TestCloudKeyMaskedInConfigPrint(t *testing.T) {
	clearSecretEnv(t)
	t.Setenv(envCloudAPIKey, "")
	t.Setenv(envCloudAPIKeyFile, "")
	t.Setenv(envCloudToken, "")
	t.Setenv(envCloudTokenFile, "")
	p := writeConfig(t, "[cloud]\nurl = \"wss://abc.execute-api.eu-west-1.amazonaws.com/prod\"\napi_key = \"cloud-api-key-Wq12\"\ntoken = \"tok\"\n")
	var out, errOut bytes.Buffer
	if code := runMain(context.Background(), []string{"config", "print", "--config", p}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "cloud-api-key") || strings.Contains(out.String(), `"tok"`) {
		t.Fatalf("config print shows the cloud secrets:\n%s", out.String())
	}
	var f fileConfig
	if _, err := toml.Decode(out.String(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Cloud.APIKey != "****Wq12" || f.Cloud.Token != "****" || f.Cloud.Policy != proto.CloudLocalThenCloud {
		t.Errorf("printed [cloud] = %+v", f.Cloud)
	}
}

func TestCloudConfigErrors(t *testing.T) {
	const url = "url = \"wss://abc.execute-api.eu-west-1.amazonaws.com/prod\"\n"
	for _, tc := range []struct{ text, field string }{
		{"policy = \"sometimes\"\n", "cloud.policy"},
		{"policy = \"cloud-only\"\n", "cloud.policy"},
		{"api_key = \"k\"\n", "cloud.api_key"},
		{url, "cloud.api_key"},
		{"url = \"https://example.org/\"\napi_key = \"k\"\n", "cloud"},
		{url + "api_key = \"k\"\nheartbeat = \"10m\"\n", "cloud"},
		{url + "api_key = \"k\"\nbatch_bytes = 40000\n", "cloud"},
		{url + "api_key = \"k\"\nprobe_interval = \"-1s\"\n", "cloud.probe_interval"},
		{url + "api_key = \"k\"\nbreaker_failures = -1\n", "cloud.breaker_failures"},
	} {
		_, err := loadConfig(writeConfig(t, "[cloud]\n"+tc.text), flagOverrides{}, noEnv)
		var ce *edge.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%q: error %v, want one naming %s", tc.text, err, tc.field)
		}
	}
	// policy local needs no key: nothing is ever dialed.
	if _, err := loadConfig(writeConfig(t, "[cloud]\n"+url+"policy = \"local\"\n"), flagOverrides{}, noEnv); err != nil {
		t.Errorf("policy local without a key: %v", err)
	}
}

// TestRunWithCloud: the daemon probes the configured cloud (here a fake
// on loopback whose certificate the system does not trust), reports it in
// the health report, and never logs the key.
func TestRunWithCloud(t *testing.T) {
	gw := &cloudtest.Gateway{}
	gw.Start()
	defer gw.Close()
	const key = "cloud-key-NEVER-LOGGED-1234"
	cfg := testConfig(t, fmt.Sprintf("[cloud]\nurl = %q\napi_key = %q\n", gw.URL(), key))
	addr, lines, stop := startRun(t, cfg)
	var h struct {
		Status string            `json:"status"`
		Cloud  *proto.CloudState `json:"cloud"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h.Cloud != nil && !h.Cloud.LastProbe.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe within 10 s: %+v", h.Cloud)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.Cloud.Reachable || !strings.Contains(h.Cloud.LastError, "tls") || h.Cloud.Host != gw.Addr() || h.Status != "degraded" {
		t.Errorf("health: %s %+v", h.Status, h.Cloud)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if lines.find("cloud relay") == nil {
		t.Error("no cloud relay log line")
	}
	lines.mu.Lock()
	defer lines.mu.Unlock()
	for _, r := range lines.records {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "NEVER-LOGGED") {
			t.Errorf("the cloud key is in the log: %s", b)
		}
	}
	if gw.Stats().Attempts != 0 {
		t.Errorf("the probe made %d WebSocket requests", gw.Stats().Attempts)
	}
}
