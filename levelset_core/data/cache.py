"""The on-disk cache of generated datasets: one protocol for every generated dataset of both projects.

A generated dataset (or split) is a set of files plus a **marker** file that holds the generator's parameters as
JSON. The data are up to date when the marker holds exactly the wanted parameters (and the files the caller names
exist). :func:`ensure_generated` makes them so:

1. nothing to do when up to date (no lock taken);
2. otherwise it takes an exclusive **lock** (a ``fcntl`` lock on a lock file, so concurrent processes — several
   training workers, parallel tests — generate once; a no-op where ``fcntl`` does not exist), checks again
   (another process may have just finished), **removes the marker**, runs the generator, which writes every file
   atomically (:func:`write_atomic`: temporary file + ``os.replace``), and **writes the marker last**.

An interrupted generation therefore never looks complete, and a generation with other parameters (or another
generator version, part of the parameters) is redone. Nothing here knows what is generated.
"""
import contextlib
import io
import json
import os
import uuid

__all__ = ["atomic_open", "write_atomic", "png_bytes", "read_marker", "is_generated", "generation_lock", "ensure_generated"]


@contextlib.contextmanager
def atomic_open(path, mode="wb", sync=False):
    """Open ``path`` for writing atomically: a ``with`` block writes a temporary file in the same folder
    (``.NAME.<pid>.<random>.tmp``), which replaces ``path`` (``os.replace``) only when the block ends without an
    error (after ``fsync`` with ``sync``); on an error it is removed. Readers, and whoever looks after a process
    killed mid-write, see the old file or the whole new one, never a part (a kill leaves the hidden temporary
    file). ``mode``: ``"wb"`` or ``"w"``."""
    directory, name = os.path.split(os.fspath(path))
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:  # unlike mkstemp, mode 0o666 minus the umask: the same permissions as a plain open()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise FileExistsError(f"Could not create a temporary file next to {path}")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` through :func:`atomic_open`: readers see the old file or the whole new
    one, never a part."""
    with atomic_open(path) as f:
        f.write(data)


def png_bytes(image, compress_level=None):
    """The PNG file of an ``HxW`` or ``HxWx3`` uint8 array (PIL; ``compress_level`` None = PIL's default)."""
    from PIL import Image

    options = {} if compress_level is None else {"compress_level": compress_level}
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", **options)
    return buf.getvalue()


def read_marker(marker):
    """The parameters stored in ``marker``, or None when it is missing or unreadable."""
    try:
        with open(marker, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_generated(marker, params, files=()):
    """True when ``marker`` holds exactly ``params`` and every path of ``files`` is a file."""
    if read_marker(marker) != params:
        return False
    return all(os.path.isfile(f) for f in files)


@contextlib.contextmanager
def generation_lock(lock_file):
    """Hold an exclusive lock on ``lock_file`` (created with its folder) across processes where ``fcntl`` exists
    (a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        yield
        return
    os.makedirs(os.path.dirname(os.fspath(lock_file)) or ".", exist_ok=True)
    with open(lock_file, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def generating(marker, params):
    """Around one generation: removes ``marker`` first (an interrupted run must not look complete) and writes
    ``params`` to it, atomically, when the block succeeds. Does not lock (see :func:`ensure_generated`)."""
    os.makedirs(os.path.dirname(os.fspath(marker)) or ".", exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(marker)
    yield
    write_atomic(marker, json.dumps(params, sort_keys=True).encode("utf-8"))


def ensure_generated(marker, params, generate, *, lock_file, files=()):
    """Run ``generate()`` under ``lock_file`` unless :func:`is_generated` (see the module docstring).

    Args:
        marker (str): the marker file; written last, with ``params``.
        params (dict): JSON-serialisable generator parameters (include the generator version).
        generate (callable): writes the files; called with no arguments inside :func:`generating`.
        lock_file (str): the lock file of this dataset / split.
        files (iterable of str or callable): files that must exist besides the marker; a callable returning them
            is evaluated each time the check runs.
    Returns:
        bool: True when the data were generated by this call.
    """
    def done():
        return is_generated(marker, params, files() if callable(files) else files)

    if done():
        return False
    with generation_lock(lock_file):
        if done():  # another process may have finished meanwhile
            return False
        with generating(marker, params):
            generate()
    return True
