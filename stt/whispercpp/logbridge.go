//go:build whispercpp

package whispercpp

// The C side of log.go, which cannot hold C definitions because it
// exports a Go function to C.

/*
#include <whisper.h>

extern void stikadooWhisperLog(int level, char *text);

static void stikadoo_whisper_log(enum ggml_log_level level, const char *text, void *user_data) {
	(void)user_data;
	stikadooWhisperLog((int)level, (char *)text);
}

void stikadoo_whisper_log_to_go(void) {
	whisper_log_set(stikadoo_whisper_log, NULL);
}
*/
import "C"
