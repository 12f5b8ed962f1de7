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
	serve := func(m *nats.Msg) {
		if m.Header.Get(originHeader) == strconv.Itoa(n.id) || m.Reply == "" {
			return
		}
		_ = m.Respond(h(m.Data))
	}
	for _, subj := range []string{n.Subject("all"), n.Subject("node", strconv.Itoa(n.id))} {
		if _, err := n.nc.Subscribe(subj, serve); err != nil {
			return err
		}
	}
	return nil
}

// Gather sends req to every other node and returns their answers: all of them, or those that
// came within request_timeout (complete is false then). A node alone gets none, complete.
func (n *Node) Gather(ctx context.Context, req []byte) (answers [][]byte, complete bool, err error) {
	want := len(n.Peers())
	if want == 0 {
		return nil, true, nil
	}
	inbox := n.nc.NewRespInbox()
	ch := make(chan *nats.Msg, want)
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
	for len(answers) < want {
		select {
		case m := <-ch:
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
