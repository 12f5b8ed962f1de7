package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/internal/wsproto"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// The backend API: what the socket-container seed's services did with its event bus ("send",
// "broadcast"). Each command is a function from a decoded request to an HTTP-style status and a
// JSON-able answer, so that any transport can carry it: the HTTP handlers of /api/... below, or
// NATS request subjects. Command is the one entry point; README.md documents the commands. In a
// cluster every command reaches connections on every node.

// Commands are the names Command knows.
var Commands = []string{"publish", "send", "close", "groups", "broadcast"}

// Payload is a message in a backend request: text, or binary in base64.
type Payload struct {
	Text   *string `json:"text,omitempty"`
	Binary []byte  `json:"binary,omitempty"` // base64 in JSON
}

// PublishRequest sends a message to a group of a namespace.
type PublishRequest struct {
	Namespace string `json:"namespace"`
	Group     string `json:"group"`
	Payload
}

// SendRequest sends a message to every connection of a user, or to one connection.
type SendRequest struct {
	Namespace string `json:"namespace"`
	User      string `json:"user"`
	Conn      uint64 `json:"conn"`
	Payload
}

// CloseRequest closes one connection (of Namespace, when given).
type CloseRequest struct {
	Namespace string `json:"namespace"`
	Conn      uint64 `json:"conn"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
}

// GroupsRequest lists every group and its size, or, with Group set, one group's members.
type GroupsRequest struct {
	Namespace string `json:"namespace"`
	Group     string `json:"group"`
}

// BroadcastRequest sends a message to every connection of a namespace, or of every namespace
// with AllNamespaces.
type BroadcastRequest struct {
	Namespace     string `json:"namespace"`
	AllNamespaces bool   `json:"all_namespaces"`
	Payload
}

// Delivered is the answer of publish, send and broadcast: how many connections the message was
// queued to, and how many nodes counted (Incomplete: some node did not answer in time).
type Delivered struct {
	Delivered  int  `json:"delivered"`
	Nodes      int  `json:"nodes"`
	Incomplete bool `json:"incomplete,omitempty"`
}

// Member is one connection in a GroupsRequest's answer.
type Member struct {
	Conn       uint64 `json:"conn"`
	Node       int    `json:"node,omitempty"`
	User       string `json:"user,omitempty"`
	Route      string `json:"route"`
	RemoteAddr string `json:"remote_addr"`
}

// APIError is the answer of a command that failed.
type APIError struct {
	Error string `json:"error"`
}

func (p Payload) message() (int32, []byte, error) {
	switch {
	case p.Text != nil && p.Binary != nil:
		return 0, nil, errors.New(`give "text" or "binary", not both`)
	case p.Text != nil:
		if !wsproto.ValidUTF8([]byte(*p.Text)) {
			return 0, nil, errors.New(`"text" is not valid UTF-8`)
		}
		return abi.KindText, []byte(*p.Text), nil
	case p.Binary != nil:
		return abi.KindBinary, p.Binary, nil
	}
	return 0, nil, errors.New(`missing "text" or "binary"`)
}

// MaxCommandBytes is the largest request body Command accepts: room for the largest message any
// route accepts, in base64, and more.
func (s *Server) MaxCommandBytes() int64 { return 2*s.maxMessage() + 1<<20 }

// Command runs the backend command name on body, a JSON request (unknown fields are errors).
// It returns an HTTP status and the answer to encode as JSON: 200 with the command's answer, or
// an error status with an APIError.
func (s *Server) Command(ctx context.Context, name string, body []byte) (int, any) {
	return s.command(ctx, name, body, nil)
}

// CommandIn is Command for a backend that acts for namespace ns only (the tenant subjects of the
// backend API over NATS): a "namespace" in the body must be ns (or absent), a connection id must
// be one of ns, "all_namespaces" is refused, and groups lists ns's groups only.
func (s *Server) CommandIn(ctx context.Context, name string, body []byte, ns string) (int, any) {
	return s.command(ctx, name, body, &ns)
}

func (s *Server) command(ctx context.Context, name string, body []byte, scope *string) (int, any) {
	if scope != nil {
		ctx = context.WithValue(ctx, scopedKey{}, true)
	}
	if int64(len(body)) > s.MaxCommandBytes() {
		return http.StatusRequestEntityTooLarge, APIError{"request over " + strconv.FormatInt(s.MaxCommandBytes(), 10) + " bytes"}
	}
	decode := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return errors.New("bad JSON body: " + err.Error())
		}
		return nil
	}
	bad := func(err error) (int, any) { return http.StatusBadRequest, APIError{err.Error()} }
	// inScope checks the namespace a scoped request names and fills it in.
	inScope := func(ns *string) (int, any, bool) {
		if scope == nil {
			return 0, nil, true
		}
		if *ns != "" && *ns != *scope {
			return http.StatusForbidden, APIError{"namespace " + strconv.Quote(*ns) + " is not this subject's namespace " + strconv.Quote(*scope)}, false
		}
		*ns = *scope
		return 0, nil, true
	}
	switch name {
	case "publish":
		var req PublishRequest
		if err := decode(&req); err != nil {
			return bad(err)
		}
		if st, resp, ok := inScope(&req.Namespace); !ok {
			return st, resp
		}
		return s.cmdPublish(ctx, req)
	case "send":
		var req SendRequest
		if err := decode(&req); err != nil {
			return bad(err)
		}
		if st, resp, ok := inScope(&req.Namespace); !ok {
			return st, resp
		}
		return s.cmdSend(ctx, req)
	case "close":
		var req CloseRequest
		if err := decode(&req); err != nil {
			return bad(err)
		}
		if st, resp, ok := inScope(&req.Namespace); !ok {
			return st, resp
		}
		return s.cmdClose(ctx, req)
	case "groups":
		var req GroupsRequest
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decode(&req); err != nil {
				return bad(err)
			}
		}
		if st, resp, ok := inScope(&req.Namespace); !ok {
			return st, resp
		}
		if scope != nil && req.Group == "" {
			return s.groupsOf(ctx, *scope)
		}
		return s.cmdGroups(ctx, req)
	case "broadcast":
		var req BroadcastRequest
		if err := decode(&req); err != nil {
			return bad(err)
		}
		if st, resp, ok := inScope(&req.Namespace); !ok {
			return st, resp
		}
		if scope != nil && req.AllNamespaces {
			return http.StatusForbidden, APIError{`"all_namespaces" needs the admin subject, not a namespace's`}
		}
		return s.cmdBroadcast(ctx, req)
	}
	return http.StatusNotFound, APIError{"no command " + strconv.Quote(name) + " (commands: " + strings.Join(Commands, ", ") + ")"}
}

// apiCommand serves POST /api/NAME: the JSON body is the request.
func (s *Server) apiCommand(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxCommandBytes()))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, APIError{"bad body: " + err.Error()})
			return
		}
		status, resp := s.Command(r.Context(), name, body)
		writeJSON(w, status, resp)
	}
}

// GET /api/groups: every group and its size; ?namespace=&group= lists one group's members.
func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := GroupsRequest{Namespace: q.Get("namespace")}
	if q.Has("group") {
		req.Group = q.Get("group")
		if req.Group == "" {
			writeJSON(w, http.StatusBadRequest, APIError{`"group" is empty`})
			return
		}
	}
	status, resp := s.cmdGroups(r.Context(), req)
	writeJSON(w, status, resp)
}

func (s *Server) cmdPublish(ctx context.Context, req PublishRequest) (int, any) {
	kind, data, err := req.message()
	if err == nil && !plugin.ValidGroupName([]byte(req.Group)) {
		err = errors.New(`"group" must be 1-128 bytes of UTF-8 without control characters`)
	}
	if err != nil {
		return http.StatusBadRequest, APIError{err.Error()}
	}
	return s.deliverEverywhere(ctx, clusterReq{Op: "publish", Namespace: req.Namespace, Group: req.Group, Kind: kind, Data: data})
}

func (s *Server) cmdSend(ctx context.Context, req SendRequest) (int, any) {
	kind, data, err := req.message()
	if err == nil && (req.User == "") == (req.Conn == 0) {
		err = errors.New(`give "user" or "conn"`)
	}
	if err != nil {
		return http.StatusBadRequest, APIError{err.Error()}
	}
	if req.User != "" {
		return s.deliverEverywhere(ctx, clusterReq{Op: "publish", Namespace: req.Namespace, Group: plugin.UserGroupPrefix + req.User, Kind: kind, Data: data})
	}
	// A namespace given with a connection id is checked: a connection of another namespace is
	// no connection (as for plugins).
	return s.onNodeOf(ctx, req.Conn, clusterReq{Op: "send", Conn: req.Conn, Namespace: req.Namespace, CheckNS: req.Namespace != "" || s.scoped(ctx), Kind: kind, Data: data})
}

func (s *Server) cmdClose(ctx context.Context, req CloseRequest) (int, any) {
	if req.Code == 0 {
		req.Code = wsproto.CloseNormal
	}
	if !abi.ValidCloseCode(req.Code) {
		return http.StatusBadRequest, APIError{"invalid close code " + strconv.Itoa(req.Code)}
	}
	return s.onNodeOf(ctx, req.Conn, clusterReq{Op: "close", Conn: req.Conn, Namespace: req.Namespace, CheckNS: req.Namespace != "" || s.scoped(ctx), Code: req.Code, Reason: req.Reason})
}

func (s *Server) cmdBroadcast(ctx context.Context, req BroadcastRequest) (int, any) {
	kind, data, err := req.message()
	if err == nil && req.AllNamespaces && req.Namespace != "" {
		err = errors.New(`give "namespace" or "all_namespaces", not both`)
	}
	if err != nil {
		return http.StatusBadRequest, APIError{err.Error()}
	}
	return s.deliverEverywhere(ctx, clusterReq{Op: "broadcast", Namespace: req.Namespace, All: req.AllNamespaces, Kind: kind, Data: data})
}

func (s *Server) cmdGroups(ctx context.Context, req GroupsRequest) (int, any) {
	local := s.localGroups(clusterReq{Op: "groups", Namespace: req.Namespace, Group: req.Group})
	answers, nodes, complete := s.gather(ctx, clusterReq{Op: "groups", Namespace: req.Namespace, Group: req.Group})
	if req.Group == "" {
		sizes := map[hub.Key]int{}
		for _, a := range append(answers, local) {
			for _, g := range a.Groups {
				sizes[hub.Key{Namespace: g.Namespace, Name: g.Name}] += g.Size
			}
		}
		groups := make([]Group, 0, len(sizes))
		for k, n := range sizes {
			groups = append(groups, Group{Namespace: k.Namespace, Name: k.Name, Size: n})
		}
		slices.SortFunc(groups, func(a, b Group) int {
			return strings.Compare(a.Namespace+"\x00"+a.Name, b.Namespace+"\x00"+b.Name)
		})
		return http.StatusOK, map[string]any{"groups": groups, "nodes": nodes, "incomplete": !complete}
	}
	members := []Member{}
	for _, a := range append(answers, local) {
		members = append(members, a.Members...)
	}
	slices.SortFunc(members, func(a, b Member) int { return cmpUint(a.Conn, b.Conn) })
	return http.StatusOK, map[string]any{"namespace": req.Namespace, "group": req.Group, "members": members, "nodes": nodes, "incomplete": !complete}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
