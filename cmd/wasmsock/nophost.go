package main

import "github.com/wasmsock/wasmsock/abi"

// nopHost lets check start a plugin (so on_start runs) without a server: there are no connections.
type nopHost struct{}

func (nopHost) Send(uint64, int32, []byte) abi.Status       { return abi.ErrUnknownConn }
func (nopHost) Close(uint64, int, string) abi.Status        { return abi.ErrUnknownConn }
func (nopHost) ConnGet(uint64, string) (string, abi.Status) { return "", abi.ErrUnknownConn }
func (nopHost) Join(uint64, string) abi.Status              { return abi.ErrUnknownConn }
func (nopHost) Leave(uint64, string) abi.Status             { return abi.ErrUnknownConn }
func (nopHost) Broadcast(uint64, string, int32, []byte, uint64) (int, abi.Status) {
	return 0, abi.OK
}
