package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// errorInfo is the contract's error object: what the caller saw, verbatim.
type errorInfo struct {
	Class    string  `json:"class"`
	Code     *string `json:"code"`
	Errno    *int64  `json:"errno"`
	SQLState *string `json:"sqlState"`
	Message  string  `json:"message"`
	Fatal    *bool   `json:"fatal"` // database/sql has no such flag: always null
	Phase    *string `json:"phase"`
	Cause    string  `json:"cause,omitempty"`
}

// sentinels are the exported error variables a caller compares with errors.Is; code is the
// variable's name.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrBadConn", driver.ErrBadConn},
	{"ErrConnDone", sql.ErrConnDone},
	{"ErrInvalidConn", mysql.ErrInvalidConn},
	{"ErrMalformPkt", mysql.ErrMalformPkt},
	{"ErrBusyBuffer", mysql.ErrBusyBuffer},
	{"ErrPktSync", mysql.ErrPktSync},
	{"ErrPktSyncMul", mysql.ErrPktSyncMul},
	{"ErrPktTooLarge", mysql.ErrPktTooLarge},
	{"ErrNoTLS", mysql.ErrNoTLS},
	{"ErrCleartextPassword", mysql.ErrCleartextPassword},
	{"ErrNativePassword", mysql.ErrNativePassword},
	{"ErrOldPassword", mysql.ErrOldPassword},
	{"ErrUnknownPlugin", mysql.ErrUnknownPlugin},
	{"ErrOldProtocol", mysql.ErrOldProtocol},
	{"DeadlineExceeded", context.DeadlineExceeded},
	{"Canceled", context.Canceled},
	{"ErrDeadlineExceeded", os.ErrDeadlineExceeded},
}

// errorObject describes err; phase is "acquire", "query" or "" (unknown: null).
func errorObject(err error, phase string) errorInfo {
	e := errorInfo{Class: fmt.Sprintf("%T", err), Message: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			name := s.name
			e.Code = &name
			break
		}
	}
	var myErr *mysql.MySQLError
	var errno syscall.Errno
	if errors.As(err, &myErr) {
		n := int64(myErr.Number) // 1.5.0 keeps no SQLSTATE: sqlState stays null
		e.Errno = &n
	} else if errors.As(err, &errno) {
		n := int64(errno)
		e.Errno = &n
	}
	// A failed dial can only happen while database/sql opens a connection for the borrow.
	var opErr *net.OpError
	if phase == "" && errors.As(err, &opErr) && opErr.Op == "dial" {
		phase = "acquire"
	}
	if phase != "" {
		e.Phase = &phase
	}
	if inner := errors.Unwrap(err); inner != nil {
		e.Cause = inner.Error()
	}
	return e
}
