package wsproto

import "fmt"

// Close codes (RFC 6455 §7.4.1) used by the server.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005 // never sent: reported when a close frame carried no code
	CloseAbnormal        = 1006 // never sent: reported when the TCP connection dropped
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseInternalError   = 1011
	CloseTryAgainLater   = 1013
)

// CloseError is a protocol violation by the peer: the connection must be closed with Code.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket: close %d: %s", e.Code, e.Reason) }

func protocolError(format string, args ...any) *CloseError {
	return &CloseError{Code: CloseProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// ValidReceivedCloseCode reports whether a code received in a close frame is one a peer may send
// (RFC 6455 §7.4): 1000-1003, 1007-1014 (1012-1014 are registered with IANA since the RFC) and
// 3000-4999. 1004, 1005, 1006, 1015, codes below 1000 and 1016-2999 are a protocol error.
func ValidReceivedCloseCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}
