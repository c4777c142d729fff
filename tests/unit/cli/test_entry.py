"""The console script runs the click group and freezes the GC before the interpreter shuts down."""

import subprocess
import sys

CODE = """
import gc, sys
from adapter import cli
sys.argv = ["swr-bridge"] + sys.argv[1:]
try:
    cli.entry()
except SystemExit as exc:
    print("exit", exc.code, "frozen", gc.get_freeze_count() > 0)
"""


def run(*args):
    return subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=60)


def test_entry_keeps_mains_output_and_exit_codes_and_freezes_the_gc():
    shown = run("--version")
    assert shown.stdout.splitlines() == [shown.stdout.splitlines()[0], "exit 0 frozen True"]
    assert shown.stdout.startswith("swr-bridge, version ")
    bad = run("no-such-command")
    assert bad.stdout.strip() == "exit 2 frozen True" and "No such command" in bad.stderr
