"""Shared by the Python adapters (sqlalchemy, django): loading the libraries under test and reading their
versions from package metadata, and the JSON-lines plumbing of docs/adapters.md.

A stack is described by a Stack: its adapter's name, the (module, distribution) pairs it loads (the pool
first), and how to install them. With REPRO_LIBRARY_PATH set (directories, colon-separated: pip --target
folders or site-packages), the libraries are loaded from there only, first on the import path; a library
missing there is an error, never the system's copy.
"""

import base64
import hashlib
import importlib
import importlib.machinery
import json
import os
import sys
import threading
from importlib import metadata
from pathlib import Path


class Stack:
    """name: the adapter's name (for stderr lines); libraries: ((module, distribution name), ...), the pool
    first; install: the sentence that says how to install them."""

    def __init__(self, name, libraries, install):
        self.name, self.libraries, self.install = name, tuple(libraries), install


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


def load_library(stack, module_name, dirs, raw):
    """Imports module_name: from the system (dirs None), or from REPRO_LIBRARY_PATH's directories only
    (dirs), never falling back to another copy. Returns (module, version or None)."""
    if dirs is not None:
        spec = importlib.machinery.PathFinder.find_spec(module_name, dirs)
        if spec is None or spec.origin is None or not os.path.isfile(spec.origin):
            absent = [d for d in dirs if not os.path.isdir(d)]
            note = f"; no such directory: {', '.join(absent)}" if absent else ""
            raise LibraryError(
                f"not found in REPRO_LIBRARY_PATH ({raw}){note}: install it into one of those directories, "
                f"e.g. python3 -m pip install --no-deps --target DIR {dict(stack.libraries)[module_name]}==VERSION")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" ({spec.origin})" if dirs is not None else ""
        dep = e.name if isinstance(e, ModuleNotFoundError) and e.name else None
        if dep and dep.split(".")[0] != module_name:
            fix = (f"install the dependency {dep.split('.')[0]} (python3 -m pip install {dep.split('.')[0]}), "
                   "anywhere on the import path")
        else:
            fix = stack.install
        raise LibraryError(f"cannot import {module_name}{where}: {e}: {fix}")
    except Exception as e:  # e.g. a release too old for this Python
        raise LibraryError(f"cannot import {module_name}: {type(e).__name__}: {e}")
    if dirs is not None and not under(module.__file__ or "", dirs):
        raise LibraryError(f"imported from {module.__file__}, not from REPRO_LIBRARY_PATH ({raw})")
    try:
        version = installed_version(module)
    except Exception as e:  # unreadable metadata: said on stderr, the version is unknown
        sys.stderr.write(f"{stack.name} adapter: cannot read the package metadata of {module.__file__}: {e}\n")
        version = None
    return module, version


def prepend_library_path():
    """REPRO_LIBRARY_PATH's directories, if set, go first on the import path: (value, dirs or None)."""
    raw, dirs = library_path()
    if dirs is not None:
        sys.path[0:0] = dirs
    return raw, dirs


def load_libraries(stack):
    """Loads every library as load_library does: {name: (module, version)}, or LibraryError
    naming the first one missing."""
    raw, dirs = prepend_library_path()
    found = {}
    for module_name, name in stack.libraries:
        try:
            found[name] = load_library(stack, module_name, dirs, raw)
        except LibraryError as e:
            raise LibraryError(f"{name}: {e}")
    return found


def check_main(stack):
    """`check`: one line per library, `ok <name> <version>` or `missing <name>: <why and fix>`."""
    raw, dirs = prepend_library_path()
    status = 0
    for module_name, name in stack.libraries:
        try:
            module, version = load_library(stack, module_name, dirs, raw)
        except LibraryError as e:
            print(f"missing {name}: {e}")
            status = 1
            continue
        if version is None:
            sys.stderr.write(f"{name}: no package metadata (*.dist-info RECORD) lists {module.__file__}\n")
        print(f"ok {name} {version or 'unknown'}")
    return status


def start(stack):
    """The adapter's first step: `--check` prints check's library lines and exits; otherwise every library is
    loaded (REPRO_LIBRARY_PATH's copies when set) or the adapter writes one line to stderr and exits 1 before
    reading a request. Returns {distribution name: (module, version or None)}."""
    if sys.argv[1:] == ["--check"]:
        sys.exit(check_main(stack))
    try:
        return load_libraries(stack)
    except LibraryError as e:
        sys.stderr.write(f"{stack.name} adapter: missing {e}\n")
        sys.exit(1)


# ---- protocol plumbing ----

class Usage(Exception):
    """A request repro (or the user's option) got wrong: answered with {"usage": true, "message": ...}."""


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


_out_lock = threading.Lock()


def emit(obj):
    """One whole line on stdout, flushed, under a lock."""
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def serve(name, ops, error_object, phase_error, shutdown, inline=("arm",)):
    """Reads requests until stdin's EOF and answers each exactly once: every op in its own thread but those in
    `inline`, answered on the reading thread before the next line is read (arm registers its batch there, so
    a collect right behind it finds it). `error_object(e, phase)` renders an exception the application
    caught; `phase_error` is the exception type carrying (error, phase). At EOF, `shutdown(wait)` closes the
    pool if it can be done quickly; the process exits 0 within about a second regardless."""

    def handle(req):
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            op = ops.get(req.get("op")) if isinstance(req, dict) else None
            if op is None:
                what = req.get("op") if isinstance(req, dict) else req
                raise Usage(f"unknown op '{what}': known ops are {', '.join(ops)}")
            emit({"id": rid, "ok": True, **op(req)})
        except Usage as e:
            emit({"id": rid, "ok": False, "error": {"usage": True, "message": str(e)}})
        except phase_error as pe:
            emit({"id": rid, "ok": False, "error": error_object(pe.error, pe.phase)})
        except Exception as e:  # an error outside a run (open, close): still exactly one answer
            emit({"id": rid, "ok": False, "error": error_object(e, None)})

    for line in iter(sys.stdin.buffer.readline, b""):
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError:
            sys.stderr.write(f"{name} adapter: request is not JSON\n")
            continue
        if isinstance(req, dict) and req.get("op") in inline:
            handle(req)
            continue
        threading.Thread(target=handle, args=(req,), daemon=True).start()
    t = threading.Thread(target=shutdown, args=(0.5,), daemon=True)
    t.start()
    t.join(0.8)
    os._exit(0)
