// Package busapi serves the backend API over NATS: every command of the HTTP backend API
// (/api/publish, /api/send, ...) as a request subject, with the same JSON bodies and the same
// JSON answers, so that a backend service in any language with a NATS client reaches the
// connections of every node without HTTP or the admin key. NATS permissions decide who may use
// it (README.md, "Backend API over NATS").
//
// Two families of subjects, both queue-subscribed by every node (one node answers each request;
// the commands themselves reach every node):
//
//	<cluster>.api.<command>              the admin form: exactly the HTTP API, any namespace
//	<cluster>.api.ns.<token>.<command>   the tenant form: the namespace is the subject's
//
// In the tenant form the namespace comes from the subject (token escaped as the cluster escapes
// names): a "namespace" in the body must be absent or equal to it, "all_namespaces" is refused,
// and a connection id of another namespace is no connection. Granting a backend
// "<cluster>.api.ns.acme.>" lets it act for acme and nobody else.
package busapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster"
)

// Run runs command name with the JSON request body, for namespace ns when scoped (the tenant
// form), and returns an HTTP status and the answer to encode as JSON, as the HTTP API does.
type Run func(ctx context.Context, name string, body []byte, ns string, scoped bool) (int, any)

// QueueGroup is the queue group of the API's subscriptions: one node answers each request.
const QueueGroup = "wasmsock-api"

// Headers of an answer. Every answer carries HeaderStatus (the HTTP status the same call over
// HTTP gets); an error also carries the NATS service error headers, as the nats.go micro package
// sets them, so that "nats req" and micro clients see it as an error.
const (
	HeaderStatus           = "Wasmsock-Status"
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
)

// Server answers the API's subjects until Stop.
type Server struct {
	subs    []*nats.Subscription
	timeout time.Duration
	run     Run
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// Serve subscribes to the API's subjects under prefix ("<cluster>.api") for every command, and
// answers with run; each command gets at most timeout. Requests are handled one at a time per
// subject (NATS delivers a subscription's messages in order), each without blocking NATS's
// reader.
func Serve(nc *nats.Conn, prefix string, commands []string, timeout time.Duration, run Run) (*Server, error) {
	s := &Server{timeout: timeout, run: run}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, c := range commands {
		name := c
		admin, err := nc.QueueSubscribe(prefix+"."+name, QueueGroup, func(m *nats.Msg) { s.handle(m, name, "", false) })
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.subs = append(s.subs, admin)
		tenant, err := nc.QueueSubscribe(prefix+".ns.*."+name, QueueGroup, func(m *nats.Msg) {
			tok := strings.TrimSuffix(strings.TrimPrefix(m.Subject, prefix+".ns."), "."+name)
			ns, ok := cluster.Untoken(tok)
			if !ok {
				respond(m, http.StatusBadRequest, apiError{"bad namespace token " + strconv.Quote(tok) + " in the subject"})
				return
			}
			s.handle(m, name, ns, true)
		})
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.subs = append(s.subs, tenant)
	}
	return s, nil
}

// Stop unsubscribes and waits for the commands in progress.
func (s *Server) Stop() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.cancel()
	s.wg.Wait()
}

type apiError struct {
	Error string `json:"error"`
}

func (s *Server) handle(m *nats.Msg, name, ns string, scoped bool) {
	if m.Reply == "" {
		return // a publication, not a request: there is nobody to answer (and nothing is done)
	}
	s.wg.Add(1)
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	status, answer := s.run(ctx, name, m.Data, ns, scoped)
	respond(m, status, answer)
}

// respond answers m with the JSON of answer and the status headers.
func respond(m *nats.Msg, status int, answer any) {
	body, err := json.Marshal(answer)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"answer not encodable"}`)
	}
	r := nats.NewMsg(m.Reply)
	r.Data = body
	r.Header.Set(HeaderStatus, strconv.Itoa(status))
	if status >= 400 {
		r.Header.Set(HeaderServiceErrorCode, strconv.Itoa(status))
		desc := http.StatusText(status)
		var ae apiError
		if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
			desc = ae.Error
		}
		r.Header.Set(HeaderServiceError, desc)
	}
	_ = m.RespondMsg(r)
}
