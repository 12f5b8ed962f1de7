package host

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/cluster"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hub"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// What nodes ask each other (package cluster carries the bytes): the backend API's commands
// and a plugin's send or close to a connection on another node. Group broadcasts of plugins
// do not come this way: they travel on the groups' own subjects (cluster.Broker).

// clusterReq is one node's request to another, or to all (JSON: control traffic, not the hot
// path).
type clusterReq struct {
	Op        string `json:"op"` // publish, broadcast, send, close, groups, pluginNamesend, pluginNameclose, presence
	Namespace string `json:"ns,omitempty"`
	Group     string `json:"group,omitempty"`
	All       bool   `json:"all,omitempty"`
	Conn      uint64 `json:"conn,omitempty"`
	Plugin    string `json:"plugin,omitempty"`
	Kind      int32  `json:"kind,omitempty"`
	Data      []byte `json:"data,omitempty"`
	Code      int    `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// CheckNS: send and close find Conn only among the connections of Namespace.
	CheckNS bool `json:"check_ns,omitempty"`
	// Members: presence answers the members too, not only the size.
	Members bool `json:"members,omitempty"`
}

// clusterResp is a node's answer.
type clusterResp struct {
	Delivered int      `json:"delivered,omitempty"`
	Status    int      `json:"status,omitempty"` // HTTP status of send and close
	Error     string   `json:"error,omitempty"`
	ABI       int32    `json:"abi,omitempty"` // status of pluginNamesend and pluginNameclose
	Groups    []Group  `json:"groups,omitempty"`
	Members   []Member `json:"members,omitempty"`
	// Size and Presence answer presence: the group's size on the node and its members in the
	// group_members encoding (plugin.EncodeMembers), ids of other plugins' connections zeroed.
	Size     int    `json:"size,omitempty"`
	Presence []byte `json:"presence,omitempty"`
}

// joinCluster makes the hub carry groups over the node's NATS connection and answers the other
// nodes' requests.
func (s *Server) joinCluster(n *cluster.Node, cfg *config.Config) error {
	s.broker = cluster.NewBroker(n, func(k hub.Key, m hub.Message) {
		s.fanOut(s.hub.Members(k.Namespace, k.Name), m.Kind, m.Data, m.Except)
	})
	s.hub, s.ids = hub.New[*Conn](s.broker, groupLimits(cfg)), hub.NewIDs(n.ID())
	return n.Handle(func(req []byte) []byte {
		var r clusterReq
		if err := json.Unmarshal(req, &r); err != nil {
			b, _ := json.Marshal(clusterResp{Status: http.StatusBadRequest, Error: err.Error()})
			return b
		}
		b, _ := json.Marshal(s.local(r))
		return b
	})
}

// local carries out a request on this node's connections.
func (s *Server) local(r clusterReq) clusterResp {
	switch r.Op {
	case "publish":
		return clusterResp{Delivered: s.fanOut(s.hub.Members(r.Namespace, r.Group), r.Kind, r.Data, 0)}
	case "broadcast":
		var members []*Conn
		for _, c := range s.hub.All() {
			if r.All || c.namespace == r.Namespace {
				members = append(members, c)
			}
		}
		return clusterResp{Delivered: s.fanOut(members, r.Kind, r.Data, 0)}
	case "groups":
		return s.localGroups(r)
	case "presence":
		size, ms := s.localPresence(r.Plugin, r.Namespace, r.Group, r.Members)
		a := clusterResp{Size: size}
		if r.Members {
			a.Presence = make([]byte, plugin.EncodeMembers(nil, ms))
			plugin.EncodeMembers(a.Presence, ms)
			// The answer must fit in one NATS message (JSON carries the bytes in base64).
			if max := s.cluster.Conn().MaxPayload(); int64(len(a.Presence))*4/3+1024 > max {
				return clusterResp{Status: http.StatusRequestEntityTooLarge, Error: "this node's members of the group do not fit in a NATS message"}
			}
		}
		return a
	case "send":
		c := s.conn(r.Conn)
		if c == nil || r.CheckNS && c.namespace != r.Namespace {
			return clusterResp{Status: http.StatusNotFound, Error: noConn(r)}
		}
		if st := c.send(r.Kind, r.Data, viaWriters); st != abi.OK {
			return clusterResp{Status: http.StatusConflict, Error: "not sent: " + st.String()}
		}
		return clusterResp{Status: http.StatusOK, Delivered: 1}
	case "close":
		c := s.conn(r.Conn)
		switch {
		case c == nil || r.CheckNS && c.namespace != r.Namespace:
			return clusterResp{Status: http.StatusNotFound, Error: noConn(r)}
		case !c.startClose(r.Code, r.Reason, false):
			return clusterResp{Status: http.StatusConflict, Error: "already closing"}
		}
		return clusterResp{Status: http.StatusOK}
	case "pluginNamesend", "pluginNameclose":
		h := &pluginHost{s: s, plugin: r.Plugin}
		c := s.conn(r.Conn)
		if c == nil || c.route.cfg.Plugin != r.Plugin || c.namespace != r.Namespace {
			return clusterResp{ABI: int32(abi.ErrUnknownConn)}
		}
		if r.Op == "pluginNamesend" {
			return clusterResp{ABI: int32(c.send(r.Kind, r.Data, viaWriters))}
		}
		return clusterResp{ABI: int32(h.closeConn(c, r.Code, r.Reason))}
	}
	return clusterResp{Status: http.StatusBadRequest, Error: "unknown op " + r.Op}
}

func (s *Server) localGroups(r clusterReq) clusterResp {
	if r.Group == "" {
		return clusterResp{Groups: s.hub.Groups()}
	}
	var ms []Member
	for _, c := range s.hub.Members(r.Namespace, r.Group) {
		ms = append(ms, Member{Conn: c.id, Node: hub.Node(c.id), User: c.user, Route: c.route.cfg.Path, RemoteAddr: c.remoteAddr})
	}
	return clusterResp{Members: ms}
}

// clusterPresence adds the other nodes' members of a group to size and members (presence in a
// cluster: a scatter-gather over the nodes heard from). It waits at most request_timeout and at
// most half of what is left of the guest call (ctx), so that the guest keeps time to handle an
// error. NATS unreachable, or a node that does not answer in time: abi.ErrUnavailable (a partial
// list is never given as the whole); a node whose part does not fit in a NATS message:
// abi.ErrTooLarge.
func (s *Server) clusterPresence(ctx context.Context, pluginName, ns, group string, members bool, size *int, out *[]plugin.Member) abi.Status {
	if s.cluster.State() != cluster.Connected {
		s.metrics.presenceUnavailable.Inc()
		return abi.ErrUnavailable
	}
	wait := s.cluster.RequestTimeout()
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, _ := json.Marshal(clusterReq{Op: "presence", Plugin: pluginName, Namespace: ns, Group: group, Members: members})
	raw, complete, err := s.cluster.Gather(ctx, req)
	if err != nil || !complete {
		s.metrics.presenceUnavailable.Inc()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("cluster: presence request failed", "error", err)
		}
		return abi.ErrUnavailable
	}
	for _, b := range raw {
		var a clusterResp
		if err := json.Unmarshal(b, &a); err != nil {
			s.metrics.presenceUnavailable.Inc()
			return abi.ErrUnavailable
		}
		if a.Status == http.StatusRequestEntityTooLarge {
			return abi.ErrTooLarge
		}
		*size += a.Size
		if members {
			ms, err := plugin.DecodeMembers(a.Presence)
			if err != nil {
				s.log.Warn("cluster: bad presence answer", "error", err)
				s.metrics.presenceUnavailable.Inc()
				return abi.ErrUnavailable
			}
			*out = append(*out, ms...)
		}
	}
	return abi.OK
}

// gather asks every other node and decodes their answers; nodes counts this one too.
func (s *Server) gather(ctx context.Context, r clusterReq) (answers []clusterResp, nodes int, complete bool) {
	if s.cluster == nil {
		return nil, 1, true
	}
	req, _ := json.Marshal(r)
	raw, complete, err := s.cluster.Gather(ctx, req)
	if err != nil {
		s.log.Warn("cluster request failed", "op", r.Op, "error", err)
		complete = false
	}
	for _, b := range raw {
		var a clusterResp
		if json.Unmarshal(b, &a) == nil {
			answers = append(answers, a)
		}
	}
	return answers, len(answers) + 1, complete
}

// deliverEverywhere runs a publish or broadcast here and on every other node and adds up the
// deliveries.
func (s *Server) deliverEverywhere(ctx context.Context, r clusterReq) (int, any) {
	if s.cluster != nil && s.broker != nil {
		if max := s.cluster.Conn().MaxPayload(); int64(len(r.Data))*4/3+1024 > max {
			s.broker.Stats.TooLarge.Add(1)
			return http.StatusRequestEntityTooLarge, APIError{"message too large for the cluster's NATS max_payload"}
		}
	}
	n := s.local(r).Delivered
	answers, nodes, complete := s.gather(ctx, r)
	for _, a := range answers {
		n += a.Delivered
	}
	return http.StatusOK, Delivered{Delivered: n, Nodes: nodes, Incomplete: !complete}
}

// onNodeOf runs send or close on the node that holds the connection.
func (s *Server) onNodeOf(ctx context.Context, conn uint64, r clusterReq) (int, any) {
	var a clusterResp
	if node := hub.Node(conn); s.cluster == nil || node == s.cluster.ID() {
		a = s.local(r)
	} else {
		var err error
		if a, err = s.ask(ctx, node, r); err != nil {
			if errors.Is(err, cluster.ErrNoNode) {
				return http.StatusNotFound, APIError{"no such connection"}
			}
			return http.StatusGatewayTimeout, APIError{"node " + itoa(node) + " did not answer: " + err.Error()}
		}
	}
	if a.Status != http.StatusOK {
		return a.Status, APIError{a.Error}
	}
	if r.Op == "close" {
		return http.StatusOK, map[string]bool{"closing": true}
	}
	return http.StatusOK, Delivered{Delivered: 1, Nodes: 1}
}

func (s *Server) ask(ctx context.Context, node int, r clusterReq) (clusterResp, error) {
	req, _ := json.Marshal(r)
	b, err := s.cluster.Ask(ctx, node, req)
	if err != nil {
		return clusterResp{}, err
	}
	var a clusterResp
	err = json.Unmarshal(b, &a)
	return a, err
}

// remote carries a plugin's send or close to the node that holds conn. ok is false when conn
// does not name a connection of another node of this cluster.
func (h *pluginHost) remote(current, conn uint64, r clusterReq) (abi.Status, bool) {
	s := h.s
	node := hub.Node(conn)
	if s.cluster == nil || node == 0 || node == s.cluster.ID() {
		return 0, false
	}
	r.Conn, r.Plugin, r.Namespace = conn, h.plugin, h.scope(current)
	a, err := s.ask(context.Background(), node, r)
	if err != nil {
		if !errors.Is(err, cluster.ErrNoNode) {
			s.log.Warn("cluster: no answer from node", "node", node, "op", r.Op, "error", err)
		}
		return abi.ErrUnknownConn, true
	}
	return abi.Status(a.ABI), true
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
