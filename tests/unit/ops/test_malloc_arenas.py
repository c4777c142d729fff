"""serve caps glibc's malloc arenas before gunicorn forks: the threads of a worker share one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Eight threads each allocate (64 KiB: below glibc's mmap threshold, so from an arena) and keep it;
# glibc's malloc_info lists one <heap> per arena.
PROBE = """
import ctypes, sys, threading
from adapter.serve import limit_malloc_arenas
limited = limit_malloc_arenas() if sys.argv[1] == "limit" else None
libc = ctypes.CDLL(None)
held = []
threads = [threading.Thread(target=lambda: held.append(bytes(64 * 1024) + b"x")) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
buf, size = ctypes.c_char_p(), ctypes.c_size_t()
libc.open_memstream.restype = ctypes.c_void_p
stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(buf), ctypes.byref(size)))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(limited, ctypes.string_at(buf, size.value).count(b"<heap nr="))
"""


def arenas(mode: str, **env) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT,
                         env=environ, timeout=60)
    assert run.returncode == 0, run.stderr
    limited, count = run.stdout.split()
    return limited, int(count)


def test_threads_get_arenas_of_their_own_unless_serve_caps_them():
    assert arenas("free")[1] > 1  # glibc's default: the check below can fail
    assert arenas("limit") == ("True", 1)


def test_an_operators_malloc_arena_max_is_left_alone():
    assert arenas("limit", MALLOC_ARENA_MAX="4")[0] == "False"
