#!/usr/bin/env python3
"""Checks docs/report.schema.json against a real report, and that it rejects mutated copies.

Usage: python3 Tests/schema/check_schema.py REPORT.json [SCHEMA.json]
Exits 0 when the schema is valid draft 2020-12, accepts the report and rejects every mutation.
"""
import copy
import json
import pathlib
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parents[2]


# A valid error to mutate when the report saw none (e.g. a keepalive run that absorbed nothing).
SYNTHETIC_ERROR = {
    "atMs": 1.5, "code": 2013, "connection": 1, "handledBy": None, "message": "Lost connection to server during query",
    "name": "CR_SERVER_LOST", "operation": 1, "phase": "query", "sqlstate": "HY000", "threadId": 4,
    "kind": "lost", "driver": None,
}


def first_error(report):
    """The first ObservedError in the report (scenarios[].firstError or errors[]), or None."""
    for s in report["scenarios"]:
        if s["firstError"] is not None:
            return s["firstError"]
        if s["errors"]:
            return s["errors"][0]
    return None


def with_error(report):
    """The report itself when it holds an error; else a copy with SYNTHETIC_ERROR as scenarios[0].firstError."""
    if first_error(report) is not None:
        return report, False
    r = copy.deepcopy(report)
    r["scenarios"][0]["firstError"] = copy.deepcopy(SYNTHETIC_ERROR)
    r["scenarios"][0]["errors"].insert(0, copy.deepcopy(SYNTHETIC_ERROR))
    return r, True


def drop_required(r):
    del r["scenarios"][0]["recovered"]


def add_unknown(r):
    r["scenarios"][0]["policy"]["maxIdleTimeout"] = 5


def bad_phase(r):
    first_error(r)["phase"] = "connect"


def string_code(r):
    err = first_error(r)
    err["code"] = str(err["code"])


MUTATIONS = [
    ("missing required key scenarios[0].recovered", drop_required),
    ("unknown key scenarios[0].policy.maxIdleTimeout", add_unknown),
    ("phase 'connect' not in enum", bad_phase),
    ("code as a string", string_code),
]


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    report_path = pathlib.Path(sys.argv[1])
    schema_path = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else ROOT / "docs" / "report.schema.json"
    schema = json.loads(schema_path.read_text())
    report = json.loads(report_path.read_text())

    ok = True
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        print(f"PASS schema is valid draft 2020-12: {schema_path}")
    except jsonschema.SchemaError as e:
        print(f"FAIL schema is not valid draft 2020-12: {e.message}")
        return 1
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        ok = False
        for e in errors:
            print(f"FAIL real report rejected at /{'/'.join(map(str, e.absolute_path))}: {e.message}")
    else:
        print(f"PASS real report accepted: {report_path}")

    base, synthetic = with_error(report)
    if synthetic:
        if validator.is_valid(base):
            print("PASS report has no error; added a synthetic one, still accepted")
        else:
            ok = False
            print("FAIL report has no error; adding a synthetic one made it invalid")
    for label, mutate in MUTATIONS:
        mutated = copy.deepcopy(base)
        mutate(mutated)
        if validator.is_valid(mutated):
            ok = False
            print(f"FAIL mutation accepted: {label}")
        else:
            print(f"PASS mutation rejected: {label}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
