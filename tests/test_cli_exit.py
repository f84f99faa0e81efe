"""``facerec.cli.run`` ends the process without the interpreter's teardown (``exit_now``), and loses nothing a
normal exit would have kept: the exit code, buffered output, ``atexit`` work and running threads' work."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from facerec.cli.main import exit_now

out = Path(sys.argv[1])
def late():
    time.sleep(0.3)
    (out / "thread").write_text("finished")
threading.Thread(target=late).start()  # not a daemon: a normal exit waits for it
atexit.register(lambda: (out / "atexit").write_text("ran"))
log = open(out / "log", "w")  # buffered and never closed: a normal exit flushes it when the file is freed
log.write("kept")
sys.stdout.write("buffered, no newline")
exit_now(3)
"""


def _run(*args, home=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if home is not None:
        env["FACEREC_HOME"] = str(home)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_exit_now_keeps_what_a_normal_exit_keeps(tmp_path):
    r = _run("-c", SCRIPT, str(tmp_path))
    assert r.returncode == 3, r.stderr
    assert r.stdout == "buffered, no newline"
    assert (tmp_path / "thread").read_text() == "finished"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "log").read_text() == "kept"


def test_module_entry_point_returns_the_commands_exit_code(tmp_path):
    home = tmp_path / "home"
    listed = _run("-m", "facerec.cli", "people", "list", home=home)
    assert listed.returncode == 0, listed.stderr
    missing = _run("-m", "facerec.cli", "identify", str(tmp_path / "nope.jpg"), home=home)
    assert missing.returncode == 1 and "nope.jpg: file not found" in missing.stderr


def test_the_allocator_keeps_freed_memory_unless_the_user_tuned_it(monkeypatch):
    """facerec.allocator: applied through glibc's mallopt (the script does it at start); left alone when the user set
    the allocator's own environment variables."""
    import ctypes

    from facerec import allocator

    try:
        ctypes.CDLL(None).mallopt  # noqa: B018
    except (OSError, AttributeError):
        assert allocator.keep_freed_memory() is False  # not glibc: nothing to tune
        return
    for name in allocator.ENV:
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory() is True
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator.keep_freed_memory() is False
