package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/panel"
	"github.com/stikadoo/stikadoo-edge/stt/models"
	"github.com/stikadoo/stikadoo-edge/stt/remote"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

// noEnv is an environment with nothing set.
func noEnv(string) string { return "" }

// envOf returns an environment holding m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeConfig writes a configuration file into a test folder.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stikadoo-edge.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const fullConfig = `
[server]
listen = "127.0.0.1:9000"
state_dir = "/srv/stikadoo"
log_level = "debug"
log_format = "json"

[gateway]
ota_path = "/ota/"
ws_path = "/ws/"
image_path = "/img/"
public_url = "wss://stickers.example.org/ws/"
protocol_version = 3
max_sessions = 12
hello_timeout = "5s"
keepalive = "20s"
read_timeout = "1m"
write_timeout = "3s"
max_frame_bytes = 8192
max_utterance = "20s"
mcp_timeout = "4s"
preview_timeout = "30s"
stt_timeout = "40s"
image_timeout = "90s"
wake_phrases = ["hello printer"]

[auth]
required = true
api_keys = ["key-one", "key-two"]
token_ttl = "24h"
enrollment = "window"
enrollment_window = "2m"

[activation]
enabled = true
secret = "firmware-secret"
require_approval = true
timeout = "15s"

[activation.device_keys]
"SN-1" = "00ff"

[endpoint]
threshold = 0.05
silence = "600ms"
min_speech = "150ms"

[stt]
engine = "remote"
model = "base.en"
threads = 2
language = "en"
initial_prompt = "dragon, unicorn"
temperature = 0.25
temperature_inc = 0.5
audio_ctx = "full"
vad_model = "/srv/models/ggml-silero-v6.2.0.bin"
queue_depth = 4
remote_url = "http://192.168.1.31:8000"
remote_model = "Systran/faster-whisper-small"
remote_api_key = "stt-key"
remote_timeout = "20s"
model_base_url = "http://192.168.1.2/models"

[image]
backend = "sdapi"
base_url = "http://192.168.1.30:7860"
model = "sd_xl_turbo"
size = "768x768"
api_key = "user:password"
attempt_timeout = "30s"
timeout = "90s"
max_retries = 1
prompt_template = "A sticker of {{.Text}}, bold outlines"
negative_prompt = "photo"
width = 576
aspect = 1.5
fit = "pad"
dither = "atkinson"
classroom_mode = true
blocked_words = ["homework"]
fallback = false

[image.extra]
steps = 8
sampler_name = "Euler a"

[retention]
max_age = "720h"
max_sessions = 500
every = "10m"

[cloud]
url = "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"
policy = "cloud-first"
api_key = "cloud-key"
token = "cloud-token"
probe_interval = "2m"
probe_timeout = "3s"
backoff_min = "2s"
backoff_max = "1m"
dial_timeout = "7s"
hello_timeout = "6s"
turn_timeout = "2m"
heartbeat = "5m"
reconnect_before = "90m"
batch_bytes = 8192
breaker_failures = 5
breaker_open = "30s"

[mdns]
enabled = false
name = "Classroom 4"
interfaces = ["wlan0"]

[gpio]
led = "GPIO17"
button = "GPIO27"
led_active_low = true
button_active_low = false
long_press = "5s"
`

func fullConfigWant(file string) daemonConfig {
	return daemonConfig{
		File: file, Listen: "127.0.0.1:9000", StateDir: "/srv/stikadoo", LogLevel: "debug", LogFormat: "json",
		Gateway: edge.Config{
			OTAPath: "/ota/", WSPath: "/ws/", ImagePath: "/img/", PublicURL: "wss://stickers.example.org/ws/",
			ProtocolVersion: 3, MaxSessions: 12,
			HelloTimeout: 5 * time.Second, KeepAlive: 20 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: 3 * time.Second, MaxFrameBytes: 8192, MaxUtterance: 20 * time.Second,
			MCPTimeout: 4 * time.Second, PreviewTimeout: 30 * time.Second, STTTimeout: 40 * time.Second,
			ImageTimeout: 90 * time.Second, WakePhrases: []string{"hello printer"},
			Auth: edge.AuthConfig{Required: true, APIKeys: []string{"key-one", "key-two"}, TokenTTL: 24 * time.Hour,
				Enrollment: edge.EnrollWindow, EnrollmentWindow: 2 * time.Minute},
			Activation: edge.ActivationConfig{
				Enabled: true, Secret: "firmware-secret", DeviceKeys: map[string]string{"SN-1": "00ff"},
				RequireApproval: true, Timeout: 15 * time.Second,
			},
			Endpoint: edge.EndpointConfig{Threshold: 0.05, Silence: 600 * time.Millisecond, MinSpeech: 150 * time.Millisecond},
			Cloud:    edge.CloudConfig{Policy: "cloud-first", HelloTimeout: 6 * time.Second, TurnTimeout: 2 * time.Minute, FirstEventTimeout: 15 * time.Second},
		},
		STT: sttConfig{
			Engine: "remote",
			Whisper: whispercpp.Config{
				ModelPath: "base.en", Threads: 2, Language: "en", InitialPrompt: "dragon, unicorn",
				Temperature: 0.25, TemperatureInc: 0.5, AudioCtx: "full",
				VADModelPath: "/srv/models/ggml-silero-v6.2.0.bin", QueueDepth: 4,
			},
			Remote: remote.Config{
				BaseURL: "http://192.168.1.31:8000", Model: "Systran/faster-whisper-small", APIKey: "stt-key",
				Language: "en", Prompt: "dragon, unicorn", Timeout: 20 * time.Second,
			},
			ModelBaseURL: "http://192.168.1.2/models",
		},
		Image: imageConfig{
			Generator: imagegen.Config{
				Prompt:        imagegen.PromptConfig{Template: "A sticker of {{.Text}}, bold outlines", Negative: "photo"},
				Render:        imagegen.RenderOptions{Width: 576, Aspect: 1.5, Fit: "pad", Dither: "atkinson"}.WithDefaults(),
				ClassroomMode: true, BlockedWords: []string{"homework"}, Fallback: false,
			},
			Backend: imagegen.BackendConfig{
				Kind: "sdapi", BaseURL: "http://192.168.1.30:7860", Model: "sd_xl_turbo", Size: "768x768",
				APIKey: "user:password", AttemptTimeout: 30 * time.Second, Timeout: 90 * time.Second, MaxRetries: 1,
				Extra: map[string]any{"steps": int64(8), "sampler_name": "Euler a"},
			}.WithDefaults(),
		},
		Retention: retentionConfig{MaxAge: 720 * time.Hour, MaxSessions: 500, Every: 10 * time.Minute},
		Cloud: cloud.Config{
			URL: "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod", APIKey: "cloud-key", Token: "cloud-token",
			ProbeInterval: 2 * time.Minute, ProbeTimeout: 3 * time.Second,
			Backoff:     cloud.Backoff{Min: 2 * time.Second, Max: time.Minute, Jitter: 0.5},
			DialTimeout: 7 * time.Second, WriteTimeout: 10 * time.Second, Heartbeat: 5 * time.Minute,
			ReconnectBefore: 90 * time.Minute, BatchBytes: 8192, BreakerFailures: 5, BreakerOpen: 30 * time.Second,
			PongTimeout: 2 * time.Second, IdleCheck: 5 * time.Second,
		},
		MDNS: mdnsConfig{Enabled: false, Name: "Classroom 4", Interfaces: []string{"wlan0"}},
		GPIO: panel.Config{LED: "GPIO17", Button: "GPIO27", LEDActiveLow: true, LongPress: 5 * time.Second},
	}
}

func TestLoadConfigFull(t *testing.T) {
	p := writeConfig(t, fullConfig)
	got, err := loadConfig(p, flagOverrides{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := fullConfigWant(p); !reflect.DeepEqual(got, want) {
		t.Errorf("loadConfig:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	got, err := loadConfig("", flagOverrides{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := daemonConfig{
		Listen: ":8000", StateDir: "./var", LogLevel: "info", LogFormat: "text",
		Gateway: edge.Config{}.Defaults(),
		STT: sttConfig{
			Engine:       "auto",
			Whisper:      whispercpp.Config{Language: "auto", AudioCtx: "auto", TemperatureInc: 0.2, QueueDepth: 8},
			Remote:       remote.Config{Language: "auto", Timeout: time.Minute},
			ModelBaseURL: models.DefaultBaseURL,
		},
		Image: imageConfig{
			Generator: imagegen.Config{Render: imagegen.RenderOptions{}.WithDefaults(), Fallback: true},
			Backend:   imagegen.BackendConfig{}.WithDefaults(),
		},
		Retention: retentionConfig{MaxAge: 90 * 24 * time.Hour, MaxSessions: 10000, Every: time.Hour},
		Cloud:     cloud.Config{}.Defaults(),
		MDNS:      mdnsConfig{Enabled: true},
		GPIO:      panel.Config{ButtonActiveLow: true, LongPress: 3 * time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	p := writeConfig(t, fullConfig)
	got, err := loadConfig(p, flagOverrides{Listen: "127.0.0.1:0", StateDir: "/tmp/x", LogLevel: "warn"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:0" || got.StateDir != "/tmp/x" || got.LogLevel != "warn" {
		t.Errorf("flags did not override the file: listen %q, state %q, level %q", got.Listen, got.StateDir, got.LogLevel)
	}
}

func TestStateDirDefault(t *testing.T) {
	for _, tc := range []struct {
		name, env, file, flag, want string
	}{
		{name: "plain", want: "./var"},
		{name: "systemd", env: "/var/lib/stikadoo-edge", want: "/var/lib/stikadoo-edge"},
		{name: "systemd list", env: "/var/lib/stikadoo-edge:/var/lib/other", want: "/var/lib/stikadoo-edge"},
		{name: "file wins over systemd", env: "/var/lib/stikadoo-edge", file: "/srv/s", want: "/srv/s"},
		{name: "flag wins", env: "/var/lib/stikadoo-edge", file: "/srv/s", flag: "/tmp/f", want: "/tmp/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.file != "" {
				p = writeConfig(t, "[server]\nstate_dir = \""+tc.file+"\"\n")
			}
			got, err := loadConfig(p, flagOverrides{StateDir: tc.flag}, envOf(map[string]string{envStateDirectory: tc.env}))
			if err != nil {
				t.Fatal(err)
			}
			if got.StateDir != tc.want {
				t.Errorf("state dir %q, want %q", got.StateDir, tc.want)
			}
		})
	}
}

func TestConfigUnknownKey(t *testing.T) {
	for _, tc := range []struct {
		name, text, field string
	}{
		{"misspelt key", "[gateway]\nprotocol_versoin = 2\n", "gateway.protocol_versoin"},
		{"unknown table", "[servre]\nlisten = \":8000\"\n", "servre"},
		{"top-level key", "listen = \":8000\"\n", "listen"},
		{"nested table", "[retention.extra]\ny = 1\n", "retention.extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.text)
			_, err := loadConfig(p, flagOverrides{}, noEnv)
			var cerr *edge.ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
			if !strings.HasPrefix(cerr.Field, tc.field) {
				t.Errorf("field %q, want %q", cerr.Field, tc.field)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "unknown key") {
				t.Errorf("error %q does not name the file and say the key is unknown", err)
			}
			if exitCode(err) != exitConfig {
				t.Errorf("exit code %d, want %d", exitCode(err), exitConfig)
			}
		})
	}
}

func TestConfigSyntaxErrorNamesLine(t *testing.T) {
	p := writeConfig(t, "[server]\nlisten = \":8000\"\nlog_level = info\n")
	_, err := loadConfig(p, flagOverrides{}, noEnv)
	if !errors.Is(err, errConfig) {
		t.Fatalf("error %v does not wrap errConfig", err)
	}
	if !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name the file and line 3", err)
	}
	if exitCode(err) != exitConfig {
		t.Errorf("exit code %d, want %d", exitCode(err), exitConfig)
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.toml"), flagOverrides{}, noEnv)
	if !errors.Is(err, errConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v: want errConfig and not-exist", err)
	}
}

func TestConfigInvalidField(t *testing.T) {
	for _, tc := range []struct {
		text, field, msg string
	}{
		{"[server]\nlisten = \"nonsense\"", "server.listen", "host:port"},
		{"[server]\nlisten = \"127.0.0.1:99999\"", "server.listen", "port"},
		{"[server]\nlisten = \"printer.local:8000\"", "server.listen", "not an IP address"},
		{"[server]\nlog_level = \"loud\"", "server.log_level", `"loud"`},
		{"[server]\nlog_format = \"xml\"", "server.log_format", `"xml"`},
		{"[gateway]\nota_path = \"xiaozhi/ota/\"", "gateway.ota_path", "must start with /"},
		{"[gateway]\nws_path = \"v1\"", "gateway.ws_path", "must start with /"},
		{"[gateway]\nimage_path = \"s\"", "gateway.image_path", "must start with /"},
		{"[gateway]\nprotocol_version = 4", "gateway.protocol_version", "4 is not 1, 2 or 3"},
		{"[gateway]\npublic_url = \"http://x/\"", "gateway.public_url", "ws://"},
		{"[gateway]\nmax_sessions = -1", "gateway.max_sessions", "at least 1"},
		{"[gateway]\nmax_frame_bytes = 100", "gateway.max_frame_bytes", "4096"},
		{"[gateway]\nkeepalive = \"2m\"", "gateway.keepalive", "120 s"},
		{"[gateway]\nhello_timeout = \"-1s\"", "gateway.hello_timeout", "negative"},
		{"[gateway]\nhello_timeout = \"soon\"", "gateway.hello_timeout", "line 2"},
		{"[gateway]\nread_timeout = \"-5s\"", "gateway.read_timeout", "negative"},
		{"[gateway]\nimage_timeout = \"-5s\"", "gateway.image_timeout", "negative"},
		{"[auth]\napi_keys = [\"a\", \" \"]", "auth.api_keys", "key 2 is empty"},
		{"[auth]\ntoken_ttl = \"-1h\"", "auth.token_ttl", "negative"},
		{"[activation]\nenabled = true", "activation.enabled", "secret"},
		{"[activation]\ntimeout = \"-1s\"", "activation.timeout", "negative"},
		{"[activation.device_keys]\n\"SN-1\" = \"xyz\"", "activation.device_keys", `"SN-1"`},
		{"[endpoint]\nthreshold = 1.5", "endpoint.threshold", "between 0 and 1"},
		{"[endpoint]\nsilence = \"-1ms\"", "endpoint.silence", "negative"},
		{"[image]\nbackend = \"midjourney\"", "image.backend", `"midjourney"`},
		{"[image]\nbase_url = \"http://x\"", "image.base_url", "image.backend is empty"},
		{"[image]\nbackend = \"openai\"\nbase_url = \"ftp://x\"", "image", "base"},
		{"[image]\nprompt_template = \"a sticker\"", "image.prompt_template", "Text"},
		{"[image]\nwidth = 100", "image.width", "100"},
		{"[image]\ntimeout = \"-1s\"", "image.timeout", "negative"},
		{"[stt]\nengine = \"vosk\"", "stt.engine", `"vosk"`},
		{"[stt]\nengine = \"whispercpp\"", "stt.model", "needs a model"},
		{"[stt]\nengine = \"remote\"", "stt.remote_url", "needs the server"},
		{"[stt]\naudio_ctx = \"half\"", "stt.audio_ctx", `"half"`},
		{"[stt]\ntemperature = 2.0", "stt.temperature", "between 0 and 1"},
		{"[stt]\nthreads = -1", "stt.threads", "0"},
		{"[retention]\nmax_age = \"-1h\"", "retention.max_age", "negative"},
		{"[retention]\nmax_sessions = -3", "retention.max_sessions", "negative"},
		{"[retention]\nevery = \"0s\"", "retention.every", "positive"},
		{"[auth]\nenrollment = \"closed\"", "auth.enrollment", `"closed"`},
		{"[auth]\nenrollment_window = \"-1m\"", "auth.enrollment_window", "negative"},
		{"[mdns]\ninterfaces = [\"wlan0\", \"\"]", "mdns.interfaces", "interface 2 is empty"},
		{"[mdns]\nname = \"" + strings.Repeat("x", 64) + "\"", "mdns.name", "63"},
		{"[gpio]\nlong_press = \"-1s\"", "gpio.long_press", "negative"},
		{"[gpio]\nled = \"GPIO5\"\nbutton = \"GPIO5\"", "gpio.button", "LED"},
	} {
		t.Run(tc.field+"/"+tc.msg, func(t *testing.T) {
			p := writeConfig(t, tc.text+"\n")
			_, err := loadConfig(p, flagOverrides{}, noEnv)
			var cerr *edge.ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
			if cerr.Field != tc.field {
				t.Errorf("field %q, want %q (error %v)", cerr.Field, tc.field, err)
			}
			if !strings.Contains(cerr.Msg, tc.msg) {
				t.Errorf("message %q does not say %q", cerr.Msg, tc.msg)
			}
			if exitCode(err) != exitConfig {
				t.Errorf("exit code %d, want %d", exitCode(err), exitConfig)
			}
		})
	}
}

func TestConfigWrongType(t *testing.T) {
	p := writeConfig(t, "[gateway]\nmax_sessions = \"many\"\n")
	_, err := loadConfig(p, flagOverrides{}, noEnv)
	if exitCode(err) != exitConfig {
		t.Fatalf("error %v: exit code %d, want %d", err, exitCode(err), exitConfig)
	}
	if !strings.Contains(err.Error(), "gateway.max_sessions") {
		t.Errorf("error %q does not name the key", err)
	}
}

func TestRetentionZeroTurnsLimitsOff(t *testing.T) {
	p := writeConfig(t, "[retention]\nmax_age = \"0s\"\nmax_sessions = 0\n")
	c, err := loadConfig(p, flagOverrides{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.MaxAge != 0 || c.Retention.MaxSessions != 0 || c.Retention.Every != time.Hour {
		t.Errorf("retention %+v, want no limits and the default interval", c.Retention)
	}
}

func TestEnvSecrets(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "api_keys")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(keysFile, []byte("file-key-1\nfile-key-2, file-key-3\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("  secret-from-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "[auth]\napi_keys = [\"file\"]\n[activation]\nsecret = \"in-file\"\n"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		wantKeys   []string
		wantSecret string
	}{
		{"none", nil, []string{"file"}, "in-file"},
		{"variables", map[string]string{envAPIKeys: " env-1 , env-2 ", envActivationSecret: " env-secret\n"}, []string{"env-1", "env-2"}, "env-secret"},
		{"files", map[string]string{envAPIKeysFile: keysFile, envActivationSecretFile: secretFile}, []string{"file-key-1", "file-key-2", "file-key-3"}, "secret-from-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(writeConfig(t, base), flagOverrides{}, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Gateway.Auth.APIKeys, tc.wantKeys) {
				t.Errorf("api keys %q, want %q", c.Gateway.Auth.APIKeys, tc.wantKeys)
			}
			if c.Gateway.Activation.Secret != tc.wantSecret {
				t.Errorf("activation secret %q, want %q", c.Gateway.Activation.Secret, tc.wantSecret)
			}
		})
	}
	t.Run("both set", func(t *testing.T) {
		_, err := loadConfig("", flagOverrides{}, envOf(map[string]string{envAPIKeys: "a", envAPIKeysFile: keysFile}))
		var cerr *edge.ConfigError
		if !errors.As(err, &cerr) || cerr.Field != envAPIKeys {
			t.Fatalf("error %v, want a ConfigError naming %s", err, envAPIKeys)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		_, err := loadConfig("", flagOverrides{}, envOf(map[string]string{envActivationSecretFile: filepath.Join(dir, "missing")}))
		if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), envActivationSecretFile) {
			t.Fatalf("error %v, want errConfig naming %s", err, envActivationSecretFile)
		}
	})
	t.Run("env enables activation", func(t *testing.T) {
		p := writeConfig(t, "[activation]\nenabled = true\n")
		if _, err := loadConfig(p, flagOverrides{}, noEnv); err == nil {
			t.Fatal("activation without a secret was accepted")
		}
		if _, err := loadConfig(p, flagOverrides{}, envOf(map[string]string{envActivationSecret: "s"})); err != nil {
			t.Fatalf("secret from the environment not used: %v", err)
		}
	})
}

func TestMaskSecret(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"short", "****"},
		{"elevenchars", "****"},
		{"twelve-chars", "****hars"},
		{"sk-live-0123456789abcdef", "****cdef"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := maskSecret(tc.in); got != tc.want {
				t.Errorf("maskSecret(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestConfigPrintMasksSecrets(t *testing.T) {
	clearSecretEnv(t)
	p := writeConfig(t, `
[auth]
api_keys = ["tiny", "a-long-api-key-7Qx9"]
[activation]
enabled = true
secret = "firmware-shared-secret-Zz42"
[activation.device_keys]
"SN-1" = "00112233445566778899aabbccddeeff"
"SN-2" = "abcd"
`)
	var out, errOut bytes.Buffer
	if code := runMain(context.Background(), []string{"config", "print", "--config", p}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	s := out.String()
	for _, secret := range []string{"tiny", "a-long-api-key", "firmware-shared-secret", "00112233445566778899aabbcc", `"abcd"`} {
		if strings.Contains(s, secret) {
			t.Errorf("printed configuration shows secret %q:\n%s", secret, s)
		}
	}
	var f fileConfig
	if _, err := toml.Decode(s, &f); err != nil {
		t.Fatalf("printed configuration does not parse: %v\n%s", err, s)
	}
	if want := []string{"****", "****7Qx9"}; !slices.Equal(f.Auth.APIKeys, want) {
		t.Errorf("api keys printed as %q, want %q", f.Auth.APIKeys, want)
	}
	if f.Activation.Secret != "****Zz42" {
		t.Errorf("secret printed as %q", f.Activation.Secret)
	}
	if want := map[string]string{"SN-1": "****eeff", "SN-2": "****"}; !reflect.DeepEqual(f.Activation.DeviceKeys, want) {
		t.Errorf("device keys printed as %v, want %v", f.Activation.DeviceKeys, want)
	}
}

// clearSecretEnv makes sure the process environment adds no secrets.
func clearSecretEnv(t *testing.T) {
	for _, k := range []string{envAPIKeys, envAPIKeysFile, envActivationSecret, envActivationSecretFile, envStateDirectory} {
		t.Setenv(k, "")
	}
}

// TestPrintRoundTrip checks that the printed (unmasked) configuration
// reads back as the same configuration, every field included.
func TestPrintRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"full", fullConfig},
		{"defaults", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(writeConfig(t, tc.text), flagOverrides{}, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.encodeTOML(false)
			if err != nil {
				t.Fatal(err)
			}
			p2 := writeConfig(t, string(b))
			c2, err := loadConfig(p2, flagOverrides{}, noEnv)
			if err != nil {
				t.Fatalf("printed configuration does not load: %v\n%s", err, b)
			}
			c.File, c2.File = "", ""
			if !reflect.DeepEqual(c, c2) {
				t.Errorf("round trip changed the configuration:\n got %+v\nwant %+v", c2, c)
			}
		})
	}
}

// defaultLine is a setting shown at its default in the documented file.
var defaultLine = regexp.MustCompile(`(?m)^# ([a-z_]+ = .*)$`)

// TestEmbeddedDefaults keeps the documented file and the built-in
// defaults in step: the file, with every default setting switched on,
// parses, passes validation, equals the defaults, and names every key.
func TestEmbeddedDefaults(t *testing.T) {
	on := defaultLine.ReplaceAllString(defaultConfigFile, "$1")
	if on == defaultConfigFile {
		t.Fatal("no commented default settings found in the embedded file")
	}
	f, err := decodeConfig([]byte(on))
	if err != nil {
		t.Fatalf("embedded file with defaults switched on: %v", err)
	}
	got := f.resolve(noEnv)
	if err := got.validate(); err != nil {
		t.Fatalf("embedded defaults do not validate: %v", err)
	}
	want, err := loadConfig("", flagOverrides{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("embedded file says\n %+v\nbuilt-in defaults are\n %+v", got, want)
	}

	// Every key of the effective configuration appears in the file,
	// and the file has no key the program does not know.
	md, err := toml.Decode(on, &fileConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := want.encodeTOML(false)
	if err != nil {
		t.Fatal(err)
	}
	mdAll, err := toml.Decode(string(b), &fileConfig{})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(md toml.MetaData) []string {
		var ks []string
		for _, k := range md.Keys() {
			ks = append(ks, k.String())
		}
		slices.Sort(ks)
		return ks
	}
	if a, b := keys(md), keys(mdAll); !slices.Equal(a, b) {
		t.Errorf("keys of the documented file\n %q\ndiffer from the configuration's\n %q", a, b)
	}

	// The file as shipped (defaults commented out) is valid too.
	if _, err := loadConfig(writeConfig(t, defaultConfigFile), flagOverrides{}, noEnv); err != nil {
		t.Errorf("embedded file as shipped: %v", err)
	}
}

func TestConfigPrintDefaults(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain(context.Background(), []string{"config", "print", "--defaults"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != defaultConfigFile {
		t.Error("config print --defaults does not print the embedded file")
	}
}

func TestConfigCheck(t *testing.T) {
	clearSecretEnv(t)
	good := writeConfig(t, fullConfig)
	bad := writeConfig(t, "[gateway]\nprotocol_version = 4\n")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"good", []string{"--config", good}, exitOK, "ok: " + good, ""},
		{"bad", []string{"--config", bad}, exitConfig, "", "gateway.protocol_version: 4 is not 1, 2 or 3"},
		{"missing", []string{"--config", good + ".nope"}, exitConfig, "", "no such file"},
		{"stray argument", []string{"extra"}, exitUsage, "", "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runMain(context.Background(), append([]string{"config", "check"}, tc.args...), &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), tc.out, tc.err)
			}
		})
	}
}

func TestDefaultConfigPath(t *testing.T) {
	old := defaultConfigPath
	t.Cleanup(func() { defaultConfigPath = old })
	defaultConfigPath = filepath.Join(t.TempDir(), "absent.toml")
	if got := configPath(""); got != "" {
		t.Errorf("configPath with no default file = %q, want none", got)
	}
	defaultConfigPath = writeConfig(t, "")
	if got := configPath(""); got != defaultConfigPath {
		t.Errorf("configPath = %q, want the default file %q", got, defaultConfigPath)
	}
	if got := configPath("/x.toml"); got != "/x.toml" {
		t.Errorf("configPath(flag) = %q", got)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {800 * time.Millisecond, "800ms"}, {30 * time.Second, "30s"}, {90 * time.Second, "1m30s"},
		{time.Minute, "1m"}, {time.Hour, "1h"}, {2160 * time.Hour, "2160h"}, {time.Hour + time.Second, "1h0m1s"},
	} {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestWakePhrasesEmptyMeansNone(t *testing.T) {
	c, err := loadConfig(writeConfig(t, "[gateway]\nwake_phrases = []\n"), flagOverrides{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.WakePhrases == nil || len(c.Gateway.WakePhrases) != 0 {
		t.Errorf("wake phrases %q, want none (an empty list)", c.Gateway.WakePhrases)
	}
}
