"""The ``facerec`` command line: the parser (global options + every command module's subcommands) and the
dispatch, with one error policy for all commands.

Exit codes (``facerec.cli.common``): 0 success; 1 done, but some inputs failed (each is reported); 2 usage
error (also: the command needs PyTorch, which is not available, e.g. in the standalone bundle); 3 cannot run
(model not installed, gallery unusable, unknown person...); 130 interrupted.

Adding a command group: write ``facerec/cli/<group>.py`` with ``register(sub, common)`` (add subparsers with
``parents=[common]`` and ``set_defaults(func=handler)``; a handler takes ``(args, ctx: Context)`` and returns an
exit code, importing heavy modules inside itself), then add its module name to ``COMMAND_MODULES`` below.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sqlite3
import sys
from typing import Any, NoReturn

from .common import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Context, err

COMMAND_MODULES: list[str] = [
    "facerec.cli.people",  # enrol, people
    "facerec.cli.tagging",  # identify, tag
    "facerec.cli.eval",  # eval lfw
    "facerec.cli.models",  # models list|install
    "facerec.cli.train",  # train, adapt
    "facerec.cli.backup",  # backup, restore
    "facerec.cli.xmp",  # xmp write|status, import-tags
    "facerec.cli.library",  # faces, photos, person, undo, rescan
    "facerec.cli.likeness",  # groups, map, search
]
"""Modules adding subcommands, in the order ``--help`` lists them: each defines ``register(sub, common)``."""

log = logging.getLogger("facerec")


MIN_FACE_SIZE_RANGE = (10, 2000)
"""--min-face-size in pixels: below 10 the detector's pyramid upscales the photo (1 px asked for a 12x larger
image: 6 GB for one photo); the GUI's Settings use the same lower bound."""
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"at most {MAX_THREADS} (this machine has {os.cpu_count() or 1} CPU threads)")
    return value


def _min_face_size(text: str) -> int:
    value = int(text)
    low, high = MIN_FACE_SIZE_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high} pixels")
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or not 0 < value <= 2:
        raise argparse.ArgumentTypeError("must be a cosine distance above 0 and at most 2")
    return value


def check_threshold_for_model(args: argparse.Namespace, model: str) -> str | None:
    """A problem with ``--threshold`` for the model pack in use (outside its ``threshold_bounds``), or None."""
    threshold = getattr(args, "threshold", None)
    if threshold is None:
        return None
    from ..embedders.packs import PACKS

    pack = PACKS.get(model)
    if pack is None:
        return None  # an unknown pack is reported where it is loaded
    low, high, _ = pack.threshold_bounds()
    if not low <= threshold <= high:
        return (
            f"argument --threshold: {threshold:g} is outside the {pack.name} model's range {low:g}-{high:g} "
            f"(its calibrated threshold is {pack.threshold:g}; lower is stricter)"
        )
    return None


def _global_options(in_subcommand: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command name. In subcommands they default to
    "not given" (SUPPRESS), so a value given before the command name is not reset by the subcommand."""
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if in_subcommand else {}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", help="gallery database: a file (default: gallery.db in the user data directory) or postgresql://USER@HOST/DB", **d)
    common.add_argument("--model", metavar="NAME", help="embedder model pack (see: facerec models list)", **d)
    common.add_argument("--weights", metavar="FILE", help="use this weights file for the model", **d)
    common.add_argument("--threshold", type=_threshold, metavar="T", help="identification threshold (cosine distance); lower is stricter", **d)
    common.add_argument("--min-face-size", type=_min_face_size, metavar="PX", help="smallest face to detect, in pixels", **d)
    common.add_argument("--threads", type=_threads, metavar="N", help="CPU threads (default: the settings file, else every core up to 8)", **d)
    common.add_argument("-v", "--verbose", action="store_true", help="more output (and debug logging)", **d)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars", **d)
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global options, then each of ``COMMAND_MODULES``' subcommands."""
    common = _global_options(in_subcommand=True)
    p = argparse.ArgumentParser(
        prog="facerec",
        description="Local-first face recognition: enrol people, identify faces, tag photo folders. Nothing leaves your machine.",
        parents=[_global_options(in_subcommand=False)],
        epilog="exit codes: 0 ok, 1 some inputs failed, 2 usage error (or the command needs PyTorch, which is missing), 3 cannot run, 130 interrupted",
    )
    from .. import __version__

    p.add_argument("--version", action="version", version=f"facerec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return p


def gallery_problem(gallery, exc: Exception) -> str:
    """A message for a database error met in the middle of a command, naming the gallery and what to do."""
    text = str(exc)
    if "full" in text:
        return f"{gallery}: the disk is full: the last change was not saved (everything finished before it is kept); free some space and run the command again"
    if "I/O" in text or "disk" in text and "malformed" not in text:
        return f"{gallery}: cannot write to the gallery ({text}: the disk may be full, removed or failing); finished work is kept"
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return f"{gallery}: the gallery file is damaged ({text}); restore a backup (facerec restore BACKUP) or a gallery.before-*.db copy"
    if "readonly" in text or "read-only" in text:
        return f"{gallery}: the gallery is read-only ({text})"
    return f"{gallery}: {text}"


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threshold", None) is not None:
        from ..config import Settings

        problem = check_threshold_for_model(args, getattr(args, "model", None) or Settings.load().model)
        if problem:
            parser.error(problem)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("facerec").setLevel(logging.DEBUG)
    from ..errors import FacerecError, TorchNotAvailableError
    from ..threads import is_torch_missing

    ctx = Context(args)
    try:
        return int(args.func(args, ctx) or 0)
    except TorchNotAvailableError as exc:  # a torch feature, and no torch (e.g. the standalone bundle)
        err(f"error: {exc}")
        return EXIT_USAGE
    except ModuleNotFoundError as exc:  # a torch import that no require_torch check came before
        if not is_torch_missing(exc):
            raise
        err(f"error: {TorchNotAvailableError(f'facerec {args.command}')}")
        return EXIT_USAGE
    except FacerecError as exc:
        err(f"error: {exc}")
        return EXIT_FATAL
    except sqlite3.DatabaseError as exc:  # disk full, I/O error, a damaged file, found mid-command
        err(f"error: {gallery_problem(ctx.settings.gallery_path, exc)}")
        return EXIT_FATAL
    except OSError as exc:  # e.g. the disk filled up while writing --json/--csv (the partial files are removed)
        if isinstance(exc, BrokenPipeError):
            return EXIT_OK
        where = f"{exc.filename}: " if exc.filename else ""
        err(f"error: {where}{exc.strerror or exc}; finished work is saved in the gallery, run the command again when this is fixed")
        return EXIT_FATAL
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    finally:
        ctx.close()


def run(argv: list[str] | None = None) -> NoReturn:
    """The ``facerec`` script (and ``python -m facerec.cli``): ``main``, then ``exit_now`` with its exit code. The
    process keeps the memory it frees for reuse (facerec.allocator: it ends soon, and tagging frees and allocates
    the same large arrays for every photo)."""
    from ..allocator import keep_freed_memory

    keep_freed_memory()
    exit_now(main(argv))


def exit_now(code: int) -> NoReturn:
    """End the process with exit status ``code`` as a normal exit does (threads are waited for, the ``atexit``
    handlers run, every open file's buffer is written out) but without the interpreter's teardown, which frees every
    object one by one: OpenVINO trims the whole heap each time one of its compiled models is freed (``malloc_trim``),
    and with the detector's and the embedder's per-thread copies that kept a ``facerec tag`` process alive for about
    0.13 s after its work was done (bench/tag_ab.py). The operating system frees the rest."""
    import atexit
    import gc
    import io
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what a normal exit does first: stops executors, joins threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    buffered = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)  # not io.IOBase: an ABC, 3x slower to check
    for obj in gc.get_objects():  # files left open: a normal exit flushes them as it frees them (~10 ms)
        if isinstance(obj, buffered) and obj is not sys.stdout and obj is not sys.stderr:
            _flush(obj)
    _flush(sys.stdout)
    _flush(sys.stderr)
    os._exit(code)


def _flush(stream) -> None:
    try:
        if not stream.closed:
            stream.flush()
    except (OSError, ValueError):  # a closed pipe, a full disk: nothing more can be done about it here
        pass


if __name__ == "__main__":
    run()
