package main

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/cloud"
	"github.com/stikadoo/stikadoo-edge/imagegen"
	"github.com/stikadoo/stikadoo-edge/panel"
)

// defaultConfigPath is read when no --config flag is given and the file
// exists. A variable only so tests can point it elsewhere.
var defaultConfigPath = "/etc/stikadoo-edge/stikadoo-edge.toml"

// defaultConfigFile is the documented configuration with every field and
// its default; `config print --defaults` prints it.
//
//go:embed stikadoo-edge.toml
var defaultConfigFile string

// Defaults of the daemon's own settings (the gateway's are in edge.Config.Defaults).
const (
	defaultListen       = ":8000"
	defaultStateDir     = "./var"
	defaultLogLevel     = "info"
	defaultLogFormat    = "text"
	defaultMaxAge       = 90 * 24 * time.Hour
	defaultMaxSessions  = 10000
	defaultRetentionRun = time.Hour
)

// Environment variables that override secrets of the file.
const (
	envAPIKeys              = "STIKADOO_API_KEYS"
	envAPIKeysFile          = "STIKADOO_API_KEYS_FILE"
	envActivationSecret     = "STIKADOO_ACTIVATION_SECRET"
	envActivationSecretFile = "STIKADOO_ACTIVATION_SECRET_FILE"
	envImageAPIKey          = "STIKADOO_IMAGE_API_KEY"
	envImageAPIKeyFile      = "STIKADOO_IMAGE_API_KEY_FILE"
	envSTTAPIKey            = "STIKADOO_STT_API_KEY"
	envSTTAPIKeyFile        = "STIKADOO_STT_API_KEY_FILE"
	// envStateDirectory is set by systemd's StateDirectory= (a
	// colon-separated list; the first entry is used).
	envStateDirectory = "STATE_DIRECTORY"
)

// daemonConfig is the effective configuration of the daemon: the
// gateway's, with every default filled in, and the daemon's own settings.
type daemonConfig struct {
	File      string // the configuration file read; "" for built-in defaults
	Listen    string // TCP address to serve on
	StateDir  string // store file and token key
	LogLevel  string // debug, info, warn or error
	LogFormat string // text or json
	Gateway   edge.Config
	STT       sttConfig
	Image     imageConfig
	Retention retentionConfig
	// Cloud is the cloud client's configuration; its policy and turn
	// timeouts are in Gateway.Cloud.
	Cloud cloud.Config
	// Appliance settings (appliance.go).
	MDNS mdnsConfig
	GPIO panel.Config
}

// imageConfig is how stickers are made. Backend.Kind "" means no image
// model: every sticker is the fallback drawn on the Pi.
type imageConfig struct {
	Generator imagegen.Config // its Backend is set from Backend at start
	Backend   imagegen.BackendConfig
}

// generatorConfig is the generator's configuration with its backend, if any.
func (c imageConfig) generatorConfig() imagegen.Config {
	g := c.Generator
	if c.Backend.Kind != "" {
		b := c.Backend
		g.Backend = &b
	}
	return g
}

// retentionConfig says how long the record is kept.
type retentionConfig struct {
	MaxAge      time.Duration // sessions older than this are deleted (0: no age limit)
	MaxSessions int           // at most this many sessions are kept (0: no count limit)
	Every       time.Duration // how often the record is pruned
	KeepAudio   bool          // keep each utterance's audio in the state directory, for MaxAge
}

// fileConfig is the shape of the TOML file. Zero values mean "the
// default", except in [retention], where an explicit 0 turns a limit off.
type fileConfig struct {
	Server     serverFile     `toml:"server"`
	Gateway    gatewayFile    `toml:"gateway"`
	Auth       authFile       `toml:"auth"`
	Activation activationFile `toml:"activation"`
	Endpoint   endpointFile   `toml:"endpoint"`
	STT        sttFile        `toml:"stt"`
	Image      imageFile      `toml:"image"`
	Retention  retentionFile  `toml:"retention"`
	Cloud      cloudFile      `toml:"cloud"`
	MDNS       mdnsFile       `toml:"mdns"`
	GPIO       gpioFile       `toml:"gpio"`
}

type imageFile struct {
	Backend        string         `toml:"backend"`
	BaseURL        string         `toml:"base_url"`
	Model          string         `toml:"model"`
	Size           string         `toml:"size"`
	APIKey         string         `toml:"api_key"`
	AttemptTimeout duration       `toml:"attempt_timeout"`
	Timeout        duration       `toml:"timeout"`
	MaxRetries     int            `toml:"max_retries"`
	PromptTemplate string         `toml:"prompt_template"`
	NegativePrompt string         `toml:"negative_prompt"`
	Width          int            `toml:"width"`
	Aspect         float64        `toml:"aspect"`
	Fit            string         `toml:"fit"`
	Dither         string         `toml:"dither"`
	ClassroomMode  bool           `toml:"classroom_mode"`
	BlockedWords   []string       `toml:"blocked_words"`
	Fallback       *bool          `toml:"fallback"`
	Extra          map[string]any `toml:"extra"`
}

type serverFile struct {
	Listen    string `toml:"listen"`
	StateDir  string `toml:"state_dir"`
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
}

type gatewayFile struct {
	OTAPath         string   `toml:"ota_path"`
	WSPath          string   `toml:"ws_path"`
	ImagePath       string   `toml:"image_path"`
	PublicURL       string   `toml:"public_url"`
	ProtocolVersion int      `toml:"protocol_version"`
	MaxSessions     int      `toml:"max_sessions"`
	HelloTimeout    duration `toml:"hello_timeout"`
	KeepAlive       duration `toml:"keepalive"`
	ReadTimeout     duration `toml:"read_timeout"`
	WriteTimeout    duration `toml:"write_timeout"`
	MaxFrameBytes   int64    `toml:"max_frame_bytes"`
	MaxUtterance    duration `toml:"max_utterance"`
	MCPTimeout      duration `toml:"mcp_timeout"`
	PreviewTimeout  duration `toml:"preview_timeout"`
	STTTimeout      duration `toml:"stt_timeout"`
	ImageTimeout    duration `toml:"image_timeout"`
	WakePhrases     []string `toml:"wake_phrases"`
}

type authFile struct {
	Required         bool     `toml:"required"`
	APIKeys          []string `toml:"api_keys"`
	TokenTTL         duration `toml:"token_ttl"`
	Enrollment       string   `toml:"enrollment"`
	EnrollmentWindow duration `toml:"enrollment_window"`
}

type activationFile struct {
	Enabled         bool              `toml:"enabled"`
	Secret          string            `toml:"secret"`
	RequireApproval bool              `toml:"require_approval"`
	Timeout         duration          `toml:"timeout"`
	DeviceKeys      map[string]string `toml:"device_keys"`
}

type endpointFile struct {
	Threshold float64  `toml:"threshold"`
	Silence   duration `toml:"silence"`
	MinSpeech duration `toml:"min_speech"`
}

type retentionFile struct {
	MaxAge      *duration `toml:"max_age"`
	MaxSessions *int      `toml:"max_sessions"`
	Every       *duration `toml:"every"`
	KeepAudio   bool      `toml:"keep_audio"`
}

// duration is a time.Duration written in TOML as a string such as "30s"
// or "2160h".
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\", \"5m\" or \"2160h\"", b)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalText() ([]byte, error) { return []byte(formatDuration(time.Duration(d))), nil }

// formatDuration writes d as time.Duration.String does, without the
// trailing zero units ("2160h" rather than "2160h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// flagOverrides are the settings an operator may change per run.
type flagOverrides struct {
	Listen   string
	StateDir string
	LogLevel string
	NoMDNS   bool // --no-mdns: advertise nothing
}

// configPath returns the file to read: the flag's, or the default file if
// it exists, or "" for built-in defaults.
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if _, err := os.Stat(defaultConfigPath); err == nil {
		return defaultConfigPath
	}
	return ""
}

// loadConfig reads the file at path ("" for none), applies the
// environment's secrets and the flag overrides, fills in defaults and
// validates the result. Configuration errors wrap errConfig or are an
// *edge.ConfigError.
func loadConfig(path string, ov flagOverrides, getenv func(string) string) (daemonConfig, error) {
	var f fileConfig
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return daemonConfig{}, fmt.Errorf("read config: %w: %w", err, errConfig)
		}
		f, err = decodeConfig(data)
		if err != nil {
			return daemonConfig{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := f.applyEnv(getenv); err != nil {
		return daemonConfig{}, err
	}
	if ov.Listen != "" {
		f.Server.Listen = ov.Listen
	}
	if ov.StateDir != "" {
		f.Server.StateDir = ov.StateDir
	}
	if ov.LogLevel != "" {
		f.Server.LogLevel = ov.LogLevel
	}
	c := f.resolve(getenv)
	if ov.NoMDNS {
		c.MDNS.Enabled = false
	}
	c.File = path
	if err := c.validate(); err != nil {
		if path != "" {
			return daemonConfig{}, fmt.Errorf("config %s: %w", path, err)
		}
		return daemonConfig{}, err
	}
	return c, nil
}

// decodeConfig parses a TOML file strictly: a syntax error names its line,
// a value of the wrong kind names its key, and an unknown key is an error.
func decodeConfig(data []byte) (fileConfig, error) {
	// A first pass into nothing separates syntax errors (which have a
	// line but no meaningful key) from value errors (which have both).
	if _, err := toml.Decode(string(data), &struct{}{}); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fileConfig{}, fmt.Errorf("line %d: %s: %w", perr.Position.Line, perr.Message, errConfig)
		}
		return fileConfig{}, fmt.Errorf("%s: %w", strings.TrimPrefix(err.Error(), "toml: "), errConfig)
	}
	var f fileConfig
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) && perr.LastKey != "" {
			return fileConfig{}, &edge.ConfigError{Field: perr.LastKey, Msg: fmt.Sprintf("line %d: %s", perr.Position.Line, perr.Message)}
		}
		return fileConfig{}, fmt.Errorf("%s: %w", strings.TrimPrefix(err.Error(), "toml: "), errConfig)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			// Keys inside an unknown table add nothing to its name.
			if !slices.ContainsFunc(keys, func(p string) bool { return strings.HasPrefix(k.String(), p+".") }) {
				keys = append(keys, k.String())
			}
		}
		msg := "unknown key (misspelt, or from a newer stikadoo-edge?)"
		if len(keys) > 1 {
			msg += "; also unknown: " + strings.Join(keys[1:], ", ")
		}
		return fileConfig{}, &edge.ConfigError{Field: keys[0], Msg: msg}
	}
	return f, nil
}

// applyEnv replaces secrets of the file with those of the environment.
// Each secret comes from a variable or from a file named by the _FILE
// variant (systemd's LoadCredential= puts credentials in such files);
// setting both is an error.
func (f *fileConfig) applyEnv(getenv func(string) string) error {
	keys, ok, err := envSecret(getenv, envAPIKeys, envAPIKeysFile)
	if err != nil {
		return err
	}
	if ok {
		f.Auth.APIKeys = splitList(keys)
	}
	secret, ok, err := envSecret(getenv, envActivationSecret, envActivationSecretFile)
	if err != nil {
		return err
	}
	if ok {
		f.Activation.Secret = secret
	}
	key, ok, err := envSecret(getenv, envImageAPIKey, envImageAPIKeyFile)
	if err != nil {
		return err
	}
	if ok {
		f.Image.APIKey = key
	}
	key, ok, err = envSecret(getenv, envSTTAPIKey, envSTTAPIKeyFile)
	if err != nil {
		return err
	}
	if ok {
		f.STT.RemoteAPIKey = key
	}
	key, ok, err = envSecret(getenv, envCloudAPIKey, envCloudAPIKeyFile)
	if err != nil {
		return err
	}
	if ok {
		f.Cloud.APIKey = key
	}
	key, ok, err = envSecret(getenv, envCloudToken, envCloudTokenFile)
	if err != nil {
		return err
	}
	if ok {
		f.Cloud.Token = key
	}
	return nil
}

// envSecret reads the secret in variable name, or in the file named by
// fileVar, with surrounding white space removed. ok is false when neither
// is set.
func envSecret(getenv func(string) string, name, fileVar string) (v string, ok bool, err error) {
	val, file := getenv(name), getenv(fileVar)
	switch {
	case val != "" && file != "":
		return "", false, &edge.ConfigError{Field: name, Msg: fmt.Sprintf("set %s or %s, not both", name, fileVar)}
	case val != "":
		return strings.TrimSpace(val), true, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("%s: read credential file: %w: %w", fileVar, err, errConfig)
		}
		return strings.TrimSpace(string(b)), true, nil
	}
	return "", false, nil
}

// splitList splits a list of keys separated by commas or new lines,
// dropping blanks.
func splitList(s string) []string {
	out := []string{}
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// stateDirDefault is systemd's StateDirectory when the daemon runs as the
// unit, else ./var.
func stateDirDefault(getenv func(string) string) string {
	if d, _, _ := strings.Cut(getenv(envStateDirectory), ":"); d != "" {
		return d
	}
	return defaultStateDir
}

// resolve fills in every default.
func (f fileConfig) resolve(getenv func(string) string) daemonConfig {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	g, a, e := f.Gateway, f.Auth, f.Endpoint
	c := daemonConfig{
		Listen:    or(f.Server.Listen, defaultListen),
		StateDir:  or(f.Server.StateDir, stateDirDefault(getenv)),
		LogLevel:  or(f.Server.LogLevel, defaultLogLevel),
		LogFormat: or(f.Server.LogFormat, defaultLogFormat),
		Gateway: edge.Config{
			OTAPath:         g.OTAPath,
			WSPath:          g.WSPath,
			ImagePath:       g.ImagePath,
			PublicURL:       g.PublicURL,
			ProtocolVersion: g.ProtocolVersion,
			MaxSessions:     g.MaxSessions,
			HelloTimeout:    time.Duration(g.HelloTimeout),
			KeepAlive:       time.Duration(g.KeepAlive),
			ReadTimeout:     time.Duration(g.ReadTimeout),
			WriteTimeout:    time.Duration(g.WriteTimeout),
			MaxFrameBytes:   g.MaxFrameBytes,
			MaxUtterance:    time.Duration(g.MaxUtterance),
			MCPTimeout:      time.Duration(g.MCPTimeout),
			PreviewTimeout:  time.Duration(g.PreviewTimeout),
			STTTimeout:      time.Duration(g.STTTimeout),
			ImageTimeout:    time.Duration(g.ImageTimeout),
			WakePhrases:     slices.Clone(g.WakePhrases),
			Auth: edge.AuthConfig{
				Required:         a.Required,
				APIKeys:          slices.Clone(a.APIKeys),
				TokenTTL:         time.Duration(a.TokenTTL),
				Enrollment:       a.Enrollment,
				EnrollmentWindow: time.Duration(a.EnrollmentWindow),
			},
			Activation: edge.ActivationConfig{
				Enabled:         f.Activation.Enabled,
				Secret:          f.Activation.Secret,
				DeviceKeys:      cloneMap(f.Activation.DeviceKeys),
				RequireApproval: f.Activation.RequireApproval,
				Timeout:         time.Duration(f.Activation.Timeout),
			},
			Endpoint: edge.EndpointConfig{
				Threshold: e.Threshold,
				Silence:   time.Duration(e.Silence),
				MinSpeech: time.Duration(e.MinSpeech),
			},
		}.Defaults(),
		STT:       f.STT.resolve(),
		Image:     f.Image.resolve(),
		Retention: retentionConfig{MaxAge: defaultMaxAge, MaxSessions: defaultMaxSessions, Every: defaultRetentionRun},
		MDNS:      f.MDNS.resolve(),
		GPIO:      f.GPIO.resolve(),
	}
	if g.WakePhrases == nil {
		c.Gateway.WakePhrases = slices.Clone(edge.DefaultWakePhrases)
	}
	c.Cloud, c.Gateway.Cloud = f.Cloud.resolve()
	// An empty list or table is the same as none; only wake_phrases = []
	// differs from leaving it out (it means no wake phrases).
	if len(c.Gateway.Auth.APIKeys) == 0 {
		c.Gateway.Auth.APIKeys = nil
	}
	if len(c.Gateway.Activation.DeviceKeys) == 0 {
		c.Gateway.Activation.DeviceKeys = nil
	}
	if r := f.Retention.MaxAge; r != nil {
		c.Retention.MaxAge = time.Duration(*r)
	}
	if r := f.Retention.MaxSessions; r != nil {
		c.Retention.MaxSessions = *r
	}
	c.Retention.KeepAudio = f.Retention.KeepAudio
	if r := f.Retention.Every; r != nil {
		c.Retention.Every = time.Duration(*r)
	}
	return c
}

// resolve fills in the image settings' defaults.
func (im imageFile) resolve() imageConfig {
	gen := imagegen.DefaultConfig()
	gen.Prompt = imagegen.PromptConfig{Template: im.PromptTemplate, Negative: im.NegativePrompt}
	gen.Render = imagegen.RenderOptions{Width: im.Width, Aspect: im.Aspect, Fit: im.Fit, Dither: im.Dither}.WithDefaults()
	gen.ClassroomMode = im.ClassroomMode
	if len(im.BlockedWords) > 0 {
		gen.BlockedWords = slices.Clone(im.BlockedWords)
	}
	if im.Fallback != nil {
		gen.Fallback = *im.Fallback
	}
	var extra map[string]any
	if len(im.Extra) > 0 {
		extra = make(map[string]any, len(im.Extra))
		for k, v := range im.Extra {
			extra[k] = v
		}
	}
	return imageConfig{Generator: gen, Backend: imagegen.BackendConfig{
		Kind: im.Backend, BaseURL: im.BaseURL, Model: im.Model, Size: im.Size, APIKey: im.APIKey,
		AttemptTimeout: time.Duration(im.AttemptTimeout), Timeout: time.Duration(im.Timeout),
		MaxRetries: im.MaxRetries, Extra: extra,
	}.WithDefaults()}
}

// validate checks the image settings, naming the TOML field at fault.
func (c imageConfig) validate() error {
	b := c.Backend
	switch b.Kind {
	case "":
		for _, f := range []struct{ field, v string }{{"image.base_url", b.BaseURL}, {"image.model", b.Model}, {"image.api_key", b.APIKey}} {
			if f.v != "" {
				return &edge.ConfigError{Field: f.field, Msg: "is set but image.backend is empty (\"openai\", \"sdapi\" or \"dashscope\")"}
			}
		}
	case imagegen.KindOpenAI, imagegen.KindSDAPI, imagegen.KindDashScope:
		if err := b.Validate(); err != nil {
			return &edge.ConfigError{Field: "image", Msg: err.Error()}
		}
	default:
		return &edge.ConfigError{Field: "image.backend", Msg: fmt.Sprintf("%q is not \"\", \"openai\", \"sdapi\" or \"dashscope\"", b.Kind)}
	}
	if b.AttemptTimeout < 0 || b.Timeout < 0 {
		return &edge.ConfigError{Field: "image.timeout", Msg: "timeouts must not be negative"}
	}
	if err := c.Generator.Prompt.Validate(); err != nil {
		return &edge.ConfigError{Field: "image.prompt_template", Msg: err.Error()}
	}
	if err := c.Generator.Render.Validate(); err != nil {
		return &edge.ConfigError{Field: "image.width", Msg: err.Error()}
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validate checks the daemon's settings and the gateway's, reporting the
// first problem as an *edge.ConfigError naming the TOML field.
func (c daemonConfig) validate() error {
	if err := checkListen(c.Listen); err != nil {
		return &edge.ConfigError{Field: "server.listen", Msg: err.Error()}
	}
	if c.StateDir == "" {
		return &edge.ConfigError{Field: "server.state_dir", Msg: "must not be empty"}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return &edge.ConfigError{Field: "server.log_level", Msg: err.Error()}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return &edge.ConfigError{Field: "server.log_format", Msg: fmt.Sprintf("%q is not text or json", c.LogFormat)}
	}
	g := c.Gateway
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"gateway.hello_timeout", g.HelloTimeout},
		{"gateway.keepalive", g.KeepAlive},
		{"gateway.read_timeout", g.ReadTimeout},
		{"gateway.write_timeout", g.WriteTimeout},
		{"gateway.max_utterance", g.MaxUtterance},
		{"gateway.mcp_timeout", g.MCPTimeout},
		{"gateway.preview_timeout", g.PreviewTimeout},
		{"gateway.stt_timeout", g.STTTimeout},
		{"gateway.image_timeout", g.ImageTimeout},
		{"auth.token_ttl", g.Auth.TokenTTL},
		{"auth.enrollment_window", g.Auth.EnrollmentWindow},
		{"activation.timeout", g.Activation.Timeout},
		{"endpoint.silence", g.Endpoint.Silence},
		{"endpoint.min_speech", g.Endpoint.MinSpeech},
	} {
		if d.v < 0 {
			return &edge.ConfigError{Field: d.field, Msg: fmt.Sprintf("%s must not be negative", formatDuration(d.v))}
		}
	}
	for i, k := range g.Auth.APIKeys {
		if strings.TrimSpace(k) == "" {
			return &edge.ConfigError{Field: "auth.api_keys", Msg: fmt.Sprintf("key %d is empty", i+1)}
		}
	}
	for serial, key := range g.Activation.DeviceKeys {
		if _, err := hex.DecodeString(key); err != nil || key == "" {
			return &edge.ConfigError{Field: "activation.device_keys", Msg: fmt.Sprintf("the key of %q is not hexadecimal", serial)}
		}
	}
	// The daemon always has a token secret (it keeps one in the state
	// directory), so validate as if it were set.
	if len(g.Auth.TokenSecret) == 0 {
		g.Auth.TokenSecret = make([]byte, 32)
	}
	if err := g.Validate(); err != nil {
		return err
	}
	if err := c.STT.validate(); err != nil {
		return err
	}
	if err := c.Image.validate(); err != nil {
		return err
	}
	if err := validateCloud(c.Cloud, c.Gateway.Cloud); err != nil {
		return err
	}
	if err := c.MDNS.validate(); err != nil {
		return err
	}
	if err := validateGPIO(c.GPIO); err != nil {
		return err
	}
	r := c.Retention
	if r.MaxAge < 0 {
		return &edge.ConfigError{Field: "retention.max_age", Msg: fmt.Sprintf("%s must not be negative (0 keeps sessions of any age)", formatDuration(r.MaxAge))}
	}
	if r.MaxSessions < 0 {
		return &edge.ConfigError{Field: "retention.max_sessions", Msg: fmt.Sprintf("%d must not be negative (0 keeps any number)", r.MaxSessions)}
	}
	if r.Every <= 0 {
		return &edge.ConfigError{Field: "retention.every", Msg: fmt.Sprintf("%s must be positive", formatDuration(r.Every))}
	}
	return nil
}

// checkListen accepts host:port where host is empty (every interface), an
// IP address or "localhost", and port is a number. It does no lookups.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (for example \":8000\" or \"127.0.0.1:8000\")", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host %q is not an IP address (leave it empty to listen on every interface)", addr, host)
		}
	}
	return nil
}

// toFile returns the configuration in the file's shape, every field
// filled in. With mask set, secrets are replaced by "****" (followed by
// their last four characters when they are long enough not to give much
// away).
func (c daemonConfig) toFile(mask bool) fileConfig {
	g := c.Gateway
	sec := func(s string) string {
		if mask {
			return maskSecret(s)
		}
		return s
	}
	keys := []string{}
	for _, k := range g.Auth.APIKeys {
		keys = append(keys, sec(k))
	}
	devKeys := map[string]string{}
	for serial, k := range g.Activation.DeviceKeys {
		devKeys[serial] = sec(k)
	}
	phrases := slices.Clone(g.WakePhrases)
	if phrases == nil {
		phrases = []string{}
	}
	maxAge, maxSess, every := duration(c.Retention.MaxAge), c.Retention.MaxSessions, duration(c.Retention.Every)
	return fileConfig{
		Server: serverFile{Listen: c.Listen, StateDir: c.StateDir, LogLevel: c.LogLevel, LogFormat: c.LogFormat},
		Gateway: gatewayFile{
			OTAPath: g.OTAPath, WSPath: g.WSPath, ImagePath: g.ImagePath, PublicURL: g.PublicURL,
			ProtocolVersion: g.ProtocolVersion, MaxSessions: g.MaxSessions,
			HelloTimeout: duration(g.HelloTimeout), KeepAlive: duration(g.KeepAlive),
			ReadTimeout: duration(g.ReadTimeout), WriteTimeout: duration(g.WriteTimeout),
			MaxFrameBytes: g.MaxFrameBytes, MaxUtterance: duration(g.MaxUtterance),
			MCPTimeout: duration(g.MCPTimeout), PreviewTimeout: duration(g.PreviewTimeout),
			STTTimeout: duration(g.STTTimeout), ImageTimeout: duration(g.ImageTimeout),
			WakePhrases: phrases,
		},
		Auth: authFile{Required: g.Auth.Required, APIKeys: keys, TokenTTL: duration(g.Auth.TokenTTL),
			Enrollment: g.Auth.Enrollment, EnrollmentWindow: duration(g.Auth.EnrollmentWindow)},
		Activation: activationFile{
			Enabled: g.Activation.Enabled, Secret: sec(g.Activation.Secret), DeviceKeys: devKeys,
			RequireApproval: g.Activation.RequireApproval, Timeout: duration(g.Activation.Timeout),
		},
		Endpoint: endpointFile{
			Threshold: g.Endpoint.Threshold, Silence: duration(g.Endpoint.Silence),
			MinSpeech: duration(g.Endpoint.MinSpeech),
		},
		STT:       c.STT.toFile(sec),
		Image:     c.Image.toFile(sec),
		Retention: retentionFile{MaxAge: &maxAge, MaxSessions: &maxSess, Every: &every, KeepAudio: c.Retention.KeepAudio},
		Cloud:     cloudToFile(c.Cloud, g.Cloud, sec),
		MDNS:      c.MDNS.toFile(),
		GPIO:      gpioToFile(c.GPIO),
	}
}

// toFile returns the image settings in the file's shape.
func (c imageConfig) toFile(sec func(string) string) imageFile {
	g, b := c.Generator, c.Backend
	fallback := g.Fallback
	words := slices.Clone(g.BlockedWords)
	if words == nil {
		words = []string{}
	}
	extra := map[string]any{}
	for k, v := range b.Extra {
		extra[k] = v
	}
	return imageFile{
		Backend: b.Kind, BaseURL: b.BaseURL, Model: b.Model, Size: b.Size, APIKey: sec(b.APIKey),
		AttemptTimeout: duration(b.AttemptTimeout), Timeout: duration(b.Timeout), MaxRetries: b.MaxRetries,
		PromptTemplate: g.Prompt.Template, NegativePrompt: g.Prompt.Negative,
		Width: g.Render.Width, Aspect: g.Render.Aspect, Fit: g.Render.Fit, Dither: g.Render.Dither,
		ClassroomMode: g.ClassroomMode, BlockedWords: words, Fallback: &fallback, Extra: extra,
	}
}

// maskSecret hides a secret; secrets of 12 characters or more keep their
// last four visible so an operator can tell keys apart.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) >= 12 {
		return "****" + string(r[len(r)-4:])
	}
	return "****"
}

// encodeTOML writes the configuration as TOML.
func (c daemonConfig) encodeTOML(mask bool) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(c.toFile(mask)); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	// Put a blank line before every table, as the documented file has.
	out := bytes.ReplaceAll(b.Bytes(), []byte("\n["), []byte("\n\n["))
	return bytes.ReplaceAll(out, []byte("\n\n\n["), []byte("\n\n[")), nil
}
