// Package wsproto reads and writes WebSocket frames (RFC 6455 §5) strictly, for a server.
//
// gobwas/ws does the opening handshake; this package does what it leaves to its callers: reading
// client frames with every rule of §5 enforced (masking, reserved bits, opcodes, control frame
// rules, fragmentation), validating text incrementally (§8.1), checking sizes before allocating
// (and growing a payload buffer only as its bytes arrive, never to a declared length),
// and building the server's unmasked frames once so they can be shared by many connections.
//
// A violation is reported as a *CloseError carrying the close code the server must send (§7.4.1).
package wsproto
