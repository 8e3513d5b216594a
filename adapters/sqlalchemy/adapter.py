"""repro adapter: SQLAlchemy's QueuePool over PyMySQL, driven as an application drives it.

Speaks the JSON-lines protocol of docs/adapters.md on stdin/stdout. Every request runs in its own
thread (arm in the reading one, see main), so a query hanging on a dead socket never blocks the next
request. Logs go to stderr only.

With REPRO_LIBRARY_PATH set (directories, colon-separated: pip --target folders or site-packages),
SQLAlchemy and PyMySQL are loaded from there only, first on the import path; a library missing there
is an error, never the system's copy. `python3 adapter.py --check` prints check's library lines.
"""

import os
import platform
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "python-common"))
from repro_adapter import Stack, Usage, emit, parse_bool, parse_seconds, serve, start  # noqa: E402

# (module, distribution name check/hello print) of every library the adapter loads; the pool first.
STACK = Stack("sqlalchemy", (("sqlalchemy", "SQLAlchemy"), ("pymysql", "PyMySQL")),
              "run `python3 -m pip install SQLAlchemy PyMySQL` or `make setup`")
LOADED = start(STACK)

# The copies load_libraries() imported and verified (already in sys.modules).
import pymysql  # noqa: E402
from sqlalchemy import create_engine, event, exc, text  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

# From the package metadata of the files loaded (pymysql.__version__ is a MySQLdb-compatibility
# string, e.g. "2.2.8" for PyMySQL 1.2.4).
POOL_VERSION = LOADED["SQLAlchemy"][1] or "unknown"
DRIVER_VERSION = LOADED["PyMySQL"][1] or "unknown"


def parse_reset(v):
    if v not in ("rollback", "commit", "none"):
        raise ValueError("expected rollback, commit or none")
    return None if v == "none" else v


# option key -> (parser, create_engine keyword or None for connect_args and app.*, hello description)
OPTIONS = {
    "pool_pre_ping": (parse_bool, "pool_pre_ping",
                      "test each connection with a ping on checkout, reconnect if dead (default: false)"),
    "pool_recycle": (int, "pool_recycle",
                     "replace connections older than this many seconds on checkout (default: -1, never)"),
    "pool_timeout": (parse_seconds, "pool_timeout",
                     "seconds to wait for a free connection before TimeoutError (default: 30)"),
    "pool_use_lifo": (parse_bool, "pool_use_lifo",
                      "hand out the most recently returned connection first (default: false, FIFO)"),
    "pool_reset_on_return": (parse_reset, "pool_reset_on_return",
                             "rollback, commit or none on return to the pool (default: rollback)"),
    "connect_args.connect_timeout": (parse_seconds, None,
                                     "PyMySQL connect timeout in seconds (default: 10)"),
    "connect_args.read_timeout": (parse_seconds, None,
                                  "PyMySQL socket read timeout in seconds (default: none, wait forever)"),
    "connect_args.write_timeout": (parse_seconds, None,
                                   "PyMySQL socket write timeout in seconds (default: none, wait forever)"),
    "app.followUp": (str, None,
                     "SQL executed on the same Connection right after a failed query, before it is "
                     "closed (returned to the pool), e.g. ROLLBACK (default: none)"),
}

arm_lock = threading.Lock()
state = {"engine": None, "held": None, "disposing": False, "followUp": None, "batch": None}


def thread_id(dbapi_conn):
    """The server thread id PyMySQL read from the handshake (no extra query)."""
    tid = getattr(dbapi_conn, "server_thread_id", None)
    return tid[0] if tid else None


def error_object(e, phase):
    """What the application caught, verbatim."""
    orig = getattr(e, "orig", None)
    src = orig if orig is not None else (e if isinstance(e, pymysql.err.Error) else None)
    errno = src.args[0] if src is not None and src.args else None
    fatal = getattr(e, "connection_invalidated", None)
    err = {
        "class": f"{type(e).__module__}.{type(e).__name__}",
        "code": e.code if isinstance(e, exc.SQLAlchemyError) else None,
        "errno": errno if isinstance(errno, int) and not isinstance(errno, bool) else None,
        "sqlState": None,
        "message": str(e),
        "fatal": fatal if isinstance(fatal, bool) else None,
        "phase": phase,
    }
    if orig is not None:
        err["cause"] = str(orig)
    return err


def install_listeners(engine, init_sql, recycle):
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, record):
        if init_sql:
            cur = dbapi_conn.cursor()
            try:
                for stmt in init_sql:
                    cur.execute(stmt)
            finally:
                cur.close()

    # The pool reacting to a dead connection: a hard or soft invalidation (after a disconnect
    # error, a failed pre-ping, a failed reset on return) ...
    def on_invalidate(kind):
        def listener(dbapi_conn, record, exception):
            record.info[f"repro.{kind}"] = True  # read by on_close below
            ev = {"event": kind, "message": str(exception) if exception is not None else "invalidated",
                  "class": None, "threadId": thread_id(dbapi_conn)}
            if exception is not None:
                ev["class"] = f"{type(exception).__module__}.{type(exception).__name__}"
                if not ev["message"]:
                    ev["message"] = ev["class"]
            emit(ev)
        return listener

    event.listen(engine.pool, "invalidate", on_invalidate("pool-invalidate"))
    event.listen(engine.pool, "soft_invalidate", on_invalidate("pool-soft-invalidate"))

    # ... and a connection closed on checkout and replaced, because it is older than the last
    # pool-wide invalidation or than pool_recycle, or was soft-invalidated: the pool replacing
    # connections it never saw fail. (A hard invalidation's own close and dispose are not reported;
    # with max_overflow=0 checkout is the only other place the pool closes a connection.)
    @event.listens_for(engine.pool, "close")
    def on_close(dbapi_conn, record):
        if state["disposing"] or record.info.get("repro.pool-invalidate"):
            return
        if 0 <= recycle < time.time() - record.starttime:
            why = f"older than pool_recycle ({recycle} s)"
        elif record.info.get("repro.pool-soft-invalidate"):
            why = "soft-invalidated"
        else:
            why = "older than the last pool-wide invalidation"
        emit({"event": "pool-close", "message": f"connection {why}: closed on checkout, reconnecting",
              "threadId": thread_id(dbapi_conn)})

    # The engine classifying a driver error as a disconnect (errors it does not classify so reach
    # the application with fatal=false and are not reported here).
    @event.listens_for(engine, "handle_error")
    def on_error(ctx):
        if not ctx.is_disconnect:
            return
        e = ctx.original_exception
        emit({"event": "handle-error", "message": str(e),
              "class": f"{type(e).__module__}.{type(e).__name__}",
              "isDisconnect": True,
              "invalidatePool": ctx.invalidate_pool_on_disconnect,
              # SQLAlchemy 1.4 has no is_pre_ping: its pre-ping never reaches handle_error.
              "prePing": getattr(ctx, "is_pre_ping", False)})


def op_hello(req):
    return {"protocol": 1, "driver": "PyMySQL", "driverVersion": DRIVER_VERSION,
            "pool": "SQLAlchemy QueuePool", "poolVersion": POOL_VERSION,
            "runtime": "python", "runtimeVersion": platform.python_version(),
            "options": {k: v[2] for k, v in OPTIONS.items()}}


def op_open(req):
    kwargs, connect_args, app = {}, {}, {}
    for key, raw in (req.get("options") or {}).items():
        if key not in OPTIONS:
            raise Usage(f"unknown option '{key}': known options are {', '.join(sorted(OPTIONS))}")
        parser, kw, _ = OPTIONS[key]
        try:
            value = parser(str(raw))
        except ValueError as e:
            raise Usage(f"option {key}: cannot parse '{raw}': {e}")
        if key.startswith("app."):
            app[key] = value
        elif kw:
            kwargs[kw] = value
        else:
            connect_args[key.split(".", 1)[1]] = value
    # URL.create keeps the password out of any string; echo stays off so nothing is logged.
    url = URL.create("mysql+pymysql", username=req.get("user"), password=req.get("password"),
                     host=req.get("host"), port=req.get("port"), database=req.get("database"))
    engine = create_engine(url, pool_size=req["poolSize"], max_overflow=0,
                           connect_args=connect_args, **kwargs)
    install_listeners(engine, req.get("initSql") or [], kwargs.get("pool_recycle", -1))
    state["followUp"] = app.get("app.followUp") or None
    state["engine"] = engine
    return {}


def engine():
    if state["engine"] is None:
        raise Usage("pool is not open: send open first")
    return state["engine"]


class PhaseError(Exception):
    """An exception the application caught, with where it was raised (acquire or query), and what
    app.followUp then did (None when it did not run)."""

    def __init__(self, error, phase, follow_up=None):
        super().__init__(str(error))
        self.error, self.phase, self.follow_up = error, phase, follow_up


def timed(fn):
    """Runs fn() and answers in the shape of a run result: ok, ms, and the error it raised."""
    t0 = time.perf_counter()
    state["served"] = None
    try:
        fn()
        res = {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 3)}
    except PhaseError as pe:
        res = {"ok": False, "ms": round((time.perf_counter() - t0) * 1000, 3),
               "error": error_object(pe.error, pe.phase)}
        if pe.follow_up is not None:
            res["followUp"] = pe.follow_up
    if state.get("served") is not None:
        res["threadId"] = state["served"]  # the connection that served it: a lane in the timeline
    return res


def served_by(conn):
    """Notes the server thread of the DBAPI connection behind a checked-out Connection (no query)."""
    try:
        fairy = conn.connection
        dbapi = getattr(fairy, "dbapi_connection", None) or getattr(fairy, "connection", None)
        state["served"] = thread_id(dbapi)
    except Exception:
        pass


def follow_up(conn, sql):
    """app.followUp: the application's error path sends one more statement on the same Connection."""
    try:
        result = conn.execute(text(sql))
        if result.returns_rows:
            result.fetchall()
        return {"ok": True}
    except Exception as e:
        return {"ok": False, "error": error_object(e, "follow-up")}


def app_query(sql):
    """The standard application pattern: with engine.connect() as conn: conn.execute(...).fetchall()."""
    eng = engine()
    follow, followed = state["followUp"], None
    try:
        conn = eng.connect()  # pool checkout, including pre-ping and reconnect
    except Exception as e:
        raise PhaseError(e, "acquire")
    served_by(conn)
    try:
        with conn:
            if follow is None:
                conn.execute(text(sql)).fetchall()
            else:
                try:
                    conn.execute(text(sql)).fetchall()
                except Exception:
                    followed = follow_up(conn, follow)  # before the with block closes the Connection
                    raise
    except Exception as e:
        raise PhaseError(e, "query", followed)


def held_query(sql):
    """Runs on the Connection kept by hold, as an app keeping it would: nothing special after errors
    (but app.followUp, when set)."""
    conn = state["held"]
    if conn is None:
        raise Usage("no held connection: send hold first")
    served_by(conn)
    try:
        conn.execute(text(sql)).fetchall()
    except Exception as e:
        follow = state["followUp"]
        raise PhaseError(e, "query", follow_up(conn, follow) if follow is not None else None)


def op_run(req):
    fn = held_query if req.get("held") else app_query
    return timed(lambda: fn(req["sql"]))


def checkout_with_id():
    try:
        conn = engine().connect()
    except Exception as e:
        raise PhaseError(e, "acquire")
    try:
        return conn, conn.execute(text("SELECT CONNECTION_ID()")).scalar()
    except Exception as e:
        conn.close()
        raise PhaseError(e, "query")


def op_warm(req):
    conns, ids = [], []
    try:
        for _ in range(req["count"]):  # all checked out at once, so the pool opens that many
            conn, tid = checkout_with_id()
            conns.append(conn)
            ids.append(tid)
    finally:
        for conn in conns:
            conn.close()  # back to the pool
    return {"threadIds": ids}


def op_hold(req):
    conn, tid = checkout_with_id()
    old, state["held"] = state["held"], conn
    if old is not None:
        threading.Thread(target=old.close, daemon=True).start()
    return {"threadId": tid}


def op_busy(req):
    engine()
    results = [None] * req["count"]

    def one(i):
        results[i] = timed(lambda: app_query(req["sql"]))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(req["count"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"results": results}


def op_arm(req):
    """Schedules count runs, one after another, on a threading.Timer delayMs from now (delay 0: a
    thread started right here), and answers at once. main calls it on the thread that reads stdin,
    so the batch is registered before a collect behind it is read."""
    count, sql, delay = req.get("count"), req.get("sql"), req.get("delayMs") or 0
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 \
            or not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise Usage("arm: count and delayMs must be integers >= 0")
    if not isinstance(sql, str):
        raise Usage("arm: 'sql' must be a string")
    engine()
    batch = {"done": threading.Event(), "results": []}
    with arm_lock:
        if state["batch"] is not None:
            raise Usage("a batch is already armed: send collect first")
        state["batch"] = batch

    def work():
        try:
            for _ in range(count):  # each exactly a run; the next starts when this one has finished
                try:
                    batch["results"].append(timed(lambda: app_query(sql)))
                except Usage as e:  # the pool was closed meanwhile
                    batch["results"].append({"ok": False, "error": {"usage": True, "message": str(e)}})
        finally:
            batch["done"].set()

    if delay > 0:
        t = threading.Timer(delay / 1000, work)
    else:
        t = threading.Thread(target=work)
    t.daemon = True
    t.start()
    return {}


def op_collect(req):
    """Waits for the armed batch to finish and answers its results; the next arm is then allowed."""
    with arm_lock:
        batch = state["batch"]
    if batch is None:
        raise Usage("nothing armed: send arm first")
    batch["done"].wait()
    with arm_lock:
        if state["batch"] is batch:
            state["batch"] = None
    return {"results": batch["results"]}


def shutdown(wait):
    """Returns the held connection, then disposes the pool (closes idle connections)."""
    held, state["held"] = state["held"], None
    if held is not None:
        t = threading.Thread(target=held.close, daemon=True)
        t.start()
        t.join(wait)
    state["disposing"] = True
    if state["engine"] is not None:
        state["engine"].dispose()


def op_close(req):
    shutdown(1.0)
    return {}


OPS = {"hello": op_hello, "open": op_open, "warm": op_warm, "run": op_run,
       "hold": op_hold, "busy": op_busy, "arm": op_arm, "collect": op_collect, "close": op_close}


def main():
    serve("sqlalchemy", OPS, error_object, PhaseError, shutdown)


if __name__ == "__main__":
    main()
