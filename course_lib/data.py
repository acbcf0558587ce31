"""Download, cache, verify and load the MovieLens data sets.

Introduced in lesson 00. Every later lesson starts with::

    from course_lib import data
    ratings, movies = data.load()            # ml-latest-small by default

``fetch`` looks for the archive in this order:

1. the local cache (``<repo>/data/``; ``COURSE_DATA_DIR`` or ``data_dir=``
   override it),
2. a mirror (``mirror=`` or ``COURSE_DATA_MIRROR``): a local folder holding
   ``<variant>.zip`` or an ``http(s)://`` URL prefix,
3. the official GroupLens URL, over verified TLS;
4. only when GroupLens fails for a certificate (TLS), connection or HTTP
   reason, a fallback chain, each step announced in one line on stderr:

   a. the public mirrors that the registry lists for that release
      (``Variant.mirrors``: copies known to be byte-identical, over verified
      TLS);
   b. after a certificate error only, GroupLens again *without* certificate
      verification. That is safe only because nothing is kept unless its
      sha256 matches the registry, so it is never done for a release that
      has no sha256 pinned (ml-32m: md5 only).

   ``COURSE_DATA_STRICT_TLS=1`` turns the chain off: a certificate error then
   stops the fetch, with a message that says what to do.

Every archive is checked against its published size and checksum, extracted
safely, and only then moved into the cache, so a failure never leaves a
half-written file that a later run would trust.

The loaders return DataFrames whose columns are the constants of
:mod:`course_lib.columns`, whatever the release's own file format.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import re
import shutil
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, TextIO

import numpy as np
import pandas as pd

from course_lib.columns import (
    GENRE_SEP,
    GENRES,
    ITEM,
    MOVIES_COLUMNS,
    NO_GENRE,
    RATING,
    RATINGS_COLUMNS,
    TIMESTAMP,
    TITLE,
    USER,
    YEAR,
)

__all__ = [
    "CITATION",
    "DEFAULT_VARIANT",
    "LICENSE_NOTICE",
    "VARIANTS",
    "DataError",
    "Variant",
    "cache_dir",
    "fetch",
    "get_variant",
    "load",
    "load_movies",
    "load_ratings",
    "show_license",
]


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One downloadable MovieLens release.

    Attributes:
        name: Registry key, also the cache file name (``<name>.zip``) and the
            extracted folder name.
        url: Official GroupLens download URL.
        size: Archive size in bytes, or ``None`` when it is not published.
        sha256: Published SHA-256 of the archive, or ``None``.
        md5: Published MD5, used only when no SHA-256 is published.
        folder: Top-level folder inside the zip.
        fmt: File layout: ``"csv"`` (ml-latest, ml-25m, ml-32m), ``"ml-100k"``
            or ``"ml-1m"``.
        mirrors: Full URLs of public copies known to be byte-identical to
            ``url``, tried in order (over verified TLS) only when GroupLens
            fails for a certificate, connection or HTTP reason. Whatever they
            serve is still checked against ``sha256``/``md5`` and ``size``.
    """

    name: str
    url: str
    size: int | None
    sha256: str | None
    md5: str | None = None
    folder: str = ""
    fmt: str = "csv"
    mirrors: tuple[str, ...] = ()

    @property
    def unverified_retry_allowed(self) -> bool:
        """Whether GroupLens may be retried without certificate verification.

        Only a pinned sha256 vouches for bytes that came over an unverified
        connection. md5 is broken as a security hash (collisions are cheap),
        so an md5-only release (ml-32m) is never fetched that way.
        """
        return bool(self.sha256)


_BASE_URL = "https://files.grouplens.org/datasets/movielens/"

# The Recommenders project's Hugging Face mirror of the GroupLens zips
# (recommenders-team/recommenders#2369, 2026-08-31): byte-identical
# copies of ml-100k, ml-1m, ml-10m and ml-20m, i.e. of the registry's ml-100k
# and ml-1m. The dataset page (https://huggingface.co/datasets/Recommenders/MovieLens)
# is confirmed by that pull request; the per-file paths below follow the
# ``resolve/main/<file>`` pattern of its sister mirrors (Recommenders/MIND,
# Recommenders/criteo) and were NOT verified from this repository, which has
# no internet access. Nothing depends on them being right: a wrong path is a
# 404 and the chain moves on, and a wrong file fails the sha256 check. No
# public mirror of ml-latest-small, ml-25m or ml-32m is known.
_HF_MIRROR = "https://huggingface.co/datasets/Recommenders/MovieLens/resolve/main/"

#: Set to 1 to turn the fallback chain off (see the module docstring).
STRICT_TLS_ENV = "COURSE_DATA_STRICT_TLS"

#: Releases the course knows about, keyed by name.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant(
            name="ml-latest-small",
            url=_BASE_URL + "ml-latest-small.zip",
            size=978202,
            sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            folder="ml-latest-small",
            fmt="csv",
        ),
        Variant(
            name="ml-100k",
            url=_BASE_URL + "ml-100k.zip",
            size=4924029,
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            folder="ml-100k",
            fmt="ml-100k",
            mirrors=(_HF_MIRROR + "ml-100k.zip",),
        ),
        Variant(
            name="ml-1m",
            url=_BASE_URL + "ml-1m.zip",
            size=5917549,
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            folder="ml-1m",
            fmt="ml-1m",
            mirrors=(_HF_MIRROR + "ml-1m.zip",),
        ),
        Variant(
            name="ml-25m",
            url=_BASE_URL + "ml-25m.zip",
            size=261978986,
            sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
            folder="ml-25m",
            fmt="csv",
        ),
        Variant(
            # GroupLens publishes only an MD5 for ml-32m, and no size.
            name="ml-32m",
            url=_BASE_URL + "ml-32m.zip",
            size=None,
            sha256=None,
            md5="d472be332d4daa821edc399621853b57",
            folder="ml-32m",
            fmt="csv",
        ),
    ]
}

DEFAULT_VARIANT = "ml-latest-small"

#: Written last into a finished extraction; a folder without it is redone.
_MARKER = ".verified"
_CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data set could not be fetched or read; the message says what to do."""


def get_variant(variant: str | Variant) -> Variant:
    """Look up a release by name.

    Args:
        variant: A registry name such as ``"ml-100k"``, or a ``Variant``
            (returned unchanged, which lets tests and mirrors describe their
            own archives).

    Returns:
        The matching ``Variant``.

    Raises:
        ValueError: If the name is not in ``VARIANTS``.
    """
    if isinstance(variant, Variant):
        return variant
    try:
        return VARIANTS[variant]
    except KeyError:
        valid = ", ".join(sorted(VARIANTS))
        raise ValueError(f"unknown MovieLens variant {variant!r}; valid names: {valid}") from None


# ---------------------------------------------------------------------------
# Licence
# ---------------------------------------------------------------------------

CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: "
    "History and Context. ACM Transactions on Interactive Intelligent Systems "
    "(TiiS) 5, 4: 19:1–19:19. https://doi.org/10.1145/2827872"
)

LICENSE_NOTICE = """\
MovieLens data sets (c) GroupLens Research, University of Minnesota.
Usage licence, in short (the README.txt inside each archive is binding):
  * research and teaching use only; no commercial or revenue-bearing use
    without permission from GroupLens;
  * do not redistribute the data without permission (the newest releases
    allow redistribution only under these same conditions), so every
    learner downloads their own copy and nothing is committed to git;
  * do not state or imply endorsement by the University of Minnesota or
    GroupLens;
  * acknowledge the data set in any publication by citing the paper below.
Details: https://grouplens.org/datasets/movielens/"""


def show_license(
    variant: str | Variant = DEFAULT_VARIANT,
    data_dir: str | os.PathLike | None = None,
    file: TextIO | None = None,
) -> None:
    """Print the licence summary and the citation for a release.

    Args:
        variant: Release name or ``Variant``.
        data_dir: Cache folder to look in for the extracted ``README.txt``.
        file: Stream to print to; defaults to stdout.
    """
    v = get_variant(variant)
    print(f"[{v.name}] {LICENSE_NOTICE}", file=file)
    print(f"Please cite: {CITATION}", file=file)
    folder = cache_dir(data_dir) / v.name
    for readme in (folder / "README.txt", folder / "README"):  # ml-100k has no suffix
        if readme.is_file():
            print(f"Full licence and file descriptions: {readme}", file=file)
            break


# ---------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache folder (not created).

    Args:
        data_dir: Explicit folder; wins over ``COURSE_DATA_DIR``, which wins
            over the default ``data/`` folder next to the ``course_lib``
            package.

    Returns:
        An absolute path.
    """
    if data_dir is None:
        data_dir = os.environ.get("COURSE_DATA_DIR") or Path(__file__).resolve().parent.parent / "data"
    return Path(data_dir).expanduser().resolve()


class _Unavailable(Exception):
    """A source does not have the archive; the next source may.

    Attributes:
        cause: ``"tls"`` (certificate or handshake failure), ``"connection"``
            (DNS, refused, timeout, offline), ``"http"`` (an HTTP error
            status) or ``"missing"`` (no such file in a mirror folder).
        reason: A short human-readable reason.
    """

    def __init__(self, where: str, reason: str, cause: str = "missing"):
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.cause = cause


def _strict_tls() -> bool:
    """True when ``COURSE_DATA_STRICT_TLS`` turns the fallback chain off."""
    return os.environ.get(STRICT_TLS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _unverified_context() -> ssl.SSLContext:
    """TLS without certificate or host-name checks, for sha256-pinned downloads only."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _classify(exc: BaseException) -> tuple[str, str]:
    """Turn a ``urlopen`` failure into ``(cause, reason)`` (see ``_Unavailable``)."""
    if isinstance(exc, urllib.error.HTTPError):
        return "http", f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "tls", f"certificate verification failed: {reason.verify_message or reason}"
    if isinstance(reason, ssl.SSLError):
        return "tls", f"TLS error: {reason}"
    return "connection", str(reason)


def _hash_name(v: Variant) -> tuple[str, str]:
    if v.sha256:
        return "sha256", v.sha256.lower()
    if v.md5:
        return "md5", v.md5.lower()
    raise DataError(f"{v.name} has neither a sha256 nor an md5 in the registry; add one before fetching it.")


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(v: Variant, path: Path, digest: str | None = None) -> str | None:
    """Return None if ``path`` is the expected archive, else why it is not."""
    algo, expected = _hash_name(v)
    got_size = path.stat().st_size
    if v.size is not None and got_size != v.size:
        return f"size mismatch (truncated download?): expected {v.size} bytes, got {got_size}"
    got = digest or _file_digest(path, algo)
    if got != expected:
        return f"{algo} mismatch: expected {expected}, got {got}"
    return None


def _ensure_writable(root: Path) -> None:
    """Fail early, with advice, if the cache folder cannot be written."""
    hint = (
        "Set COURSE_DATA_DIR to a writable folder (or pass data_dir=...), "
        "e.g. export COURSE_DATA_DIR=$HOME/movielens"
    )
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(f"cache folder {root} is not writable ({exc}). {hint}.") from exc


def _mirror_source(v: Variant, mirror: str | os.PathLike | None) -> tuple[str, str] | None:
    """Resolve the mirror setting to ``("file"|"url", location)``, or None."""
    if mirror is None:
        mirror = os.environ.get("COURSE_DATA_MIRROR") or None
    if mirror is None:
        return None
    text = os.fspath(mirror)
    if re.match(r"^https?://", text):
        return "url", text.rstrip("/") + f"/{v.name}.zip"
    folder = Path(text).expanduser()
    if not folder.exists():
        raise DataError(
            f"mirror path {folder} does not exist. Fix COURSE_DATA_MIRROR (or mirror=) to point at a "
            f"folder holding {v.name}.zip, or unset it to download from GroupLens."
        )
    # Accept the zip itself as well as the folder that holds it.
    if folder.is_file():
        return "file", str(folder)
    return "file", str(folder / f"{v.name}.zip")


def _copy_stream(
    src: BinaryIO, total: int | None, dest: BinaryIO, algo: str, desc: str, progress: bool, limit: int | None = None
) -> str:
    """Copy ``src`` to ``dest`` with a progress bar; return the hex digest.

    With ``limit``, stop reading once more than ``limit`` bytes came in: the
    size check then refuses the file, and a server (or whoever sits on an
    unverified connection) cannot fill the disk.
    """
    from tqdm.auto import tqdm  # imported lazily: keeps `import course_lib.data` light

    h = hashlib.new(algo)
    written = 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress) as bar:
        while limit is None or written <= limit:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            written += len(chunk)
            try:
                dest.write(chunk)
            except OSError as exc:  # keep "disk full" apart from network trouble
                raise DataError(
                    f"could not write {desc} ({exc}); the partial file was deleted. Free some disk "
                    "space or set COURSE_DATA_DIR to a writable folder."
                ) from exc
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def _download_to(
    v: Variant, kind: str, where: str, dest: BinaryIO, progress: bool, context: ssl.SSLContext | None = None
) -> str:
    """Stream one source into ``dest``; return the digest.

    Args:
        context: TLS context for an ``https`` URL; ``None`` means Python's
            default, which verifies certificates (and honours ``SSL_CERT_FILE``).

    Raises:
        _Unavailable: The source does not have the archive (missing file,
            certificate error, no connection, HTTP error).
        DataError: The transfer broke off mid-stream.
    """
    algo, _ = _hash_name(v)
    desc = f"{v.name}.zip"
    if kind == "file":
        path = Path(where)
        if not path.is_file():
            raise _Unavailable(str(path), "not found")
        with open(path, "rb") as src:
            return _copy_stream(src, path.stat().st_size, dest, algo, desc, progress)
    try:
        if context is None:
            resp = urllib.request.urlopen(where, timeout=60)
        else:
            resp = urllib.request.urlopen(where, timeout=60, context=context)
    except (urllib.error.URLError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
        cause, reason = _classify(exc)
        raise _Unavailable(where, reason, cause) from exc
    try:
        with resp:
            length = resp.headers.get("Content-Length") if resp.headers is not None else None
            total = int(length) if length and str(length).isdigit() else v.size
            return _copy_stream(resp, total, dest, algo, desc, progress, limit=v.size)
    except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
        raise DataError(
            f"download of {v.name} from {where} was interrupted ({exc!r}); "
            "the partial file was deleted; run again."
        ) from exc


def _download_verified(
    v: Variant, root: Path, kind: str, where: str, progress: bool, context: ssl.SSLContext | None = None
) -> str | None:
    """Download one source to a temp file, verify it, and only then move it into place.

    Returns:
        ``None`` once ``<root>/<name>.zip`` holds the verified archive, or why
        the bytes were refused (size or checksum mismatch); a refused file is
        deleted.

    Raises:
        _Unavailable: The source does not have the archive.
        DataError: Interrupted transfer, or the cache cannot be written.
    """
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{v.name}.part-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _download_to(v, kind, where, out, progress, context)
        problem = _verify(v, tmp, digest)
        if problem:
            return problem
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared cache needs it readable
        os.replace(tmp, root / f"{v.name}.zip")  # atomic: the cache only ever holds a verified zip
        return None
    except OSError as exc:
        raise DataError(
            f"could not write {v.name}.zip into {root} ({exc}); nothing was kept. Free some disk "
            "space or set COURSE_DATA_DIR to a writable folder."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _refused(v: Variant, where: str, problem: str) -> DataError:
    deleted = "partial" if problem.startswith("size") else "corrupt"
    return DataError(
        f"{v.name}.zip from {where}: {problem}; the {deleted} file was deleted; run again. "
        "If it fails again, the source copy is bad: replace the mirror file or unset "
        "COURSE_DATA_MIRROR."
    )


def _use_a_mirror(v: Variant) -> str:
    return (
        f"set COURSE_DATA_MIRROR to a folder holding {v.name}.zip (e.g. one copied from a USB stick or a "
        "classmate) or to an http(s) URL prefix serving it"
    )


def _fallbacks(v: Variant, cause: str) -> list[tuple[str, str, ssl.SSLContext | None]]:
    """The steps after GroupLens failed: ``(description, url, tls context)``.

    Public mirrors (verified TLS) after a certificate, connection or HTTP
    error; GroupLens without certificate verification after a certificate
    error, and only for a release with a pinned sha256.
    """
    if cause not in ("tls", "connection", "http"):
        return []
    steps: list[tuple[str, str, ssl.SSLContext | None]] = [(f"the public mirror {u}", u, None) for u in v.mirrors]
    if cause == "tls" and v.unverified_retry_allowed:
        steps.append(("GroupLens again without certificate verification", v.url, _unverified_context()))
    return steps


def _chain_words(v: Variant) -> str:
    """The fallback chain after a certificate error, in words ("" if there is none)."""
    parts = []
    if v.mirrors:
        parts.append("its public mirror" + ("s" if len(v.mirrors) > 1 else ""))
    if v.unverified_retry_allowed:
        parts.append("GroupLens without certificate verification")
    return " and then ".join(parts)


def _md5_only_note(v: Variant) -> str:
    return (
        f"GroupLens was not retried without certificate verification: the registry pins only an md5 "
        f"for {v.name}, and an md5 cannot vouch for a file fetched over an unverified connection. "
        f"To allow it, first pin the archive's sha256 (Variant.sha256 in course_lib/data.py), computed "
        "from a copy you trust"
    )


def _obtain(v: Variant, root: Path, mirror: str | os.PathLike | None, progress: bool) -> Path:
    """Fetch the archive from the mirror, GroupLens or the fallback chain into ``<root>/<name>.zip``."""
    final = root / f"{v.name}.zip"
    algo, _ = _hash_name(v)
    failures: list[str] = []

    # 1. COURSE_DATA_MIRROR / mirror=, then 2. GroupLens over verified TLS.
    sources: list[tuple[str, str]] = []
    m = _mirror_source(v, mirror)
    if m is not None:
        sources.append(m)
    sources.append(("url", v.url))
    cause, reason = "missing", ""
    for kind, where in sources:
        try:
            problem = _download_verified(v, root, kind, where, progress)
        except _Unavailable as exc:
            failures.append(str(exc))
            cause, reason = exc.cause, exc.reason  # the last one is GroupLens'
            continue
        if problem:
            raise _refused(v, where, problem)
        return final

    # 3. GroupLens failed: the fallback chain, unless the opt-out forbids it.
    strict = _strict_tls()
    if strict and cause == "tls":
        tried = "\n  ".join(failures)
        options = [_use_a_mirror(v)]
        chain = _chain_words(v)
        if chain:
            options.append(
                f"unset {STRICT_TLS_ENV} to let the course try {chain} (a download is kept only if its "
                f"{algo} matches the course's registry)"
            )
        options.append("run again once GroupLens has renewed its certificate")
        raise DataError(
            f"could not download {v.name}; tried:\n  {tried}\n"
            f"GroupLens' certificate failed verification and {STRICT_TLS_ENV}=1 stops the fetch there. "
            f"To go on: {'; or '.join(options)}."
        )
    steps = [] if strict else _fallbacks(v, cause)  # the opt-out: no public mirror, no unverified retry
    previous = f"GroupLens ({v.url})"
    for desc, url, context in steps:
        print(
            f"{v.name}: {previous} failed ({reason}); trying {desc}, kept only if its {algo} matches "
            "the course's registry",
            file=sys.stderr,
        )
        try:
            problem = _download_verified(v, root, "url", url, progress, context)
        except _Unavailable as exc:
            failures.append(str(exc))
            previous, reason = desc, exc.reason
            continue
        if problem is None:
            return final
        if context is not None:  # bytes that came over an unverified connection
            raise DataError(
                f"{v.name}.zip from {url}, fetched without certificate verification after GroupLens' "
                f"certificate failed, does not match the course's registry ({problem}); it was refused "
                "and deleted, nothing was kept. The connection may be intercepted, or GroupLens changed "
                "the file: do not work around this check. Instead, set COURSE_DATA_MIRROR to a copy you "
                f"trust (a folder holding {v.name}.zip, e.g. from a USB stick, or an http(s) URL prefix "
                "serving it), or run again from another network."
            )
        failures.append(f"{url}: {problem}; refused and deleted")
        previous, reason = desc, f"{problem}; refused and deleted"

    if cause == "tls" and not v.unverified_retry_allowed:
        failures.append(_md5_only_note(v))
    tried = "\n  ".join(failures)
    if cause == "tls":
        raise DataError(
            f"could not download {v.name}; tried:\n  {tried}\n"
            f"GroupLens' certificate failed verification. To go on: {_use_a_mirror(v)}, then run again; "
            "or run again once GroupLens has renewed its certificate."
        )
    raise DataError(
        f"could not download {v.name}; tried:\n  {tried}\n"
        f"Check your internet connection, or {_use_a_mirror(v)}, then run again."
    )


def _unsafe_member(name: str) -> bool:
    """True for zip members that could land outside the extraction folder."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def _extract(v: Variant, zip_path: Path, root: Path, out: Path, digest: str) -> None:
    """Extract into a temp folder, validate, then rename to ``out`` atomically."""
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{v.name}.extract-"))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                bad = [n for n in zf.namelist() if _unsafe_member(n)]
                if bad:
                    raise DataError(
                        f"refusing to extract {zip_path.name}: member {bad[0]!r} would be written outside "
                        "the data folder (absolute path, drive letter or '..'). The archive was deleted; "
                        "it is not a genuine MovieLens file: fetch it from GroupLens or fix the mirror copy."
                    )
                zf.extractall(tmp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise DataError(
                f"{zip_path.name} is not a readable zip archive ({exc}); it was deleted. Run again to "
                "re-download it; if it fails again, replace the mirror copy or unset COURSE_DATA_MIRROR."
            ) from exc
        entries = list(tmp.iterdir())
        src = tmp / v.folder if v.folder and entries == [tmp / v.folder] else tmp
        # The marker goes in last: its presence means "complete and verified".
        (src / _MARKER).write_text(digest + "\n")
        os.chmod(src, 0o755)  # mkdtemp makes it private when the zip has no top folder
        os.rename(src, out)
    except DataError:
        zip_path.unlink(missing_ok=True)  # an unusable archive must not be trusted later
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _clean_stale(v: Variant, root: Path) -> None:
    """Remove leftovers of a killed run (safe: we hold the lock)."""
    # The "." after the name keeps "ml-latest" from matching "ml-latest-small".
    for p in [*root.glob(f".{v.name}.part-*"), *root.glob(f".{v.name}.extract-*")]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def fetch(
    variant: str | Variant = DEFAULT_VARIANT,
    data_dir: str | os.PathLike | None = None,
    mirror: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Make sure a release is downloaded, verified and extracted.

    Args:
        variant: Release name (see ``VARIANTS``) or a ``Variant``.
        data_dir: Cache folder; defaults to ``COURSE_DATA_DIR`` or ``<repo>/data``.
        mirror: Local folder holding ``<variant>.zip``, or an http(s) URL
            prefix; defaults to ``COURSE_DATA_MIRROR``. Tried before GroupLens.
        progress: Show a download progress bar.

    If GroupLens fails for a certificate, connection or HTTP reason, the
    fallback chain of the module docstring runs (public mirrors, then, after
    a certificate error, GroupLens without certificate verification), each
    step announced in one line on stderr; ``COURSE_DATA_STRICT_TLS=1`` turns
    it off. Whatever the source, only an archive whose checksum matches the
    registry is kept.

    Returns:
        The extracted folder ``<cache>/<variant>/``.

    Raises:
        ValueError: Unknown variant name.
        DataError: Offline, certificate error with no way left (or with
            ``COURSE_DATA_STRICT_TLS=1``), bad checksum, corrupt or unsafe
            archive, cache not writable, or missing mirror path. Nothing
            partial is left behind.
    """
    from filelock import FileLock

    v = get_variant(variant)
    root = cache_dir(data_dir)
    out = root / v.name
    # Fast path without the lock, so a read-only, pre-filled cache still works.
    if (out / _MARKER).is_file():
        return out

    _ensure_writable(root)
    algo, _ = _hash_name(v)
    with FileLock(str(root / f"{v.name}.lock")):
        # Another process may have finished while we waited for the lock.
        if (out / _MARKER).is_file():
            return out
        _clean_stale(v, root)
        if out.exists():
            shutil.rmtree(out)  # no marker: an interrupted extraction

        zip_path = root / f"{v.name}.zip"
        downloaded = False
        if zip_path.is_file() and _verify(v, zip_path) is not None:
            print(f"cached {zip_path} failed verification; fetching it again", file=sys.stderr)
            zip_path.unlink()
        if not zip_path.is_file():
            _obtain(v, root, mirror, progress)
            downloaded = True
        try:
            _extract(v, zip_path, root, out, _file_digest(zip_path, algo))
        except OSError as exc:
            shutil.rmtree(out, ignore_errors=True)
            raise DataError(
                f"could not extract {zip_path.name} into {root} ({exc}); nothing was kept. Free some "
                "disk space or set COURSE_DATA_DIR to a writable folder."
            ) from exc

    if downloaded:
        # stderr: a notebook's stdout must not depend on whether the cache was warm.
        show_license(v, root, file=sys.stderr)
    return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

_ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip

# Older releases spell a few genres differently from ml-latest.
_GENRE_ALIASES = {"Children's": "Children", "unknown": NO_GENRE, "": NO_GENRE}

_EXPECTED_FILES = (
    "ratings.csv + movies.csv (ml-latest-small, ml-25m, ml-32m), "
    "u.data + u.item (ml-100k) or ratings.dat + movies.dat (ml-1m)"
)

_YEAR_RE = r"\((\d{4})\)\s*$"


def _layout(folder: Path) -> str:
    """Detect the file layout of an extracted release folder."""
    if (folder / "ratings.csv").is_file():
        return "csv"
    if (folder / "u.data").is_file():
        return "ml-100k"
    if (folder / "ratings.dat").is_file():
        return "ml-1m"
    raise DataError(
        f"{folder} holds no MovieLens files; expected {_EXPECTED_FILES}. "
        "Point path= at the folder extracted from the zip."
    )


def _folder(variant: str | Variant, path: str | os.PathLike | None, fetch_kwargs: dict) -> Path:
    if path is None:
        return fetch(variant, **fetch_kwargs)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; point path= at the folder extracted from the MovieLens zip.")
    # Tolerate pointing at the folder *above* the extraction.
    v = get_variant(variant)
    inner = folder / (v.folder or v.name)
    if not any((folder / f).is_file() for f in ("ratings.csv", "u.data", "ratings.dat")) and inner.is_dir():
        folder = inner
    return folder


def _read(file: Path, reader: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Run a pandas reader, turning parser failures into a DataError."""
    if not file.is_file():
        raise DataError(f"{file} is missing; expected {_EXPECTED_FILES}.")
    try:
        return reader()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{file} is malformed: {exc}. Re-extract or re-download the data set.") from exc


def _numeric(df: pd.DataFrame, col: str, file: Path, integer: bool) -> pd.Series:
    """Return ``df[col]`` as numbers, or name the first bad value in ``file``."""
    s = df[col]
    values = s if pd.api.types.is_numeric_dtype(s) else pd.to_numeric(s, errors="coerce")
    bad = values.isna()
    if integer and not bad.any():
        bad = values != np.floor(values)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "an integer" if integer else "a number"
        raise DataError(
            f"{file} is malformed: column {col!r} must hold {kind}, but row {i + 1} has {s.iloc[i]!r}. "
            "Re-extract or re-download the data set."
        )
    return values


def _finish_ratings(raw: pd.DataFrame, file: Path) -> pd.DataFrame:
    """Type, validate and sort ratings whose columns are already renamed."""
    df = pd.DataFrame(
        {
            USER: _numeric(raw, USER, file, True).astype("int64"),
            ITEM: _numeric(raw, ITEM, file, True).astype("int64"),
            RATING: _numeric(raw, RATING, file, False).astype("float32"),
            TIMESTAMP: _numeric(raw, TIMESTAMP, file, True).astype("int64"),
        }
    )
    out_of_range = ~df[RATING].between(0.5, 5.0)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range.to_numpy())[0])
        raise DataError(
            f"{file} is malformed: {int(out_of_range.sum())} ratings outside 0.5..5 "
            f"(first at row {i + 1}: {df[RATING].iloc[i]}). Re-extract or re-download the data set."
        )
    df = df.sort_values([USER, TIMESTAMP, ITEM], kind="stable", ignore_index=True)
    return df[RATINGS_COLUMNS]


def _headerless(file: Path, n: int, sep: str, raw: pd.DataFrame) -> pd.DataFrame:
    if raw.shape[1] != n:
        raise DataError(
            f"{file} is malformed: expected {n} {sep!r}-separated fields per line, found {raw.shape[1]}. "
            "Re-extract or re-download the data set."
        )
    return raw


def load_ratings(
    variant: str | Variant = DEFAULT_VARIANT,
    path: str | os.PathLike | None = None,
    **fetch_kwargs,
) -> pd.DataFrame:
    """Load the ratings of a release.

    Args:
        variant: Release name or ``Variant``; fetched if ``path`` is None.
        path: An already-extracted release folder; skips fetching. The file
            layout (csv, ml-100k, ml-1m) is detected from the files present.
        **fetch_kwargs: Passed to :func:`fetch` (``data_dir``, ``mirror``,
            ``progress``).

    Returns:
        Columns ``[USER int64, ITEM int64, RATING float32, TIMESTAMP int64]``
        (unix seconds), sorted by user, time, item, with a fresh RangeIndex.

    Raises:
        DataError: Missing files, wrong columns, non-numeric values or
            ratings outside 0.5..5; the message names the file.
    """
    folder = _folder(variant, path, fetch_kwargs)
    layout = _layout(folder)
    if layout == "csv":
        file = folder / "ratings.csv"
        raw = _read(file, lambda: pd.read_csv(file))
        expected = ["userId", "movieId", "rating", "timestamp"]
        missing = [c for c in expected if c not in raw.columns]
        if missing:
            raise DataError(
                f"{file} is malformed: missing column(s) {missing}; header is {list(raw.columns)}, "
                f"expected {expected}. Re-extract or re-download the data set."
            )
        raw = raw[expected]
    elif layout == "ml-100k":
        file = folder / "u.data"
        raw = _read(file, lambda: pd.read_csv(file, sep="\t", header=None))
        raw = _headerless(file, 4, "\t", raw)
    else:
        file = folder / "ratings.dat"

        def read_dat() -> pd.DataFrame:
            # '::' would force pandas' slow python engine; ids are digits, so a
            # byte-level swap to tabs is safe and ~10x faster.
            data = file.read_bytes().replace(b"::", b"\t")
            return pd.read_csv(io.BytesIO(data), sep="\t", header=None)

        raw = _headerless(file, 4, "::", _read(file, read_dat))
    raw.columns = RATINGS_COLUMNS
    return _finish_ratings(raw, file)


def _normalize_genres(text: str) -> str:
    """Map a pipe-joined genre list to ml-latest spelling."""
    names = [_GENRE_ALIASES.get(g.strip(), g.strip()) for g in str(text).split(GENRE_SEP)]
    real = list(dict.fromkeys(g for g in names if g != NO_GENRE))  # dedupe, keep order
    return GENRE_SEP.join(real) if real else NO_GENRE


def _finish_movies(ids: pd.Series, titles: pd.Series, genres: pd.Series, file: Path) -> pd.DataFrame:
    tmp = pd.DataFrame({ITEM: ids.to_numpy()})
    titles = titles.astype("str").str.strip()  # ml-latest has stray trailing spaces
    mapping = {g: _normalize_genres(g) for g in genres.unique()}
    df = pd.DataFrame(
        {
            ITEM: _numeric(tmp, ITEM, file, True).astype("int64").to_numpy(),
            TITLE: titles.to_numpy(),
            GENRES: genres.map(mapping).to_numpy(),
        }
    )
    df[TITLE] = df[TITLE].astype("str")
    df[GENRES] = df[GENRES].astype("str")
    df[YEAR] = pd.to_numeric(df[TITLE].str.extract(_YEAR_RE)[0]).astype("Int16")
    df = df.sort_values(ITEM, kind="stable", ignore_index=True)
    return df[MOVIES_COLUMNS]


def load_movies(
    variant: str | Variant = DEFAULT_VARIANT,
    path: str | os.PathLike | None = None,
    **fetch_kwargs,
) -> pd.DataFrame:
    """Load the movie catalogue of a release.

    Args:
        variant: Release name or ``Variant``; fetched if ``path`` is None.
        path: An already-extracted release folder; skips fetching.
        **fetch_kwargs: Passed to :func:`fetch`.

    Returns:
        Columns ``[ITEM int64, TITLE str, GENRES str, YEAR Int16]``. Titles
        keep their "(YYYY)" suffix (outer spaces stripped); genres use
        ml-latest spelling joined by ``GENRE_SEP``; ``YEAR`` is ``<NA>`` when
        the title has no trailing year.

    Raises:
        DataError: Missing files or malformed content; the message names the file.
    """
    folder = _folder(variant, path, fetch_kwargs)
    layout = _layout(folder)
    if layout == "csv":
        file = folder / "movies.csv"
        # keep_default_na=False: a film titled "NA" or "Null" stays a title.
        raw = _read(file, lambda: pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8"))
        expected = ["movieId", "title", "genres"]
        missing = [c for c in expected if c not in raw.columns]
        if missing:
            raise DataError(
                f"{file} is malformed: missing column(s) {missing}; header is {list(raw.columns)}, "
                f"expected {expected}. Re-extract or re-download the data set."
            )
        return _finish_movies(raw["movieId"], raw["title"], raw["genres"], file)
    if layout == "ml-100k":
        file = folder / "u.item"
        raw = _read(
            file,
            lambda: pd.read_csv(
                file, sep="|", header=None, dtype=str, keep_default_na=False,
                encoding="latin-1", quoting=csv.QUOTE_NONE,
            ),
        )  # fmt: skip
        raw = _headerless(file, 5 + len(_ML100K_GENRES), "|", raw)
        flags = raw.iloc[:, 5:].to_numpy() == "1"
        names = np.array(_ML100K_GENRES, dtype=object)
        genres = pd.Series([GENRE_SEP.join(names[row]) for row in flags], dtype=object)
        return _finish_movies(raw[0], raw[1], genres, file)
    file = folder / "movies.dat"
    if not file.is_file():
        raise DataError(f"{file} is missing; expected {_EXPECTED_FILES}.")
    rows = []
    for n, line in enumerate(file.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) < 3:
            raise DataError(
                f"{file} is malformed: line {n} has {len(parts)} '::'-separated fields, expected 3 "
                "(MovieID::Title::Genres). Re-extract or re-download the data set."
            )
        # A title could itself contain '::'; id and genres are the ends.
        rows.append((parts[0], "::".join(parts[1:-1]), parts[-1]))
    raw = pd.DataFrame(rows, columns=["id", "title", "genres"], dtype=object)
    return _finish_movies(raw["id"], raw["title"], raw["genres"], file)


def load(
    variant: str | Variant = DEFAULT_VARIANT,
    path: str | os.PathLike | None = None,
    **fetch_kwargs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load ratings and movies in one call (fetching at most once).

    Args:
        variant: Release name or ``Variant``.
        path: An already-extracted release folder; skips fetching.
        **fetch_kwargs: Passed to :func:`fetch`.

    Returns:
        ``(ratings, movies)`` as returned by :func:`load_ratings` and
        :func:`load_movies`.
    """
    folder = _folder(variant, path, fetch_kwargs)
    return load_ratings(variant, path=folder), load_movies(variant, path=folder)
