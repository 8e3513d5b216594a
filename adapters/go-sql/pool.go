package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// option is one key of open's "options", in the library's own words.
type option struct {
	key  string
	help string
	kind string // "dsn": a go-sql-driver DSN parameter; "db": a *sql.DB setter; "app": the adapter's
}

var knownOptions = []option{
	{"SetMaxIdleConns", "db.SetMaxIdleConns(n): idle connections kept in the pool (default: 2, database/sql's defaultMaxIdleConns; n <= 0 keeps none)", "db"},
	{"SetConnMaxLifetime", "db.SetConnMaxLifetime(d): close connections older than d, e.g. 30s (default: 0, never)", "db"},
	{"SetConnMaxIdleTime", "db.SetConnMaxIdleTime(d): close connections idle longer than d, e.g. 1s (default: 0, never)", "db"},
	{"timeout", "DSN param timeout: dial timeout, e.g. 2s (default: none, the OS's)", "dsn"},
	{"readTimeout", "DSN param readTimeout: I/O read timeout, e.g. 500ms (default: 0, none)", "dsn"},
	{"writeTimeout", "DSN param writeTimeout: I/O write timeout, e.g. 500ms (default: 0, none)", "dsn"},
	{"checkConnLiveness", "DSN param checkConnLiveness: before the first write on a connection taken from the pool, a non-blocking read; EOF closes it and returns driver.ErrBadConn (default: true)", "dsn"},
	{"app.dialKeepAlive", "net.Dialer{KeepAlive: d} registered with mysql.RegisterDialContext(\"tcp\", …): TCP keepalive probe period, e.g. 1s; negative disables (default: Go's, 15s)", "app"},
	{"app.contextTimeout", "context.WithTimeout(d) around each operation (db.Conn, QueryContext and reading the rows), e.g. 5s (default: none, context.Background())", "app"},
	{"app.followUp", "SQL sent on the same connection right after a failed query: ROLLBACK makes a pool operation a transaction (db.BeginTx, the query on the Tx, tx.Rollback() after a failure, tx.Commit() otherwise); any other SQL is sent with ExecContext on a *sql.Conn (db.Conn + QueryContext + Close, which database/sql does not retry) (default: none)", "app"},
}

func optionKeys() string {
	keys := make([]string, len(knownOptions))
	for i, o := range knownOptions {
		keys[i] = o.key
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

type adapter struct {
	mu         sync.Mutex
	db         *sql.DB
	held       *sql.Conn
	ctxTimeout time.Duration
	followUp   string
	armed      *batch
}

// batch is the work of one arm: its results, in order, complete when done is closed.
type batch struct {
	done    chan struct{}
	results []map[string]interface{}
}

// initConnector runs initSql on every new connection before database/sql hands it out. It returns
// the driver's own connection, so the driver's session reset and liveness check stay in place.
type initConnector struct {
	driver.Connector
	initSQL []string
}

func (c *initConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, stmt := range c.initSQL {
		if _, err := conn.(driver.ExecerContext).ExecContext(ctx, stmt, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (a *adapter) open(req *request) map[string]interface{} {
	var dsnParams []string
	var maxIdle *int
	var lifetime, idleTime, ctxTimeout, dialKeepAlive *time.Duration
	followUp := ""
	for key, raw := range req.Options {
		value := optionString(raw)
		kind := ""
		for _, o := range knownOptions {
			if o.key == key {
				kind = o.kind
			}
		}
		switch {
		case kind == "":
			return usageError(fmt.Sprintf("unknown option '%s': known options are %s", key, optionKeys()))
		case kind == "dsn":
			if strings.ContainsAny(value, "&/") {
				return usageError(fmt.Sprintf("option %s: invalid value '%s'", key, value))
			}
			dsnParams = append(dsnParams, key+"="+value)
		case key == "SetMaxIdleConns":
			n, err := strconv.Atoi(value)
			if err != nil {
				return usageError(fmt.Sprintf("option %s: '%s' is not an integer", key, value))
			}
			maxIdle = &n
		case key == "app.followUp":
			followUp = value
		default: // the durations
			d, err := time.ParseDuration(value)
			if err != nil {
				return usageError(fmt.Sprintf("option %s: %v (a Go duration such as 500ms or 2s)", key, err))
			}
			switch key {
			case "SetConnMaxLifetime":
				lifetime = &d
			case "SetConnMaxIdleTime":
				idleTime = &d
			case "app.contextTimeout":
				ctxTimeout = &d
			case "app.dialKeepAlive":
				dialKeepAlive = &d
			}
		}
	}

	// The driver parses its own DSN parameters; address and credentials go into the Config
	// directly, so the password is never part of a DSN string.
	sort.Strings(dsnParams)
	cfg, err := mysql.ParseDSN("/?" + strings.Join(dsnParams, "&"))
	if err != nil {
		return usageError(fmt.Sprintf("options %s: %v", strings.Join(dsnParams, "&"), err))
	}
	cfg.Net = "tcp"
	if dialKeepAlive != nil {
		// The documented way to choose Go's keepalive period for go-sql-driver: a dialer of one's own. Go sets
		// TCP_KEEPIDLE itself (15 s when KeepAlive is 0), whatever net.ipv4.tcp_keepalive_time says.
		dialer := net.Dialer{Timeout: cfg.Timeout, KeepAlive: *dialKeepAlive}
		mysql.RegisterDialContext("tcp", func(ctx context.Context, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		})
	}
	cfg.Addr = net.JoinHostPort(req.Host, strconv.Itoa(req.Port))
	cfg.User = req.User
	cfg.Passwd = req.Password
	if req.Database != nil {
		cfg.DBName = *req.Database
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return usageError(err.Error())
	}

	db := sql.OpenDB(&initConnector{Connector: connector, initSQL: req.InitSQL}) // lazy: no connection yet
	if req.PoolSize > 0 {
		db.SetMaxOpenConns(req.PoolSize)
	}
	// database/sql's defaults stay unless an option sets them (MaxIdleConns 2, no lifetimes).
	if maxIdle != nil {
		db.SetMaxIdleConns(*maxIdle)
	}
	if lifetime != nil {
		db.SetConnMaxLifetime(*lifetime)
	}
	if idleTime != nil {
		db.SetConnMaxIdleTime(*idleTime)
	}

	a.mu.Lock()
	old := a.db
	a.db, a.held = db, nil
	a.ctxTimeout = 0
	if ctxTimeout != nil {
		a.ctxTimeout = *ctxTimeout
	}
	a.followUp = followUp
	a.mu.Unlock()
	if old != nil {
		go old.Close()
	}
	return map[string]interface{}{"ok": true}
}

// optionString accepts the contract's string values, and tolerates bare JSON numbers/booleans.
func optionString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// state returns the pool and an operation context (with app.contextTimeout when set).
func (a *adapter) state() (*sql.DB, *sql.Conn, context.Context, context.CancelFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if a.ctxTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, a.ctxTimeout)
	}
	return a.db, a.held, ctx, cancel
}

var notOpen = usageError("no pool: send open first")

// followUpSQL is app.followUp ("" when not set).
func (a *adapter) followUpSQL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.followUp
}

// queryer is what *sql.DB and *sql.Conn have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...interface{}) (*sql.Rows, error)
}

// query runs sql and reads every row, as an application does; with a *sql.DB, database/sql
// borrows a connection for it and gives it back when the rows are closed.
func query(ctx context.Context, q queryer, sqlText string) error {
	rows, err := q.QueryContext(ctx, sqlText)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	values := make([]interface{}, len(cols))
	for i := range values {
		values[i] = new(sql.RawBytes)
	}
	for rows.Next() {
		if err := rows.Scan(values...); err != nil {
			return err
		}
	}
	return rows.Err()
}

func msSince(start time.Time) float64 {
	return float64(time.Since(start).Microseconds()) / 1000
}

// runResult is the shape of a run answer (also used for each busy result).
func runResult(ctx context.Context, q queryer, sqlText string, phase string) map[string]interface{} {
	start := time.Now()
	err := query(ctx, q, sqlText)
	ms := msSince(start)
	if err != nil {
		return map[string]interface{}{"ok": false, "ms": ms, "error": errorObject(err, phase)}
	}
	return map[string]interface{}{"ok": true, "ms": ms}
}

// followUpResult sends app.followUp on the connection whose query failed, as the application's
// error path does: {"ok":true} or {"ok":false,"error":…} with phase follow-up.
func followUpResult(ctx context.Context, conn *sql.Conn, followUp string) map[string]interface{} {
	if _, err := conn.ExecContext(ctx, followUp); err != nil {
		return map[string]interface{}{"ok": false, "error": errorObject(err, "follow-up")}
	}
	return map[string]interface{}{"ok": true}
}

// poolRun is one pool operation (run, each busy query, each armed operation). Without app.followUp
// it is runResult on the *sql.DB. With it the application needs the connection itself: db.Conn,
// QueryContext on that *sql.Conn, followUp on it after a failed query, then Close (back to the pool);
// ms includes the follow-up and the Close. database/sql does not retry a query on a *sql.Conn.
func poolRun(ctx context.Context, db *sql.DB, sqlText, followUp string) map[string]interface{} {
	if followUp == "" {
		// db.QueryContext does acquire and query in one call: the phase is not visible (null),
		// except for a failed dial, which can only be the acquire.
		return runResult(ctx, db, sqlText, "")
	}
	start := time.Now()
	if strings.EqualFold(strings.TrimSpace(followUp), "ROLLBACK") {
		return txRun(ctx, db, sqlText, start)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return map[string]interface{}{"ok": false, "ms": msSince(start), "error": errorObject(err, "acquire")}
	}
	err = query(ctx, conn, sqlText)
	var fu map[string]interface{}
	if err != nil {
		fu = followUpResult(ctx, conn, followUp)
	}
	conn.Close()
	ms := msSince(start)
	if err != nil {
		return map[string]interface{}{"ok": false, "ms": ms, "error": errorObject(err, "query"), "followUp": fu}
	}
	return map[string]interface{}{"ok": true, "ms": ms}
}

// txRun is the operation as a Go application writes a transaction, for app.followUp=ROLLBACK: db.BeginTx
// (database/sql retries a bad connection there, as it does for db.QueryContext), the query on the *sql.Tx,
// tx.Rollback() after a failed query (the follow-up) or tx.Commit() after a good one.
func txRun(ctx context.Context, db *sql.DB, sqlText string, start time.Time) map[string]interface{} {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return map[string]interface{}{"ok": false, "ms": msSince(start), "error": errorObject(err, "acquire")}
	}
	if err := query(ctx, tx, sqlText); err != nil {
		fu := map[string]interface{}{"ok": true}
		if rbErr := tx.Rollback(); rbErr != nil {
			fu = map[string]interface{}{"ok": false, "error": errorObject(rbErr, "follow-up")}
		}
		return map[string]interface{}{"ok": false, "ms": msSince(start), "error": errorObject(err, "query"), "followUp": fu}
	}
	if err := tx.Commit(); err != nil {
		return map[string]interface{}{"ok": false, "ms": msSince(start), "error": errorObject(err, "query")}
	}
	return map[string]interface{}{"ok": true, "ms": msSince(start)}
}

func (a *adapter) run(sqlText string, held bool) map[string]interface{} {
	db, conn, ctx, cancel := a.state()
	defer cancel()
	if db == nil {
		return notOpen
	}
	followUp := a.followUpSQL()
	if held {
		if conn == nil {
			return usageError("no held connection: send hold first")
		}
		if followUp == "" {
			return runResult(ctx, conn, sqlText, "query") // no borrow: a failure is the query's
		}
		start := time.Now()
		if err := query(ctx, conn, sqlText); err != nil {
			fu := followUpResult(ctx, conn, followUp) // on the held connection too; it stays held
			return map[string]interface{}{"ok": false, "ms": msSince(start), "error": errorObject(err, "query"), "followUp": fu}
		}
		return map[string]interface{}{"ok": true, "ms": msSince(start)}
	}
	return poolRun(ctx, db, sqlText, followUp)
}

func (a *adapter) busy(count int, sqlText string) map[string]interface{} {
	db, _, ctx, cancel := a.state()
	defer cancel()
	if db == nil {
		return notOpen
	}
	followUp := a.followUpSQL()
	results := make([]map[string]interface{}, count)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = poolRun(ctx, db, sqlText, followUp)
		}(i)
	}
	wg.Wait()
	return map[string]interface{}{"ok": true, "results": results}
}

// arm schedules count runs, one after another, on a time.AfterFunc timer delayMs from now (delay 0:
// a goroutine started right here), and answers at once. main calls it from the goroutine that reads
// stdin, so the batch is registered before a collect behind it is read.
func (a *adapter) arm(count int, sqlText string, delayMs int) map[string]interface{} {
	if count < 0 || delayMs < 0 {
		return usageError("arm: count and delayMs must be integers >= 0")
	}
	a.mu.Lock()
	if a.db == nil {
		a.mu.Unlock()
		return notOpen
	}
	if a.armed != nil {
		a.mu.Unlock()
		return usageError("a batch is already armed: send collect first")
	}
	b := &batch{done: make(chan struct{}), results: make([]map[string]interface{}, 0, count)}
	a.armed = b
	a.mu.Unlock()
	work := func() {
		defer close(b.done)
		for i := 0; i < count; i++ { // each exactly a run; the next starts when this one has finished
			a.mu.Lock()
			open := a.db != nil
			a.mu.Unlock()
			if !open {
				b.results = append(b.results, usageError("no pool: send open first"))
				continue
			}
			b.results = append(b.results, a.run(sqlText, false))
		}
	}
	if delayMs > 0 {
		time.AfterFunc(time.Duration(delayMs)*time.Millisecond, work)
	} else {
		go work()
	}
	return map[string]interface{}{"ok": true}
}

// collect answers when the armed batch has finished, with its results; the next arm is then allowed.
func (a *adapter) collect() map[string]interface{} {
	a.mu.Lock()
	b := a.armed
	a.mu.Unlock()
	if b == nil {
		return usageError("nothing armed: send arm first")
	}
	<-b.done
	a.mu.Lock()
	if a.armed == b {
		a.armed = nil
	}
	a.mu.Unlock()
	return map[string]interface{}{"ok": true, "results": b.results}
}

func connectionID(ctx context.Context, conn *sql.Conn) (int64, error) {
	var id int64
	err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id)
	return id, err
}

// warm holds count *sql.Conn at the same time (so the pool opens that many), asks each for its
// thread id, then closes them all, which returns them to the pool (MaxIdleConns decides how many stay).
func (a *adapter) warm(count int) map[string]interface{} {
	db, _, ctx, cancel := a.state()
	defer cancel()
	if db == nil {
		return notOpen
	}
	conns := make([]*sql.Conn, count)
	ids := make([]int64, count)
	errs := make([]error, count)
	phases := make([]string, count)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if conns[i], errs[i] = db.Conn(ctx); errs[i] != nil {
				phases[i] = "acquire"
				return
			}
			if ids[i], errs[i] = connectionID(ctx, conns[i]); errs[i] != nil {
				phases[i] = "query"
			}
		}(i)
	}
	wg.Wait() // every connection is checked out here, before any is given back
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	for i, err := range errs {
		if err != nil {
			return map[string]interface{}{"ok": false, "error": errorObject(err, phases[i])}
		}
	}
	return map[string]interface{}{"ok": true, "threadIds": ids}
}

// hold borrows one connection and keeps it for run with held:true (never given back).
func (a *adapter) hold() map[string]interface{} {
	db, _, ctx, cancel := a.state()
	defer cancel()
	if db == nil {
		return notOpen
	}
	// The *sql.Conn must outlive this request's context (db.Conn's ctx only bounds the borrow).
	conn, err := db.Conn(ctx)
	if err != nil {
		return map[string]interface{}{"ok": false, "error": errorObject(err, "acquire")}
	}
	id, err := connectionID(ctx, conn)
	if err != nil {
		return map[string]interface{}{"ok": false, "error": errorObject(err, "query")}
	}
	a.mu.Lock()
	if a.db == db {
		a.held = conn
	}
	a.mu.Unlock()
	return map[string]interface{}{"ok": true, "threadId": id}
}

// closePool is db.Close: it closes the idle connections; checked-out ones close when returned.
// The held connection is returned in the background (its Close waits for a query in flight).
func (a *adapter) closePool() {
	a.mu.Lock()
	db, held := a.db, a.held
	a.db, a.held = nil, nil
	a.mu.Unlock()
	if held != nil {
		go held.Close()
	}
	if db != nil {
		db.Close()
	}
}
