"""Tests for course_lib.data: fetching, caching, failure modes and loaders.

No test touches the network: a guard refuses every URL except 127.0.0.1, and
archives are tiny zips built in tmp_path.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so spawned children can import _archives

import _archives as A  # noqa: E402
from _archives import assert_clean, assert_good_cache  # noqa: E402

from course_lib import data  # noqa: E402
from course_lib.columns import GENRES, ITEM, NO_GENRE, RATING, TIMESTAMP, TITLE, USER, YEAR  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
_REAL_URLOPEN = urllib.request.urlopen
# Captured before the autouse fixture clears it for every other test.
_ENV_MIRROR = os.environ.get("COURSE_DATA_MIRROR")
_SHARED_MIRROR = Path("/work/shared/datasets/movielens")


@pytest.fixture(autouse=True)
def _isolated(no_network):
    """Every test here: no course env vars, no URL but localhost (tests/conftest.py)."""


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def mirror(tmp_path):
    """A local mirror folder holding a tiny ml-latest-small.zip, and its Variant."""
    folder = tmp_path / "mirror"
    zip_path = A.make_latest_zip(folder)
    return folder, A.variant_for(zip_path)


@pytest.fixture
def http_mirror():
    """Serve a folder on 127.0.0.1; yields a function folder -> URL prefix."""
    servers = []

    def serve(folder: Path) -> str:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class FakeResponse(io.BytesIO):
    """A urlopen() result; optionally breaks off after ``fail_after`` bytes."""

    def __init__(self, payload: bytes, fail_after: int | None = None):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError(104, "Connection reset by peer")
        if self.fail_after is not None and n is not None and n >= 0:
            n = min(n, self.fail_after - self.tell())
        return super().read(n)


# --- registry and cache folder -------------------------------------------------


def test_registry_lists_the_five_releases():
    assert data.DEFAULT_VARIANT == "ml-latest-small"
    assert set(data.VARIANTS) == {"ml-latest-small", "ml-100k", "ml-1m", "ml-25m", "ml-32m"}
    small = data.VARIANTS["ml-latest-small"]
    assert (small.size, small.sha256[:8]) == (978202, "696d65a3")
    big = data.VARIANTS["ml-32m"]
    assert big.sha256 is None and big.size is None and big.md5 == "d472be332d4daa821edc399621853b57"
    with pytest.raises(AttributeError):
        small.size = 1  # frozen


def test_unknown_variant_lists_valid_names(cache):
    with pytest.raises(ValueError, match="ml-latest-small") as err:
        data.fetch("ml-10m", data_dir=cache)
    assert "ml-100k" in str(err.value) and "ml-32m" in str(err.value)


def test_cache_dir_precedence(monkeypatch, tmp_path):
    assert data.cache_dir() == REPO / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "env"))
    assert data.cache_dir() == tmp_path / "env"
    assert data.cache_dir(tmp_path / "arg") == tmp_path / "arg"


# --- happy paths ---------------------------------------------------------------


def test_fetch_from_local_mirror_and_load(mirror, cache):
    folder, v = mirror
    out = data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    assert out == cache / v.name
    assert_good_cache(cache, v)

    ratings, movies = data.load(v, data_dir=cache)
    assert list(ratings.columns) == [USER, ITEM, RATING, TIMESTAMP]
    assert ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    assert isinstance(ratings.index, pd.RangeIndex)
    assert ratings[[USER, TIMESTAMP, ITEM]].values.tolist() == [
        [1, 1000, 1],
        [1, 1000, 3],
        [1, 2000, 2],
        [2, 1000, 1],
        [3, 50, 3],
    ]

    assert list(movies.columns) == [ITEM, TITLE, GENRES, YEAR]
    assert movies[TITLE].dtype == "str" and movies[GENRES].dtype == "str"
    assert str(movies[YEAR].dtype) == "Int16"
    by_id = movies.set_index(ITEM)
    assert by_id.loc[1, TITLE] == "Toy Story (1995)"
    assert by_id.loc[2, TITLE] == "American President, The (1995)"
    assert by_id.loc[4, YEAR] == 1999  # trailing space tolerated
    assert pd.isna(by_id.loc[3, YEAR]) and pd.isna(by_id.loc[5, YEAR])  # range / no year
    assert by_id.loc[3, GENRES] == NO_GENRE


def test_registry_entry_can_be_patched(monkeypatch, mirror, cache):
    folder, v = mirror
    monkeypatch.setitem(data.VARIANTS, v.name, v)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(folder))
    monkeypatch.setenv("COURSE_DATA_DIR", str(cache))
    ratings = data.load_ratings(progress=False)  # all defaults: env vars + registry
    assert len(ratings) == 5
    assert_good_cache(cache, v)


def test_url_prefix_mirror(http_mirror, mirror, cache):
    folder, v = mirror
    out = data.fetch(v, data_dir=cache, mirror=http_mirror(folder), progress=False)
    assert out == cache / v.name
    assert_good_cache(cache, v)


def test_cache_hit_does_not_redownload(monkeypatch, mirror, cache):
    _, v = mirror
    payload = (mirror[0] / f"{v.name}.zip").read_bytes()
    calls = []

    def fake_urlopen(url, *a, **k):
        calls.append(url)
        return FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    first = data.fetch(v, data_dir=cache, progress=False)
    second = data.fetch(v, data_dir=cache, progress=False)
    data.load(v, data_dir=cache)
    assert first == second
    assert calls == [v.url]  # no mirror configured -> straight to GroupLens, once


def test_licence_printed_on_first_fetch_only(capsys, mirror, cache):
    folder, v = mirror
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    first = capsys.readouterr()
    # On stderr, so notebook stdout (compared by nbval) is the same warm or cold.
    assert first.out == ""
    assert "GroupLens" in first.err and "redistribute" in first.err
    assert data.CITATION in first.err
    assert str(cache / v.name / "README.txt") in first.err
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    assert capsys.readouterr() == ("", "")


def test_show_license(capsys):
    data.show_license("ml-1m", data_dir="/nonexistent")
    out = capsys.readouterr().out
    assert "ml-1m" in out and "10.1145/2827872" in out and "Full licence" not in out


def test_md5_only_variant(mirror, cache):
    """ml-32m publishes only an md5 and no size: verify with md5 then."""
    folder, v = mirror
    md5 = hashlib.md5((folder / f"{v.name}.zip").read_bytes()).hexdigest()
    v32 = data.Variant(v.name, v.url, None, None, md5=md5, folder=v.name)
    data.fetch(v32, data_dir=cache, mirror=folder, progress=False)
    assert (cache / v.name / ".verified").read_text().strip() == md5


def test_bad_cached_zip_is_refetched(mirror, cache):
    folder, v = mirror
    cache.mkdir()
    (cache / f"{v.name}.zip").write_bytes(b"stale junk")
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    assert_good_cache(cache, v)


def test_incomplete_extraction_is_redone(mirror, cache):
    folder, v = mirror
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    (cache / v.name / ".verified").unlink()  # as if killed before the marker
    (cache / v.name / "ratings.csv").write_text("half")
    (cache / f".{v.name}.extract-leftover").mkdir()  # stale temp folders of a killed run
    (cache / f".{v.name}.part-leftover").write_bytes(b"half a download")
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    assert_good_cache(cache, v)
    assert len(data.load_ratings(v, data_dir=cache)) == 5


def test_read_only_cache_that_is_already_filled_still_works(monkeypatch, mirror, cache):
    folder, v = mirror
    data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    monkeypatch.setattr(tempfile, "mkstemp", _refuse)  # any write attempt would fail
    assert data.fetch(v, data_dir=cache, progress=False) == cache / v.name


def test_two_processes_fetch_at_once(mirror, cache):
    folder, v = mirror
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=A.fetch_in_child, args=(v, str(cache), str(folder), barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert {r[1] for r in results} == {str(cache / v.name)}
    assert sum(r[2] for r in results) == 1  # one copied, the other waited and hit the cache
    assert_good_cache(cache, v)


# --- failure modes -------------------------------------------------------------


def test_offline_without_mirror(monkeypatch, mirror, cache):
    _, v = mirror

    def offline(url, *a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(data.DataError) as err:
        data.fetch(v, data_dir=cache, progress=False)
    msg = str(err.value)
    assert "COURSE_DATA_MIRROR" in msg and f"{v.name}.zip" in msg and "connection" in msg
    assert_clean(cache)


def test_mirror_folder_without_the_zip_falls_back_then_reports_both(tmp_path, mirror, cache):
    _, v = mirror
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(data.DataError, match="COURSE_DATA_MIRROR") as err:
        data.fetch(v, data_dir=cache, mirror=empty, progress=False)
    assert str(empty) in str(err.value) and "network disabled" in str(err.value)
    assert_clean(cache)


def test_truncated_download(tmp_path, http_mirror, mirror, cache):
    folder, v = mirror
    short = tmp_path / "short"
    short.mkdir()
    (short / f"{v.name}.zip").write_bytes((folder / f"{v.name}.zip").read_bytes()[:100])
    with pytest.raises(data.DataError) as err:
        data.fetch(v, data_dir=cache, mirror=http_mirror(short), progress=False)
    msg = str(err.value)
    assert f"expected {v.size} bytes, got 100" in msg
    assert "the partial file was deleted; run again" in msg
    assert_clean(cache)


def test_sha256_mismatch(mirror, cache):
    folder, v = mirror
    wrong = data.Variant(v.name, v.url, v.size, "0" * 64, folder=v.name)
    with pytest.raises(data.DataError) as err:
        data.fetch(wrong, data_dir=cache, mirror=folder, progress=False)
    msg = str(err.value)
    assert f"expected {'0' * 64}, got {v.sha256}" in msg
    assert "was deleted; run again" in msg
    assert_clean(cache)


def test_corrupt_zip_with_matching_hash(tmp_path, cache):
    folder = tmp_path / "mirror"
    folder.mkdir()
    junk = folder / "ml-latest-small.zip"
    junk.write_bytes(b"this is not a zip file" * 10)
    with pytest.raises(data.DataError, match="not a readable zip archive") as err:
        data.fetch(A.variant_for(junk), data_dir=cache, mirror=folder, progress=False)
    assert "it was deleted" in str(err.value)
    assert_clean(cache)


@pytest.mark.parametrize(
    "member",
    ["../evil.txt", "ml-latest-small/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "..\\evil.txt"],
)
def test_zip_with_unsafe_member_is_refused(tmp_path, cache, member):
    folder = tmp_path / "mirror"
    members = A.latest_members()
    members[member] = "pwned"
    zip_path = A.make_zip(folder / "ml-latest-small.zip", members)
    with pytest.raises(data.DataError, match="refusing to extract") as err:
        data.fetch(A.variant_for(zip_path), data_dir=cache, mirror=folder, progress=False)
    assert repr(member) in str(err.value) and "outside" in str(err.value)
    assert_clean(cache)
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_interrupted_download_then_retry(monkeypatch, mirror, cache):
    _, v = mirror
    payload = (mirror[0] / f"{v.name}.zip").read_bytes()
    responses = [FakeResponse(payload, fail_after=len(payload) // 2), FakeResponse(payload)]
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: responses.pop(0))

    with pytest.raises(data.DataError, match="interrupted") as err:
        data.fetch(v, data_dir=cache, progress=False)
    assert "the partial file was deleted; run again" in str(err.value)
    assert_clean(cache)

    data.fetch(v, data_dir=cache, progress=False)  # the retry the message asks for
    assert_good_cache(cache, v)


def _refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied", kwargs.get("dir"))


def test_read_only_cache_folder(monkeypatch, mirror, cache):
    folder, v = mirror
    cache.mkdir()
    cache.chmod(0o555)
    try:
        probe = cache / "probe"
        try:
            probe.touch()  # root ignores the mode bits ...
            probe.unlink()
            monkeypatch.setattr(tempfile, "mkstemp", _refuse)  # ... so simulate the refusal
        except PermissionError:
            pass
        with pytest.raises(data.DataError) as err:
            data.fetch(v, data_dir=cache, mirror=folder, progress=False)
    finally:
        cache.chmod(0o755)
    msg = str(err.value)
    assert "not writable" in msg and "COURSE_DATA_DIR" in msg and str(cache) in msg
    assert_clean(cache)


def test_cache_path_below_a_file(tmp_path, mirror):
    folder, v = mirror
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(data.DataError, match="COURSE_DATA_DIR"):
        data.fetch(v, data_dir=blocker / "cache", mirror=folder, progress=False)
    assert blocker.read_text() == "a file, not a folder"


def test_mirror_path_that_does_not_exist(tmp_path, mirror, cache):
    _, v = mirror
    missing = tmp_path / "no-such-usb-stick"
    with pytest.raises(data.DataError, match="does not exist") as err:
        data.fetch(v, data_dir=cache, mirror=missing, progress=False)
    assert str(missing) in str(err.value)
    assert_clean(cache)


def _ratings_folder(tmp_path: Path, ratings: str) -> Path:
    folder = tmp_path / "extracted"
    folder.mkdir()
    (folder / "ratings.csv").write_text(ratings)
    (folder / "movies.csv").write_text(A.LATEST_MOVIES)
    return folder


def test_malformed_ratings_bad_header(tmp_path):
    folder = _ratings_folder(tmp_path, "user,item,stars,time\n1,1,4.0,1\n")
    with pytest.raises(data.DataError, match="missing column") as err:
        data.load_ratings(path=folder)
    assert str(folder / "ratings.csv") in str(err.value) and "userId" in str(err.value)


def test_malformed_ratings_non_numeric(tmp_path):
    folder = _ratings_folder(tmp_path, "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,great,2\n")
    with pytest.raises(data.DataError) as err:
        data.load_ratings(path=folder)
    msg = str(err.value)
    assert str(folder / "ratings.csv") in msg and "'rating'" in msg and "'great'" in msg and "row 2" in msg


def test_malformed_ratings_out_of_range(tmp_path):
    folder = _ratings_folder(tmp_path, "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,7.5,2\n")
    with pytest.raises(data.DataError, match=r"outside 0\.5\.\.5") as err:
        data.load_ratings(path=folder)
    assert str(folder / "ratings.csv") in str(err.value)


def test_malformed_ratings_from_archive_leaves_good_cache(mirror, tmp_path, cache):
    """A bad file inside a verified archive is a load error, not a fetch error."""
    zip_path = A.make_latest_zip(tmp_path / "m2", ratings="userId,movieId\n1,1\n")
    v = A.variant_for(zip_path)
    with pytest.raises(data.DataError, match="ratings.csv"):
        data.load_ratings(v, data_dir=cache, mirror=tmp_path / "m2", progress=False)
    assert_good_cache(cache, v)  # the verified archive stays; only loading failed


def test_folder_without_movielens_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(data.DataError, match="u.data") as err:
        data.load(path=tmp_path)
    assert "ratings.csv" in str(err.value) and "ratings.dat" in str(err.value)


# --- other layouts -------------------------------------------------------------


def test_load_from_extracted_folder(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setattr(data, "fetch", lambda *a, **k: pytest.fail("path= must not fetch"))
    with zipfile.ZipFile(A.make_latest_zip(tmp_path / "z")) as zf:
        zf.extractall(tmp_path / "x")
    ratings, movies = data.load(path=tmp_path / "x" / "ml-latest-small")
    assert (len(ratings), len(movies)) == (5, 5)
    # The folder above the extraction is accepted too.
    assert len(data.load_ratings(path=tmp_path / "x")) == 5


def test_ml100k_from_archive(tmp_path, cache):
    zip_path = A.make_zip(tmp_path / "mirror" / "ml-100k.zip", A.ml100k_members())
    v = A.variant_for(zip_path, name="ml-100k", fmt="ml-100k")
    ratings, movies = data.load(v, data_dir=cache, mirror=tmp_path / "mirror", progress=False)

    assert ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    assert ratings[[USER, ITEM]].values.tolist() == [[1, 1], [1, 2], [2, 1]]
    assert ratings[RATING].tolist() == [4.0, 5.0, 3.0]

    by_id = movies.set_index(ITEM)
    assert by_id.loc[1, GENRES] == "Animation|Children|Comedy"
    assert by_id.loc[2, TITLE] == "Café Society (1995)"
    assert by_id.loc[267, GENRES] == NO_GENRE
    assert by_id.loc[1, YEAR] == 1995 and pd.isna(by_id.loc[267, YEAR])


def test_ml1m_from_folder(tmp_path):
    folder = A.make_ml1m_folder(tmp_path / "ml-1m")
    ratings, movies = data.load("ml-1m", path=folder)
    assert ratings[[USER, ITEM, TIMESTAMP]].values.tolist() == [
        [1, 1193, 978300760],
        [1, 661, 978302109],
        [2, 1193, 978298413],
    ]
    assert ratings[RATING].dtype == "float32"
    by_id = movies.set_index(ITEM)
    assert by_id.loc[661, GENRES] == "Animation|Children|Musical"
    assert by_id.loc[3000, TITLE] == "Café au lait (1993)"
    assert by_id.loc[1193, TITLE] == "One Flew Over the Cuckoo's Nest (1975)"
    assert by_id.loc[1193, YEAR] == 1975


def test_import_does_not_pull_in_tensorflow():
    code = "import sys, course_lib.data; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --- the real data set -----------------------------------------------------------


def _real_mirror() -> str | None:
    if _ENV_MIRROR:
        return _ENV_MIRROR
    if (_SHARED_MIRROR / "ml-latest-small.zip").is_file():
        return str(_SHARED_MIRROR)
    return None


@pytest.mark.skipif(
    _real_mirror() is None,
    reason="no real ml-latest-small.zip: set COURSE_DATA_MIRROR or provide "
    "/work/shared/datasets/movielens/ml-latest-small.zip",
)
def test_real_ml_latest_small(monkeypatch, cache):
    source = _real_mirror()
    if source.startswith(("http://", "https://")):
        monkeypatch.setattr(urllib.request, "urlopen", _REAL_URLOPEN)
    ratings, movies = data.load(data_dir=cache, mirror=source, progress=False)
    assert len(ratings) == 100836
    assert len(movies) == 9742
    assert ratings[USER].nunique() == 610
    assert ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    assert movies[TITLE].dtype == "str" and str(movies[YEAR].dtype) == "Int16"
    assert ratings[RATING].between(0.5, 5).all()
    assert movies[YEAR].notna().mean() > 0.99
    assert movies.loc[movies[ITEM] == 1, TITLE].item() == "Toy Story (1995)"
    assert_good_cache(cache, data.VARIANTS["ml-latest-small"])
