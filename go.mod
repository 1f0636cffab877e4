module github.com/stikadoo/stikadoo-edge

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/ggerganov/whisper.cpp/bindings/go v0.0.0-20260804135651-306c88f4d128 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/hraban/opus v0.0.0-20260708213942-bde8e4304501 // indirect
	github.com/makeworld-the-better-one/dither/v2 v2.4.0 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/image v0.47.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
