package natstest_test

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
)

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      *server.Options
		jetStream bool
	}{
		{"defaults", nil, false},
		{"jetstream", &server.Options{JetStream: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := natstest.Start(t, tc.opts)
			nc, err := nats.Connect(ns.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("x")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("x", []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.NextMsg(natstest.StartTimeout); err != nil || string(m.Data) != "hi" {
				t.Fatalf("round trip: %v %v", m, err)
			}
			if got := ns.JetStreamEnabled(); got != tc.jetStream {
				t.Errorf("JetStreamEnabled() = %v, want %v", got, tc.jetStream)
			}
		})
	}
}
