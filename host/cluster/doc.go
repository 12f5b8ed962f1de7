// Package cluster connects a wasmsock host to the other nodes of its cluster through NATS.
//
// # Lifecycle
//
// A host whose config has a [cluster] table calls Start before it loads its plugins:
//
//  1. With embedded = true, Start runs a NATS server in the process on embedded_listen (the
//     other nodes list it in their urls). A taken address is an error that says so.
//  2. It connects to NATS (the embedded server first, then urls) within connect_timeout. A
//     server that cannot be reached, a credentials file that is not one, a token that is
//     refused: Start fails and says which key is wrong. wasmsock check does the same (Check).
//     There is no degraded start: a node that cannot reach its cluster does not serve.
//     With kv = "jetstream" (the plugins' shared stores in JetStream), the embedded server runs
//     JetStream in jetstream_dir, and Start asks the NATS server for this account's JetStream
//     within connect_timeout: a server without JetStream fails Start (and check) at cluster.kv.
//     JetStream gives the node's JetStream context; the host keeps one bucket per plugin in it
//     (KV, a kv.Store).
//  3. It claims a node id, 1-1023 (node_id, or a free one picked at random): a node answers on
//     the subject NAME.claim.ID, so a claim that finds no responder holds. The node id is in
//     the high bits of every connection id the node issues, so ids are unique in the cluster.
//  4. It says it is alive on NAME.nodes every second; a node not heard of for three seconds is
//     gone from Peers (and from cluster-wide answers such as /api/groups and presence).
//
// Then the host builds its hub (package host/hub) on a Broker: a group's messages travel on
// NAME.g.NAMESPACE.GROUP, which the node subscribes to while the group has members on it, and the
// node answers the others' requests (Handle) on NAME.all (backend commands that every node
// carries out, and presence: Gather) and NAME.node.ID (a send or close to one of its
// connections: Ask).
//
// Gather is a scatter-gather: one request on NAME.all, and the answers, each naming its node,
// until every node of Peers has answered, bounded by request_timeout and the caller's context.
// Presence (a plugin's group_size and group_members) is a Gather from inside a guest call: the
// host bounds it by half of what is left of the call's call_timeout too, and answers
// ErrUnavailable when the gather is incomplete (a node that is alive did not answer in time) or
// the node is not Connected: never a partial answer. Membership is not replicated; each node
// knows only its own members, and the answer is as fresh as the call.
//
// While it runs, the connection reconnects by itself, forever, when NATS is lost (State is
// Reconnecting meanwhile, and the host's /readyz answers 503). Subscriptions are renewed on
// reconnection. Nothing is buffered while disconnected: a publication then fails at once and the
// broker counts it as lost. Delivery across nodes is at most once (RATIONALE.md, "The cluster").
//
// Close (at the end of the host's drain, after the plugins' on_close, so their last broadcasts
// still leave) says goodbye on NAME.nodes (a heartbeat with a last byte 1), flushes and closes
// the connection and stops the embedded server; the other nodes drop it from Peers, and so from
// their answers, when the goodbye arrives. A node that dies without one is dropped three seconds
// after its last heartbeat; until then a Gather waits its bound for it and is incomplete.
//
// # Subjects
//
// Every subject starts with the cluster's name; names that come from users (namespaces, group
// names) are escaped with Token (Untoken reverses it) so that they are one token and never a
// wildcard. Other packages (the plugin bus) use Conn and Subject to carry their own traffic on
// the node's connection.
package cluster
