// Command go-sql-adapter is repro's adapter for Go's database/sql pool with go-sql-driver/mysql.
// It speaks the JSON-lines protocol of docs/adapters.md on stdin/stdout: every request runs in its
// own goroutine (arm in the reading one, see main), every stdout line is written whole under one mutex.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// driverVersion is set by build/prepare from the driver's own files (-ldflags -X main.driverVersion=1.8.1).
var driverVersion = "unknown"

var outMu sync.Mutex

// emit writes one JSON object as one line (a single write on unbuffered stdout).
func emit(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the '\n'
		fmt.Fprintln(os.Stderr, "go-sql-adapter: cannot encode response:", err)
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(buf.Bytes())
}

// logWriter turns every line the driver logs into a driver-log event. log.Logger calls Write
// once per line, already serialized.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	emit(map[string]interface{}{"event": "driver-log", "message": strings.TrimRight(string(p), "\n")})
	return len(p), nil
}

type request struct {
	ID        json.RawMessage            `json:"id"`
	Op        string                     `json:"op"`
	Host      string                     `json:"host"`
	Port      int                        `json:"port"`
	User      string                     `json:"user"`
	Password  string                     `json:"password"`
	Database  *string                    `json:"database"`
	PoolSize  int                        `json:"poolSize"`
	InitSQL   []string                   `json:"initSql"`
	Options   map[string]json.RawMessage `json:"options"`
	Count     int                        `json:"count"`
	SQL       string                     `json:"sql"`
	Held      bool                       `json:"held"`
	Operation int                        `json:"operation"`
	DelayMs   int                        `json:"delayMs"`
}

// driverLogger is a logger with the prefix and flags of the driver's default one, without the date and
// time (repro stamps each event when it arrives). 1.8+ hands its default logger to every new Config
// (Config.Logger, a *log.Logger: "[mysql] " with date, time and file:line up to 1.8, date and time only
// from 1.9, whose mc.log puts "file.go:123 " in the message itself). 1.5 has no Config.Logger; its default
// is "[mysql] " with date, time and file:line. Read through reflection so one source builds against all.
func driverLogger() *log.Logger {
	prefix, flags := "[mysql] ", log.Ldate|log.Ltime|log.Lshortfile
	if f := reflect.ValueOf(mysql.NewConfig()).Elem().FieldByName("Logger"); f.IsValid() && f.CanInterface() {
		if l, ok := f.Interface().(*log.Logger); ok && l != nil {
			prefix, flags = l.Prefix(), l.Flags()
		}
	}
	return log.New(logWriter{}, prefix, flags&^(log.Ldate|log.Ltime|log.Lmicroseconds|log.LUTC))
}

func main() {
	// Before any Config exists: 1.8+ copies the logger into each new Config.
	mysql.SetLogger(driverLogger())

	a := &adapter{}
	in := bufio.NewReaderSize(os.Stdin, 64*1024)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil || len(req.ID) == 0 {
				fmt.Fprintf(os.Stderr, "go-sql-adapter: ignoring request that is not a JSON object with an id: %q\n", line)
			} else if req.Op == "arm" {
				// Answered here, before the next line is read: it only registers the batch and starts
				// its timer (or its first operation), and a collect right behind it must find it.
				a.handle(&req)
			} else {
				go a.handle(&req)
			}
		}
		if err != nil {
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "go-sql-adapter: stdin:", err)
			}
			break
		}
	}
	// stdin EOF: close the pool if that is quick, exit 0 regardless.
	done := make(chan struct{})
	go func() { a.closePool(); close(done) }()
	select {
	case <-done:
	case <-time.After(500 * time.Millisecond):
	}
	os.Exit(0)
}

func (a *adapter) handle(req *request) {
	var resp map[string]interface{}
	switch req.Op {
	case "hello":
		resp = hello()
	case "open":
		resp = a.open(req)
	case "warm":
		resp = a.warm(req.Count)
	case "run":
		resp = a.run(req.SQL, req.Held)
	case "hold":
		resp = a.hold()
	case "busy":
		resp = a.busy(req.Count, req.SQL)
	case "arm":
		resp = a.arm(req.Count, req.SQL, req.DelayMs)
	case "collect":
		resp = a.collect()
	case "close":
		a.closePool()
		resp = map[string]interface{}{"ok": true}
	default:
		resp = usageError(fmt.Sprintf("unknown op '%s': known ops are hello, open, warm, run, hold, busy, arm, collect, close", req.Op))
	}
	resp["id"] = req.ID
	emit(resp)
}

func hello() map[string]interface{} {
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	opts := map[string]string{}
	for _, o := range knownOptions {
		opts[o.key] = o.help
	}
	return map[string]interface{}{
		"ok": true, "protocol": 1,
		"driver": "go-sql-driver/mysql", "driverVersion": driverVersion,
		"pool": "database/sql", "poolVersion": goVersion,
		"runtime": "go", "runtimeVersion": goVersion,
		"options": opts,
	}
}

func usageError(msg string) map[string]interface{} {
	return map[string]interface{}{"ok": false, "error": map[string]interface{}{"usage": true, "message": msg}}
}
