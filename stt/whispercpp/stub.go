//go:build !whispercpp

package whispercpp

// Version reports "" in the build without whisper.cpp.
func Version() string { return "" }
