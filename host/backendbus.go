package host

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/wasmsock/wasmsock/host/busapi"
	"github.com/wasmsock/wasmsock/host/config"
)

// The backend API over NATS (package busapi; README.md, "Backend API over NATS"): every node of
// a cluster answers the commands of the HTTP backend API on <cluster>.api.<command> (any
// namespace, like the admin key) and <cluster>.api.ns.<namespace>.<command> (that namespace
// only, through CommandIn), one node per request.

// scopedKey marks the context of a command run for one namespace (CommandIn).
type scopedKey struct{}

func (s *Server) scoped(ctx context.Context) bool {
	v, _ := ctx.Value(scopedKey{}).(bool)
	return v
}

// noConn is the error of a send or close whose connection is not found.
func noConn(r clusterReq) string {
	if r.CheckNS {
		return "no such connection in namespace " + strconv.Quote(r.Namespace)
	}
	return "no such connection"
}

// groupsOf lists the groups of namespace ns (with their sizes over the cluster).
func (s *Server) groupsOf(ctx context.Context, ns string) (int, any) {
	status, answer := s.cmdGroups(ctx, GroupsRequest{})
	m, ok := answer.(map[string]any)
	if status != http.StatusOK || !ok {
		return status, answer
	}
	all, _ := m["groups"].([]Group)
	mine := []Group{}
	for _, g := range all {
		if g.Namespace == ns {
			mine = append(mine, g)
		}
	}
	m["groups"] = mine
	return status, m
}

// serveBackendAPI starts answering the backend API over NATS; a host without [cluster] has no
// NATS connection and does not.
func (s *Server) serveBackendAPI(cfg *config.Config) error {
	if s.cluster == nil {
		return nil
	}
	api, err := busapi.Serve(s.cluster.Conn(), cfg.Cluster.Name+".api", Commands, cfg.Cluster.RequestTimeout.D+time.Second,
		func(ctx context.Context, name string, body []byte, ns string, scoped bool) (int, any) {
			if scoped {
				return s.CommandIn(ctx, name, body, ns)
			}
			return s.Command(ctx, name, body)
		})
	if err != nil {
		return err
	}
	s.backendAPI = api
	return nil
}
