"""repro adapter: SQLAlchemy's QueuePool over PyMySQL, driven as an application drives it.

Speaks the JSON-lines protocol of docs/adapters.md on stdin/stdout. Every request runs in its own
thread (arm in the reading one, see main), so a query hanging on a dead socket never blocks the next
request. Logs go to stderr only.

With REPRO_LIBRARY_PATH set (directories, colon-separated: pip --target folders or site-packages),
SQLAlchemy and PyMySQL are loaded from there only, first on the import path; a library missing there
is an error, never the system's copy. `python3 adapter.py --check` prints check's library lines.
"""

import base64
import hashlib
import importlib
import importlib.machinery
import json
import os
import platform
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

# (module, distribution name check/hello print) of every library the adapter loads; the pool first.
LIBRARIES = (("sqlalchemy", "SQLAlchemy"), ("pymysql", "PyMySQL"))
INSTALL = "run `python3 -m pip install SQLAlchemy PyMySQL` or `make setup`"


class LibraryError(Exception):
    """A library that cannot be loaded as asked: the message is the text after `missing <name>: `."""


def library_path():
    """REPRO_LIBRARY_PATH: (its value, its directories, absolute), or (value, None) when unset or empty."""
    raw = os.environ.get("REPRO_LIBRARY_PATH", "")
    if not raw:
        return raw, None
    return raw, [os.path.abspath(p) for p in raw.split(":") if p]


def under(path, dirs):
    path = os.path.realpath(path)
    return any(os.path.commonpath([path, os.path.realpath(d)]) == os.path.realpath(d) for d in dirs)


_hashes = {}


def file_hash(path):
    """RECORD's form of a file's sha256: urlsafe base64 without padding."""
    if path not in _hashes:
        with open(path, "rb") as f:
            _hashes[path] = base64.urlsafe_b64encode(hashlib.sha256(f.read()).digest()).rstrip(b"=").decode()
    return _hashes[path]


def normalized(name):
    return name.lower().replace("-", "_").replace(".", "_")


def dists_in(base, top):
    """The distributions whose *.dist-info / *.egg-info lies in base, in two groups: those whose folder
    is named like top, then the others. (A folder name only orders the search, so that the usual
    case reads one RECORD, not a whole site-packages; the version comes from the metadata of the
    one whose RECORD lists the module's file.)"""
    try:
        infos = [n for n in sorted(os.listdir(base)) if n.endswith((".dist-info", ".egg-info"))]
    except OSError:
        return [], []
    named = [n for n in infos if normalized(n.split("-", 1)[0].rsplit(".", 1)[0]) == normalized(top)]
    others = [n for n in infos if n not in named]
    return ([metadata.PathDistribution(Path(base, n)) for n in named],
            [metadata.PathDistribution(Path(base, n)) for n in others])


def recorded(dist, file, package_dir):
    """None when dist's RECORD does not list file; else how well the package's files on disk match the
    hashes it records: (the module file matches, files under package_dir that do not)."""
    try:
        files = dist.files
    except Exception:
        return None
    if not files:
        return None
    root = os.path.realpath(str(dist.locate_file("")))
    if os.path.commonpath([file, root]) != root:
        return None
    rel = os.path.relpath(file, root).replace(os.sep, "/")
    entry = next((f for f in files if f.as_posix() == rel), None)
    if entry is None:
        return None

    def matches(f, path):
        if f.hash is None or f.hash.mode != "sha256":
            return True  # RECORD's own line, or a file recorded without a hash
        try:
            return file_hash(path) == f.hash.value
        except OSError:
            return False

    mismatched = 0
    if package_dir is not None:
        prefix = os.path.relpath(package_dir, root).replace(os.sep, "/") + "/"
        for f in files:
            p = f.as_posix()
            if p.startswith(prefix) and p.endswith(".py") and not matches(f, os.path.join(root, p)):
                mismatched += 1
    return matches(entry, file), -mismatched


def installed_version(module):
    """The version in the metadata of the distribution that installed module's own file: the
    *.dist-info whose RECORD lists that file (its hashes decide between two that list it, e.g. a
    stale dist-info left beside an upgraded package), else the one *.dist-info / *.egg-info without a
    RECORD beside the module that names it (Debian's packages), else an editable install's
    direct_url.json pointing at it. None when no metadata names the file."""
    if not getattr(module, "__file__", None):
        return None  # a namespace package: no file of its own
    file = os.path.realpath(module.__file__)
    top = module.__name__.split(".")[0]
    is_package = module.__spec__ is not None and module.__spec__.submodule_search_locations is not None
    package_dir = os.path.dirname(file) if is_package else None
    base = os.path.dirname(package_dir) if is_package else os.path.dirname(file)

    named, others = dists_in(base, top)
    for group in (named, others):
        best, best_score = None, None
        for dist in group:
            score = recorded(dist, file, package_dir)
            if score is not None and (best_score is None or score > best_score):
                best, best_score = dist, score
        if best is not None:
            return best.version
    local = named + others

    def names_top(dist):
        tops = (dist.read_text("top_level.txt") or "").split()
        return top in tops if tops else normalized(dist.metadata["Name"] or "") == normalized(top)

    unrecorded = [d for d in local if not d.files and names_top(d)]
    if len(unrecorded) == 1:
        return unrecorded[0].version

    for dist in metadata.distributions():  # an editable install: metadata elsewhere on sys.path
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            continue
        url = info.get("url", "")
        if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
            src = os.path.realpath(url[len("file://"):])
            if os.path.commonpath([file, src]) == src and names_top(dist):
                return dist.version
    return None


def load_library(module_name, dirs, raw):
    """Imports module_name: from the system (dirs None), or from REPRO_LIBRARY_PATH's directories only
    (dirs), never falling back to another copy. Returns (module, version or None)."""
    if dirs is not None:
        spec = importlib.machinery.PathFinder.find_spec(module_name, dirs)
        if spec is None or spec.origin is None or not os.path.isfile(spec.origin):
            absent = [d for d in dirs if not os.path.isdir(d)]
            note = f"; no such directory: {', '.join(absent)}" if absent else ""
            raise LibraryError(
                f"not found in REPRO_LIBRARY_PATH ({raw}){note}: install it into one of those directories, "
                f"e.g. python3 -m pip install --no-deps --target DIR {dict(LIBRARIES)[module_name]}==VERSION")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" ({spec.origin})" if dirs is not None else ""
        dep = e.name if isinstance(e, ModuleNotFoundError) and e.name else None
        if dep and dep.split(".")[0] != module_name:
            fix = (f"install the dependency {dep.split('.')[0]} (python3 -m pip install {dep.split('.')[0]}), "
                   "anywhere on the import path")
        else:
            fix = INSTALL
        raise LibraryError(f"cannot import {module_name}{where}: {e}: {fix}")
    except Exception as e:  # e.g. a release too old for this Python
        raise LibraryError(f"cannot import {module_name}: {type(e).__name__}: {e}")
    if dirs is not None and not under(module.__file__ or "", dirs):
        raise LibraryError(f"imported from {module.__file__}, not from REPRO_LIBRARY_PATH ({raw})")
    try:
        version = installed_version(module)
    except Exception as e:  # unreadable metadata: said on stderr, the version is unknown
        sys.stderr.write(f"sqlalchemy adapter: cannot read the package metadata of {module.__file__}: {e}\n")
        version = None
    return module, version


def prepend_library_path():
    """REPRO_LIBRARY_PATH's directories, if set, go first on the import path: (value, dirs or None)."""
    raw, dirs = library_path()
    if dirs is not None:
        sys.path[0:0] = dirs
    return raw, dirs


def load_libraries():
    """Loads every library as load_library does: {name: (module, version)}, or LibraryError
    naming the first one missing."""
    raw, dirs = prepend_library_path()
    found = {}
    for module_name, name in LIBRARIES:
        try:
            found[name] = load_library(module_name, dirs, raw)
        except LibraryError as e:
            raise LibraryError(f"{name}: {e}")
    return found


def check_main():
    """`check`: one line per library, `ok <name> <version>` or `missing <name>: <why and fix>`."""
    raw, dirs = prepend_library_path()
    status = 0
    for module_name, name in LIBRARIES:
        try:
            module, version = load_library(module_name, dirs, raw)
        except LibraryError as e:
            print(f"missing {name}: {e}")
            status = 1
            continue
        if version is None:
            sys.stderr.write(f"{name}: no package metadata (*.dist-info RECORD) lists {module.__file__}\n")
        print(f"ok {name} {version or 'unknown'}")
    return status


if __name__ == "__main__" and sys.argv[1:] == ["--check"]:
    sys.exit(check_main())

try:
    LOADED = load_libraries()
except LibraryError as e:  # one line, exit 1, before any request is read
    sys.stderr.write(f"sqlalchemy adapter: missing {e}\n")
    sys.exit(1)

# The copies load_libraries() imported and verified (already in sys.modules).
import pymysql  # noqa: E402
from sqlalchemy import create_engine, event, exc, text  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

# From the package metadata of the files loaded (pymysql.__version__ is a MySQLdb-compatibility
# string, e.g. "2.2.8" for PyMySQL 1.2.4).
POOL_VERSION = LOADED["SQLAlchemy"][1] or "unknown"
DRIVER_VERSION = LOADED["PyMySQL"][1] or "unknown"


def parse_bool(v):
    low = v.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_seconds(v):
    f = float(v)
    if f < 0:
        raise ValueError("expected seconds >= 0")
    return int(f) if f.is_integer() else f


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

out_lock = threading.Lock()
arm_lock = threading.Lock()
state = {"engine": None, "held": None, "disposing": False, "followUp": None, "batch": None}


def emit(obj):
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


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


class Usage(Exception):
    pass


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
    try:
        fn()
        return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 3)}
    except PhaseError as pe:
        res = {"ok": False, "ms": round((time.perf_counter() - t0) * 1000, 3),
               "error": error_object(pe.error, pe.phase)}
        if pe.follow_up is not None:
            res["followUp"] = pe.follow_up
        return res


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


def handle(req):
    rid = req.get("id")
    try:
        op = OPS.get(req.get("op"))
        if op is None:
            raise Usage(f"unknown op '{req.get('op')}': known ops are {', '.join(OPS)}")
        emit({"id": rid, "ok": True, **op(req)})
    except Usage as e:
        emit({"id": rid, "ok": False, "error": {"usage": True, "message": str(e)}})
    except PhaseError as pe:
        emit({"id": rid, "ok": False, "error": error_object(pe.error, pe.phase)})
    except Exception as e:  # an error outside a run (open, close): still exactly one answer
        emit({"id": rid, "ok": False, "error": error_object(e, None)})


def main():
    for line in iter(sys.stdin.buffer.readline, b""):
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError:
            sys.stderr.write("sqlalchemy adapter: request is not JSON\n")
            continue
        if isinstance(req, dict) and req.get("op") == "arm":
            # Answered here, before the next line is read: it only registers the batch and starts its
            # timer (or its first operation), and a collect right behind it must find it.
            handle(req)
            continue
        threading.Thread(target=handle, args=(req,), daemon=True).start()
    # stdin EOF: close the pool if it can be done quickly, exit 0 regardless within ~1 s.
    t = threading.Thread(target=shutdown, args=(0.5,), daemon=True)
    t.start()
    t.join(0.8)
    os._exit(0)


if __name__ == "__main__":
    main()
