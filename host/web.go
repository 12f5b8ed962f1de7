package host

import (
	"embed"
	"io/fs"
	"net/http"
)

// The chat page (host/web/chat), built into the binary and served at "/" when the config's
// chat_page is on. It talks to the route "/chat" (plugins/chat).
//
//go:embed web/chat web/status
var webFiles embed.FS

func chatPage() http.Handler {
	sub, err := fs.Sub(webFiles, "web/chat")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
