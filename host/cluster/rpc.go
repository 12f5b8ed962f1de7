package cluster

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// originHeader names the node that sent a request, so that a node skips its own.
const originHeader = "Wasmsock-Node"

// ErrNoNode is what Ask returns when no node has that id (it is gone, or never was).
var ErrNoNode = errors.New("no such node")

// Handle answers requests on two subjects: NAME.all, which every node receives (Gather), and
// NAME.node.ID, this node's own (Ask). h gets the request's bytes and returns the answer's.
// Requests this node sent itself are not handed to h.
func (n *Node) Handle(h func(req []byte) []byte) error {
	self := strconv.Itoa(n.id)
	serve := func(m *nats.Msg) {
		if m.Header.Get(originHeader) == self || m.Reply == "" {
			return
		}
		// The answer names this node, so that Gather knows who has answered.
		_ = n.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Data: h(m.Data), Header: nats.Header{originHeader: {self}}})
	}
	for _, subj := range []string{n.Subject("all"), n.Subject("node", strconv.Itoa(n.id))} {
		if _, err := n.nc.Subscribe(subj, serve); err != nil {
			return err
		}
	}
	return nil
}

// Gather sends req to every other node and returns their answers: one from each node heard from
// (Peers), or those that came before request_timeout or ctx's deadline, whichever is first
// (complete is false then). It stops waiting as soon as every node of the peer set has answered.
// A node alone gets none, complete. While NATS is unreachable it fails at once.
func (n *Node) Gather(ctx context.Context, req []byte) (answers [][]byte, complete bool, err error) {
	peers := n.Peers()
	if len(peers) == 0 {
		return nil, true, nil
	}
	pending := make(map[string]bool, len(peers))
	for _, p := range peers {
		pending[strconv.Itoa(p.ID)] = true
	}
	inbox := n.nc.NewRespInbox()
	ch := make(chan *nats.Msg, len(peers)+8)
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	msg := &nats.Msg{Subject: n.Subject("all"), Reply: inbox, Data: req, Header: nats.Header{originHeader: {strconv.Itoa(n.id)}}}
	if err := n.nc.PublishMsg(msg); err != nil {
		return nil, false, err
	}
	timer := time.NewTimer(n.cfg.RequestTimeout.D)
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case m := <-ch:
			// A node not in the snapshot (it started a moment ago) answers too: its answer
			// counts, it is just not waited for.
			delete(pending, m.Header.Get(originHeader))
			answers = append(answers, m.Data)
		case <-timer.C:
			return answers, false, nil
		case <-ctx.Done():
			return answers, false, ctx.Err()
		}
	}
	return answers, true, nil
}

// Ask sends req to the node with that id and returns its answer.
func (n *Node) Ask(ctx context.Context, node int, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout.D)
	defer cancel()
	msg := &nats.Msg{Subject: n.Subject("node", strconv.Itoa(node)), Data: req, Header: nats.Header{originHeader: {strconv.Itoa(n.id)}}}
	resp, err := n.nc.RequestMsgWithContext(ctx, msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoNode
	}
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}
