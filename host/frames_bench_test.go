package host

import (
	"strings"
	"testing"

	"github.com/wasmsock/wasmsock/host/internal/wsproto"
)

// BenchmarkBroadcastCompression compares, for one broadcast of a 4 KiB JSON text to 1000 members
// that negotiated permessage-deflate, compressing once and sharing the frame (what wasmsock does)
// with compressing once per member.
func BenchmarkBroadcastCompression(b *testing.B) {
	members := make([]*Conn, 1000)
	for i := range members {
		members[i] = &Conn{deflate: true}
	}
	data := []byte(`{"action":"receive_message","room":"general","from":"alice","text":"` + strings.Repeat("the quick brown fox jumps over the lazy dog ", 93) + `"}`)
	var out int
	b.Run("compress-once", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := frames{op: wsproto.OpText, data: data}
			for _, m := range members {
				out += len(f.forConn(m))
			}
		}
	})
	b.Run("compress-per-member", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for range members {
				out += len(wsproto.CompressedFrame(wsproto.OpText, data))
			}
		}
	})
	b.Run("uncompressed", func(b *testing.B) {
		plain := make([]*Conn, len(members))
		for i := range plain {
			plain[i] = &Conn{}
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := frames{op: wsproto.OpText, data: data}
			for _, m := range plain {
				out += len(f.forConn(m))
			}
		}
	})
	b.Logf("payload %d bytes, compressed frame %d bytes", len(data), len(wsproto.CompressedFrame(wsproto.OpText, data)))
	_ = out
}
