package main

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
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
		n := int64(myErr.Number)
		e.Errno = &n
		e.SQLState = sqlState(myErr)
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

// sqlState is MySQLError.SQLState (a [5]byte since 1.8; the server's SQLSTATE, e.g. 70100), or nil when
// it is empty or the driver has no such field (1.5.0). Read through reflection so one source builds
// against every release.
func sqlState(myErr *mysql.MySQLError) *string {
	f := reflect.ValueOf(myErr).Elem().FieldByName("SQLState")
	if !f.IsValid() || f.Kind() != reflect.Array || f.Type().Elem().Kind() != reflect.Uint8 {
		return nil
	}
	b := make([]byte, f.Len())
	for i := range b {
		b[i] = byte(f.Index(i).Uint())
	}
	if len(bytes.Trim(b, "\x00")) == 0 {
		return nil
	}
	s := string(b)
	return &s
}
