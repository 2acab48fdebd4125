#!/usr/bin/env python3
"""dump_added_columns.py - checks that a change to expected.dump files only
appended columns to one table: every removed line comes back, in order, as
itself plus the new fields (the header line: plus the new column names;
a row: plus one of the allowed values per new column, NULL by default).

usage: tests/tools/dump_added_columns.py TABLE COL[,COL...] [VALUE...]
  TABLE: the table the columns were added to (named in the message)
  reads `git diff -U0 -- '*.dump' '*expected.dump'` of the work tree;
  VALUE: the allowed values of a new field (default \\N)
Exit 0 and a count of the lines checked, or 1 and the first line that is
something else."""
import subprocess
import sys

table, cols = sys.argv[1], sys.argv[2].split(",")
allowed = set(sys.argv[3:]) or {"\\N"}
diff = subprocess.run(["git", "diff", "-U0", "--", "*.dump"], capture_output=True, text=True,
                      check=True).stdout
checked = 0
files = 0
minus, plus = [], []


def flush(name):
    global checked
    if len(minus) != len(plus):
        sys.exit(f"{name}: {len(minus)} lines removed, {len(plus)} added")
    for old, new in zip(minus, plus):
        if not new.startswith(old + "\t"):
            sys.exit(f"{name}: not the old line plus fields:\n- {old}\n+ {new}")
        extra = new[len(old) + 1:].split("\t")
        if len(extra) != len(cols):
            sys.exit(f"{name}: {len(extra)} fields added, not {len(cols)}:\n+ {new}")
        if extra != cols and not all(v in allowed for v in extra):
            sys.exit(f"{name}: added values {extra} are not among {sorted(allowed)}")
        checked += 1
    minus.clear()
    plus.clear()


name = None
for line in diff.splitlines():
    if line.startswith("+++ ") or line.startswith("--- "):
        if line.startswith("+++ "):
            if name:
                flush(name)
            name = line[6:]
            files += 1
        continue
    if line.startswith("@@"):
        if name:
            flush(name)
        continue
    if line.startswith("-"):
        minus.append(line[1:])
    elif line.startswith("+"):
        plus.append(line[1:])
if name:
    flush(name)
print(f"{table}: {checked} lines in {files} files, each the old line plus {','.join(cols)}")
