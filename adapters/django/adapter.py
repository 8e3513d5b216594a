"""repro adapter: Django's database connections over mysqlclient, driven as Django serves requests.

Speaks the JSON-lines protocol of docs/adapters.md on stdin/stdout; logs go to stderr only.

Django has no pool: each thread that serves requests has its own connection (django.db.connections is
thread-local), kept across requests for CONN_MAX_AGE seconds (0, the default: closed at the end of every
request). So the "pool" here is what a threaded WSGI server is: `poolSize` worker threads taking requests
from one queue, each with its own connection. Every `run` is one request, as Django's handler makes it:
request_started (which runs close_old_connections), the query through connection.cursor(), then
request_finished (close_old_connections again). A `hold` is a thread outside the request cycle — a
management command or a background thread — whose connection no request signal ever checks.

With REPRO_LIBRARY_PATH set, Django and mysqlclient are loaded from its directories only (repro_adapter).
"""

import os
import platform
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "python-common"))
from repro_adapter import Stack, Usage, emit, parse_bool, parse_seconds, serve, start  # noqa: E402

STACK = Stack("django", (("django", "Django"), ("MySQLdb", "mysqlclient")),
              "run `python3 -m pip install 'Django>=5.2,<6' mysqlclient` (mysqlclient builds against "
              "libmariadb-dev) or `make setup`")
LOADED = start(STACK)

import django  # noqa: E402
import MySQLdb  # noqa: E402
from django.conf import settings  # noqa: E402

POOL_VERSION = LOADED["Django"][1] or "unknown"
DRIVER_VERSION = LOADED["mysqlclient"][1] or "unknown"


def parse_max_age(v):
    """CONN_MAX_AGE: whole seconds, or None for unlimited persistent connections (Django's own words)."""
    if v.strip() in ("None", "none", "null"):
        return None
    n = int(v)
    if n < 0:
        raise ValueError("expected seconds >= 0 or None")
    return n


# option key -> (parser, where it goes: "db" a DATABASES setting, "options" DATABASES OPTIONS, "app" the
# adapter's own), hello description.
OPTIONS = {
    "CONN_MAX_AGE": (parse_max_age, "db",
                     "seconds a thread's connection is kept across requests; None: unlimited (default: 0, "
                     "closed at the end of every request)"),
    "CONN_HEALTH_CHECKS": (parse_bool, "db",
                           "ping a reused persistent connection before the first query of a request, reconnect "
                           "if it fails (default: false)"),
    "OPTIONS.connect_timeout": (parse_seconds, "options", "mysqlclient connect timeout, seconds (default: none)"),
    "OPTIONS.read_timeout": (parse_seconds, "options",
                             "mysqlclient read timeout, seconds (default: none: Connector/C waits forever)"),
    "OPTIONS.write_timeout": (parse_seconds, "options",
                              "mysqlclient write timeout, seconds (default: none: Connector/C waits forever)"),
    "app.followUp": (str, "app",
                     "SQL executed on the same connection right after a failed query, before the request "
                     "ends, e.g. ROLLBACK (default: none)"),
}

arm_lock = threading.Lock()
state = {"workers": None, "held": None, "followUp": None, "batch": None, "open": False}


def error_object(e, phase):
    """What the application caught, verbatim: Django's django.db.utils.* wrapping MySQLdb's error (its
    __cause__), whose args are (errno, message)."""
    cause = e.__cause__ if isinstance(e.__cause__, MySQLdb.Error) else None
    src = cause if cause is not None else (e if isinstance(e, MySQLdb.Error) else None)
    errno = src.args[0] if src is not None and src.args else None
    err = {
        "class": f"{type(e).__module__}.{type(e).__name__}",
        "code": None,
        "errno": errno if isinstance(errno, int) and not isinstance(errno, bool) else None,
        "sqlState": None,
        "message": str(e),
        "fatal": None,
        "phase": phase,
    }
    if cause is not None:
        err["cause"] = f"{type(cause).__module__}.{type(cause).__name__}: {cause}"
    return err


class PhaseError(Exception):
    """An exception the application caught, with where it was raised, and what app.followUp did."""

    def __init__(self, error, phase, follow_up=None):
        super().__init__(str(error))
        self.error, self.phase, self.follow_up = error, phase, follow_up


# The server thread of the connection that served the current request, per worker thread.
served = threading.local()


def thread_id(conn):
    try:
        return conn.connection.thread_id() if conn.connection is not None else None
    except Exception:
        return None


def observe():
    """Events for what Django does to a connection on its own, seen by wrapping (call the original, report
    what changed): close_old_connections closing a connection at a request's start or end (errors occurred and
    it failed is_usable(), or CONN_MAX_AGE passed), and a health check closing a reused connection."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    unusable = BaseDatabaseWrapper.close_if_unusable_or_obsolete
    health = BaseDatabaseWrapper.close_if_health_check_failed

    def close_if_unusable_or_obsolete(self):
        before, tid = self.connection, thread_id(self)
        errors, expired = self.errors_occurred, self.close_at is not None and time.monotonic() >= self.close_at
        unusable(self)
        if before is not None and self.connection is None:
            why = ("an error occurred and is_usable() (a ping) failed" if errors
                   else "CONN_MAX_AGE passed" if expired else "autocommit was left changed")
            emit({"event": "close-old-connection", "message": f"close_old_connections closed the connection: {why}",
                  "threadId": tid})

    def close_if_health_check_failed(self):
        before, tid = self.connection, thread_id(self)
        health(self)
        if before is not None and self.connection is None:
            emit({"event": "health-check-failed",
                  "message": "CONN_HEALTH_CHECKS: is_usable() (a ping) failed on a reused connection: closed, "
                             "reconnecting", "threadId": tid})

    BaseDatabaseWrapper.close_if_unusable_or_obsolete = close_if_unusable_or_obsolete
    BaseDatabaseWrapper.close_if_health_check_failed = close_if_health_check_failed


def op_hello(req):
    return {"protocol": 1, "driver": "mysqlclient", "driverVersion": DRIVER_VERSION,
            "pool": "Django persistent connections (one per thread, no pool)", "poolVersion": POOL_VERSION,
            "runtime": "python", "runtimeVersion": platform.python_version(),
            "clientLibrary": MySQLdb.get_client_info(),
            "options": {k: v[2] for k, v in OPTIONS.items()}}


def configure(req):
    db = {"ENGINE": "django.db.backends.mysql", "NAME": req.get("database") or "", "USER": req.get("user") or "",
          "PASSWORD": req.get("password") or "", "HOST": req.get("host") or "", "PORT": str(req.get("port") or ""),
          "OPTIONS": {}}
    app = {}
    for key, raw in (req.get("options") or {}).items():
        if key not in OPTIONS:
            raise Usage(f"unknown option '{key}': known options are {', '.join(sorted(OPTIONS))}")
        parser, where, _ = OPTIONS[key]
        try:
            value = parser(str(raw))
        except ValueError as e:
            raise Usage(f"option {key}: cannot parse '{raw}': {e}")
        if where == "db":
            db[key] = value
        elif where == "options":
            db["OPTIONS"][key.split(".", 1)[1]] = value
        else:
            app[key] = value
    # No logging configuration of Django's reaches stdout; DEBUG off keeps queries (and nothing of the
    # settings) out of memory and logs.
    settings.configure(DEBUG=False, DATABASES={"default": db}, INSTALLED_APPS=[], USE_TZ=True,
                       LOGGING_CONFIG=None)
    django.setup()
    init_sql = req.get("initSql") or []
    if init_sql:
        from django.db.backends.signals import connection_created

        def on_created(sender, connection, **kwargs):
            with connection.cursor() as cur:
                for stmt in init_sql:
                    cur.execute(stmt)

        connection_created.connect(on_created, weak=False)
    observe()
    state["followUp"] = app.get("app.followUp") or None


class Workers:
    """poolSize threads taking jobs from one queue, as a threaded WSGI server's; each keeps its own connection."""

    def __init__(self, size):
        self.jobs = queue.Queue()
        self.threads = [threading.Thread(target=self.loop, daemon=True, name=f"worker-{i}") for i in range(size)]
        for t in self.threads:
            t.start()

    def loop(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job()

    def submit(self, fn):
        """Runs fn on a worker; returns a function that waits for its result (or raises what it raised)."""
        done, box = threading.Event(), {}

        def job():
            try:
                box["value"] = fn()
            except BaseException as e:  # handed to the waiter
                box["error"] = e
            finally:
                done.set()

        self.jobs.put(job)

        def wait():
            done.wait()
            if "error" in box:
                raise box["error"]
            return box["value"]

        return wait

    def stop(self):
        for _ in self.threads:
            self.jobs.put(None)


def op_open(req):
    if state["open"]:
        raise Usage("already open: Django's settings are configured once per process")
    configure(req)
    state["workers"] = Workers(int(req["poolSize"]))
    state["open"] = True
    return {}


def workers():
    if state["workers"] is None:
        raise Usage("pool is not open: send open first")
    return state["workers"]


def follow_up(conn, sql):
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
        return {"ok": True}
    except Exception as e:
        return {"ok": False, "error": error_object(e, "follow-up")}


def query(conn, sql):
    """The query as a view writes it, with app.followUp on its error path; raises PhaseError."""
    try:
        cur = conn.cursor()  # the health check and the (re)connect happen here
    except Exception as e:
        raise PhaseError(e, "acquire")
    served.thread_id = thread_id(conn)
    try:
        with cur:
            cur.execute(sql)
            cur.fetchall()
    except Exception as e:
        follow = state["followUp"]
        raise PhaseError(e, "query", follow_up(conn, follow) if follow is not None else None)


def request(sql):
    """One request on the current worker thread: request_started, the query, request_finished."""
    from django.core import signals
    from django.db import connection

    signals.request_started.send(sender=None, environ={})
    try:
        query(connection, sql)
    finally:
        signals.request_finished.send(sender=None)


def timed(fn):
    t0 = time.perf_counter()
    served.thread_id = None
    try:
        fn()
        res = {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 3)}
    except PhaseError as pe:
        res = {"ok": False, "ms": round((time.perf_counter() - t0) * 1000, 3),
               "error": error_object(pe.error, pe.phase)}
        if pe.follow_up is not None:
            res["followUp"] = pe.follow_up
    if served.thread_id is not None:
        res["threadId"] = served.thread_id  # the connection that served it: a lane in the timeline
    return res


def run_request(sql):
    return workers().submit(lambda: timed(lambda: request(sql)))()


def held_thread():
    """The thread outside the request cycle kept by hold: its jobs run one at a time on its own connection."""
    if state["held"] is None:
        state["held"] = Workers(1)
    return state["held"]


def held_run(sql):
    from django.db import connection

    return timed(lambda: query(connection, sql))


def op_run(req):
    if req.get("held"):
        if state["held"] is None:
            raise Usage("no held connection: send hold first")
        return state["held"].submit(lambda: held_run(req["sql"]))()
    return run_request(req["sql"])


def connection_id(in_request):
    """SELECT CONNECTION_ID() on the current thread's connection, inside a request or not."""
    from django.core import signals
    from django.db import connection

    def select():
        try:
            cur = connection.cursor()
        except Exception as e:
            raise PhaseError(e, "acquire")
        try:
            with cur:
                cur.execute("SELECT CONNECTION_ID()")
                return cur.fetchone()[0]
        except Exception as e:
            raise PhaseError(e, "query")

    if not in_request:
        return select()
    signals.request_started.send(sender=None, environ={})
    try:
        return select()
    finally:
        signals.request_finished.send(sender=None)


def op_warm(req):
    """count requests at the same time, each holding its worker until all have their id, so count threads (and
    so count connections) serve them. With CONN_MAX_AGE 0 each connection closes when its request ends."""
    count = int(req["count"])
    pool = workers()
    if count > len(pool.threads):
        raise Usage(f"warm: count {count} is more than the {len(pool.threads)} worker threads")
    barrier = threading.Barrier(count) if count > 0 else None

    def one():
        from django.core import signals
        from django.db import connection

        signals.request_started.send(sender=None, environ={})
        try:
            try:
                cur = connection.cursor()
            except Exception as e:
                raise PhaseError(e, "acquire")
            try:
                with cur:
                    cur.execute("SELECT CONNECTION_ID()")
                    tid = cur.fetchone()[0]
            except Exception as e:
                raise PhaseError(e, "query")
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            return tid
        finally:
            signals.request_finished.send(sender=None)

    waits = [pool.submit(one) for _ in range(count)]
    return {"threadIds": [w() for w in waits]}


def op_hold(req):
    return {"threadId": held_thread().submit(lambda: connection_id(False))()}


def op_busy(req):
    pool = workers()
    waits = [pool.submit(lambda: timed(lambda: request(req["sql"]))) for _ in range(int(req["count"]))]
    return {"results": [w() for w in waits]}


def op_arm(req):
    """count requests one after another on a threading.Timer delayMs from now (0: started here), each on a
    worker as run does; answered at once, on the reading thread, so a collect behind it finds the batch."""
    count, sql, delay = req.get("count"), req.get("sql"), req.get("delayMs") or 0
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 \
            or not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise Usage("arm: count and delayMs must be integers >= 0")
    if not isinstance(sql, str):
        raise Usage("arm: 'sql' must be a string")
    workers()
    batch = {"done": threading.Event(), "results": []}
    with arm_lock:
        if state["batch"] is not None:
            raise Usage("a batch is already armed: send collect first")
        state["batch"] = batch

    def work():
        try:
            for _ in range(count):
                batch["results"].append(run_request(sql))
        finally:
            batch["done"].set()

    t = threading.Timer(delay / 1000, work) if delay > 0 else threading.Thread(target=work)
    t.daemon = True
    t.start()
    return {}


def op_collect(req):
    with arm_lock:
        batch = state["batch"]
    if batch is None:
        raise Usage("nothing armed: send arm first")
    batch["done"].wait()
    with arm_lock:
        if state["batch"] is batch:
            state["batch"] = None
    return {"results": batch["results"]}


def close_all():
    """Each thread closes its own connection (Django's connections belong to the thread that made them)."""
    from django.db import connections

    waits = []
    for pool in (state["workers"], state["held"]):
        if pool is None:
            continue
        barrier = threading.Barrier(len(pool.threads))

        def close(barrier=barrier):
            connections.close_all()
            try:
                barrier.wait(timeout=0.5)  # so that every thread, not one twice, takes a close
            except threading.BrokenBarrierError:
                pass

        waits += [pool.submit(close) for _ in pool.threads]
    return waits


def shutdown(wait):
    if not state["open"]:
        return
    deadline = time.monotonic() + wait
    done = threading.Event()

    def closer():
        for w in close_all():
            try:
                w()
            except Exception:
                pass
        done.set()

    threading.Thread(target=closer, daemon=True).start()
    done.wait(max(0, deadline - time.monotonic()))


def op_close(req):
    shutdown(1.0)
    return {}


OPS = {"hello": op_hello, "open": op_open, "warm": op_warm, "run": op_run,
       "hold": op_hold, "busy": op_busy, "arm": op_arm, "collect": op_collect, "close": op_close}


if __name__ == "__main__":
    serve("django", OPS, error_object, PhaseError, shutdown)
