//go:build whispercpp

package whispercpp

// #include <stdlib.h>
// extern void stikadoo_whisper_log_to_go(void);
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// whisper.cpp and ggml log through one process-wide callback. Lines go to
// the logger of the latest engine or VAD made: errors and warnings at
// Warn, the rest (model details, timings) at Debug.
var whisperLog struct {
	once sync.Once
	mu   sync.Mutex
	log  *slog.Logger
	line strings.Builder // text of the line being written
	warn bool            // the line being written is a warning or an error
}

// ggml's log levels (enum ggml_log_level).
const (
	ggmlLogWarn  = 3
	ggmlLogError = 4
	ggmlLogCont  = 5
)

// routeLogs sends whisper.cpp's logs to log from now on.
func routeLogs(log *slog.Logger) {
	whisperLog.mu.Lock()
	whisperLog.log = log
	whisperLog.mu.Unlock()
	whisperLog.once.Do(func() { C.stikadoo_whisper_log_to_go() })
}

// routeLogsIfUnset sends whisper.cpp's logs to slog's default logger
// unless an engine named a logger already.
func routeLogsIfUnset() {
	whisperLog.mu.Lock()
	set := whisperLog.log != nil
	whisperLog.mu.Unlock()
	if !set {
		routeLogs(slog.Default())
	}
}

//export stikadooWhisperLog
func stikadooWhisperLog(level C.int, text *C.char) {
	s := C.GoString(text)
	l := &whisperLog
	l.mu.Lock()
	defer l.mu.Unlock()
	if level != ggmlLogCont {
		l.warn = level == ggmlLogWarn || level == ggmlLogError
	}
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			l.line.WriteString(s)
			return
		}
		l.line.WriteString(s[:i])
		s = s[i+1:]
		if msg := strings.TrimSpace(l.line.String()); msg != "" && l.log != nil {
			lv := slog.LevelDebug
			if l.warn {
				lv = slog.LevelWarn
			}
			l.log.Log(context.Background(), lv, "whisper.cpp", "line", msg)
		}
		l.line.Reset()
	}
}
