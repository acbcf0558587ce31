"""Downloads that do not depend on one certificate (course_lib.data's fallback chain).

Every server here is a local HTTPS server on 127.0.0.1 (http.server + ssl in a
thread, shut down after each test and by a watchdog after 60 s at most) using
the TEST-ONLY certificates of tests/certs/ (see its README):

* ``expired``: signed by the test CA, which the client is told to trust via
  ``SSL_CERT_FILE``, but expired in 2020;
* ``selfsigned``: a self-signed certificate no client trusts;
* ``valid``: signed by the test CA and valid, for the working public mirror.

The registry entry under test points its GroupLens URL (and mirrors) at these
servers; nothing leaves the machine (tests/conftest.py's no_network guard).
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import ssl
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _archives as A  # noqa: E402
from _archives import assert_clean, assert_good_cache  # noqa: E402

from course_lib import data  # noqa: E402

CERTS = Path(__file__).resolve().parent / "certs"
NAME = "ml-latest-small"
# What the client says when it rejects each server's certificate.
REJECTION = {"expired": "certificate has expired", "selfsigned": "self-signed certificate"}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.gets.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes); records GETs and refused handshakes."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, cert: str, files: dict[str, bytes]):
        self.files = files
        self.gets: list[str] = []
        self.handshake_failures: list[str] = []
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(CERTS / f"{cert}.pem")
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(5)  # a stuck client cannot hold a thread for long
        try:
            conn = self.tls.wrap_socket(request, server_side=True)  # handshake in the worker thread
        except OSError as exc:  # the client rejected our certificate
            self.handshake_failures.append(str(exc))
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        pass  # a client that hangs up early (an oversized body) is expected here


@pytest.fixture
def https_server():
    """Start HTTPS servers on 127.0.0.1; yields ``serve(cert, files) -> (server, base_url)``."""
    running = []

    def serve(cert: str, files: dict[str, bytes]):
        server = _TLSServer(cert, files)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        watchdog = threading.Timer(60, server.shutdown)  # stops by itself even if a test hangs
        watchdog.daemon = True
        watchdog.start()
        running.append((server, thread, watchdog))
        return server, f"https://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server, thread, watchdog in running:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated(no_network, monkeypatch):
    """No course env vars, no URL but 127.0.0.1, and the test CA is the only trusted root."""
    monkeypatch.delenv(data.STRICT_TLS_ENV, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(CERTS / "ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def tls_contexts(monkeypatch):
    """The ``context=`` of every urlopen call (None: Python's verifying default)."""
    calls = []
    guarded = urllib.request.urlopen  # tests/conftest.py's localhost-only guard

    def spy(url, *args, **kwargs):
        calls.append(kwargs.get("context"))
        return guarded(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    return calls


@pytest.fixture
def archive(tmp_path):
    """A tiny ml-latest-small.zip: (bytes, a same-size tampered copy)."""
    payload = A.make_latest_zip(tmp_path / "src").read_bytes()
    middle = len(payload) // 2
    tampered = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
    return payload, tampered


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def variant(payload: bytes, url: str, **override) -> data.Variant:
    """A registry entry for ``payload`` whose GroupLens URL is ``url``."""
    fields = dict(
        name=NAME,
        url=url,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        folder=NAME,
        fmt="csv",
    )
    fields.update(override)
    return data.Variant(**fields)


def fallback_lines(err: str) -> list[str]:
    """The one-line fallback notices (the licence notice starts with '[name]')."""
    return [line for line in err.splitlines() if line.startswith(f"{NAME}: ")]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}/{NAME}.zip"  # nothing listens: connection refused


# --- the registry ------------------------------------------------------------------


def test_registry_declares_mirrors_and_unverified_retry_once():
    mirrors = {name: v.mirrors for name, v in data.VARIANTS.items()}
    assert {n for n, m in mirrors.items() if m} == {"ml-100k", "ml-1m"}  # no known mirror of the others
    for name in ("ml-100k", "ml-1m"):
        (url,) = mirrors[name]
        assert url == f"https://huggingface.co/datasets/Recommenders/MovieLens/resolve/main/{name}.zip"
    allowed = {n for n, v in data.VARIANTS.items() if v.unverified_retry_allowed}
    assert allowed == {"ml-latest-small", "ml-100k", "ml-1m", "ml-25m"}  # ml-32m: md5 only

    steps = lambda name, cause: [d for d, _, _ in data._fallbacks(data.VARIANTS[name], cause)]  # noqa: E731
    assert steps("ml-latest-small", "tls") == ["GroupLens again without certificate verification"]
    assert steps("ml-100k", "tls") == [f"the public mirror {mirrors['ml-100k'][0]}",
                                       "GroupLens again without certificate verification"]  # fmt: skip
    assert steps("ml-100k", "connection") == [f"the public mirror {mirrors['ml-100k'][0]}"]
    assert steps("ml-latest-small", "connection") == []
    assert steps("ml-32m", "tls") == []


# --- verification comes first ---------------------------------------------------------


def test_trusted_valid_certificate_needs_no_fallback(https_server, archive, cache, tls_contexts, capsys):
    payload, _ = archive
    server, base = https_server("valid", {f"/{NAME}.zip": payload})
    v = variant(payload, f"{base}/{NAME}.zip")
    data.fetch(v, data_dir=cache, progress=False)
    assert_good_cache(cache, v)
    assert tls_contexts == [None]  # one verified request
    assert server.gets == [f"/{NAME}.zip"] and server.handshake_failures == []
    assert fallback_lines(capsys.readouterr().err) == []


# --- expired (trusted CA) and untrusted self-signed certificates -------------------------


@pytest.mark.parametrize("cert", ["expired", "selfsigned"])
def test_certificate_error_ends_in_the_verified_file(cert, https_server, archive, cache, tls_contexts, capsys):
    payload, _ = archive
    server, base = https_server(cert, {f"/{NAME}.zip": payload})
    v = variant(payload, f"{base}/{NAME}.zip")
    assert data.fetch(v, data_dir=cache, progress=False) == cache / NAME
    assert_good_cache(cache, v)
    assert len(data.load_ratings(v, data_dir=cache)) == 5

    # Verified first (refused by the client), then one unverified retry.
    assert tls_contexts[0] is None and len(tls_contexts) == 2
    assert tls_contexts[1].verify_mode == ssl.CERT_NONE and not tls_contexts[1].check_hostname
    assert len(server.handshake_failures) == 1 and server.gets == [f"/{NAME}.zip"]
    (line,) = fallback_lines(capsys.readouterr().err)
    assert line == (
        f"{NAME}: GroupLens ({v.url}) failed (certificate verification failed: {REJECTION[cert]}); trying "
        "GroupLens again without certificate verification, kept only if its sha256 matches the course's registry"
    )


@pytest.mark.parametrize("cert", ["expired", "selfsigned"])
def test_certificate_error_and_tampered_body_is_refused(cert, https_server, archive, cache, tls_contexts):
    payload, tampered = archive
    server, base = https_server(cert, {f"/{NAME}.zip": tampered})
    v = variant(payload, f"{base}/{NAME}.zip")
    with pytest.raises(data.DataError) as err:
        data.fetch(v, data_dir=cache, progress=False)
    msg = str(err.value)
    assert f"{NAME}.zip from {v.url}, fetched without certificate verification" in msg
    assert f"sha256 mismatch: expected {v.sha256}, got {hashlib.sha256(tampered).hexdigest()}" in msg
    assert "refused and deleted, nothing was kept" in msg
    assert "may be intercepted" in msg and "COURSE_DATA_MIRROR" in msg
    assert server.gets == [f"/{NAME}.zip"]  # it was downloaded, then refused
    assert_clean(cache)


def test_oversized_body_over_unverified_connection_is_cut_short(https_server, archive, cache, monkeypatch):
    payload, _ = archive
    monkeypatch.setattr(data, "_CHUNK", 1024)
    _, base = https_server("selfsigned", {f"/{NAME}.zip": payload + b"\0" * 2_000_000})
    v = variant(payload, f"{base}/{NAME}.zip")
    written = []
    real_verify = data._verify
    monkeypatch.setattr(data, "_verify", lambda v, path, digest=None: written.append(path.stat().st_size)
                        or real_verify(v, path, digest))  # fmt: skip
    with pytest.raises(data.DataError, match="fetched without certificate verification") as err:
        data.fetch(v, data_dir=cache, progress=False)
    assert f"size mismatch (truncated download?): expected {len(payload)} bytes" in str(err.value)
    assert written and written[0] <= len(payload) + 1024  # stopped reading at the registry's size
    assert_clean(cache)


@pytest.mark.parametrize("cert", ["expired", "selfsigned"])
def test_strict_tls_stops_at_the_certificate_error(
    cert, https_server, archive, cache, tls_contexts, monkeypatch, capsys
):
    monkeypatch.setenv(data.STRICT_TLS_ENV, "1")
    payload, _ = archive
    server, base = https_server(cert, {f"/{NAME}.zip": payload})
    v = variant(payload, f"{base}/{NAME}.zip")
    with pytest.raises(data.DataError) as err:
        data.fetch(v, data_dir=cache, progress=False)
    msg = str(err.value)
    assert f"{v.url}: certificate verification failed: {REJECTION[cert]}" in msg
    assert "COURSE_DATA_STRICT_TLS=1 stops the fetch there" in msg
    assert f"set COURSE_DATA_MIRROR to a folder holding {NAME}.zip" in msg
    assert "unset COURSE_DATA_STRICT_TLS to let the course try GroupLens without certificate verification" in msg
    assert tls_contexts == [None] and server.gets == []  # nothing fetched unverified
    assert fallback_lines(capsys.readouterr().err) == []
    assert_clean(cache)


# --- md5-only releases (ml-32m) ------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_md5_only_variant_is_never_fetched_unverified(
    strict, https_server, archive, cache, tls_contexts, monkeypatch, capsys
):
    if strict:
        monkeypatch.setenv(data.STRICT_TLS_ENV, "1")
    payload, _ = archive
    server, base = https_server("selfsigned", {f"/{NAME}.zip": payload})
    v = variant(payload, f"{base}/{NAME}.zip", size=None, sha256=None, md5=hashlib.md5(payload).hexdigest())
    assert not v.unverified_retry_allowed
    with pytest.raises(data.DataError) as err:
        data.fetch(v, data_dir=cache, progress=False)
    msg = str(err.value)
    assert "self-signed certificate" in msg and "COURSE_DATA_MIRROR" in msg
    if strict:
        assert "unset COURSE_DATA_STRICT_TLS" not in msg  # it would not help
    else:
        assert f"the registry pins only an md5 for {NAME}" in msg
        assert "pin the archive's sha256 (Variant.sha256 in course_lib/data.py)" in msg
    assert tls_contexts == [None] and server.gets == []
    assert fallback_lines(capsys.readouterr().err) == []
    assert_clean(cache)


# --- public mirrors -------------------------------------------------------------------------


def test_public_mirror_comes_before_the_unverified_retry(https_server, archive, cache, tls_contexts, capsys):
    payload, _ = archive
    grouplens, gl_base = https_server("expired", {f"/{NAME}.zip": payload})
    mirror, m_base = https_server("valid", {f"/hf/{NAME}.zip": payload})
    v = variant(payload, f"{gl_base}/{NAME}.zip", mirrors=(f"{m_base}/hf/{NAME}.zip",))
    data.fetch(v, data_dir=cache, progress=False)
    assert_good_cache(cache, v)
    assert tls_contexts == [None, None]  # both verified
    assert grouplens.gets == [] and mirror.gets == [f"/hf/{NAME}.zip"]
    (line,) = fallback_lines(capsys.readouterr().err)
    assert line == (
        f"{NAME}: GroupLens ({v.url}) failed (certificate verification failed: certificate has expired); "
        f"trying the public mirror {v.mirrors[0]}, kept only if its sha256 matches the course's registry"
    )


def test_tampered_public_mirror_is_refused_then_unverified_retry(https_server, archive, cache, tls_contexts, capsys):
    payload, tampered = archive
    grouplens, gl_base = https_server("selfsigned", {f"/{NAME}.zip": payload})
    _, m_base = https_server("valid", {f"/{NAME}.zip": tampered})
    v = variant(payload, f"{gl_base}/{NAME}.zip", mirrors=(f"{m_base}/{NAME}.zip",))
    data.fetch(v, data_dir=cache, progress=False)
    assert_good_cache(cache, v)
    assert [c.verify_mode if c else None for c in tls_contexts] == [None, None, ssl.CERT_NONE]
    first, second = fallback_lines(capsys.readouterr().err)
    assert "trying the public mirror" in first
    assert second.startswith(f"{NAME}: the public mirror {v.mirrors[0]} failed (sha256 mismatch")
    assert "refused and deleted); trying GroupLens again without certificate verification" in second


def test_connection_failure_tries_mirrors_but_never_unverified(https_server, archive, cache, tls_contexts, capsys):
    payload, _ = archive
    _, m_base = https_server("valid", {f"/{NAME}.zip": payload})
    v = variant(payload, closed_port_url(), mirrors=(f"{m_base}/{NAME}.zip",))
    data.fetch(v, data_dir=cache, progress=False)
    assert_good_cache(cache, v)
    assert tls_contexts == [None, None]
    (line,) = fallback_lines(capsys.readouterr().err)
    assert "Connection refused" in line and "trying the public mirror" in line

    # Without a mirror, a connection error ends as before: no unverified retry.
    other = cache.parent / "cache2"
    tls_contexts.clear()
    with pytest.raises(data.DataError, match="Check your internet connection"):
        data.fetch(variant(payload, closed_port_url()), data_dir=other, progress=False)
    assert tls_contexts == [None]
    assert_clean(other)
