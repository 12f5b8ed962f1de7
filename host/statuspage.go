package host

import (
	"html/template"
	"net/http"
)

var statusTemplate = template.Must(template.ParseFS(webFiles, "web/status/status.html"))

// statusPage renders the operator's status page: routes, plugins (hash, load time, last reload),
// connection counts and the largest groups. It refreshes itself every 5 seconds.
func (s *Server) statusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := statusTemplate.Execute(w, s.Status()); err != nil {
		s.log.Error("status page", "error", err)
	}
}
