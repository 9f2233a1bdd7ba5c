"""The bench's wrk load: the generated Lua script sends the bodies in turn with the key,
counts answers that are not HTTP 200 or carry "errors", and its done() counts parse."""

from __future__ import annotations

import asyncio
import http.server
import shutil
import socketserver
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from bench.harness import UNIQUE, parse_wrk, wrk_load, wrk_script

OUTPUT = """Running 1s test @ http://127.0.0.1:1/graphql
  1 threads and 32 connections
BILLGRAPH_WRK issued=1200 answered=1200 errors=3 connect=0 read=5 write=0 timeout=1 \
elapsed_us=2000000 p50_us=20000 p99_us=90000
BILLGRAPH_WRK_SAMPLE 200 {"errors":[{"message":"no"}]}
"""


def test_parse_wrk_counts_bad_answers_and_timeouts_not_idle_closes() -> None:
    load = parse_wrk(OUTPUT)
    assert (load.done, load.errors, load.elapsed, load.rate) == (1197, 4, 2.0, 598.5)
    assert load.samples[0] == '200 {"errors":[{"message":"no"}]}'
    assert "p50 20 ms, p99 90 ms, 4 errors (wrk)" in load.summary("requests")


def test_requests_unanswered_when_wrk_stopped_are_errors() -> None:
    load = parse_wrk("BILLGRAPH_WRK issued=10 answered=8 errors=0 connect=0 read=2 write=0 "
                     "timeout=0 elapsed_us=1000000 p50_us=1 p99_us=2\n")
    assert (load.done, load.errors) == (8, 2) and "2 requests unanswered" in load.samples[0]


def test_parse_wrk_without_counts_fails() -> None:
    with pytest.raises(RuntimeError, match="no counts"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_a_body_cannot_end_the_lua_string() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        wrk_script("bgk_x", ['{"query":"]==]"}'], 1)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: ClassVar[list[bytes]] = []
    keys: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        self.keys.add(self.headers["Authorization"])
        out = b'{"errors":[{"message":"bad"}]}' if b'"bad"' in body else b'{"data":{}}'
        self.send_response(500 if b'"fail"' in body else 200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture
def url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not on PATH")
def test_wrk_sends_the_bodies_and_counts_bad_answers(url: str) -> None:
    _Handler.bodies.clear()
    bodies = [f'{{"query":"ok","n":"{UNIQUE}"}}', '{"query":"bad"}', '{"query":"fail"}']
    load = asyncio.run(wrk_load(url, "bgk_test", bodies, 2, 1))
    assert _Handler.keys == {"Bearer bgk_test"}
    assert load.done > 0 and load.errors > 0 and load.samples
    # every request sent was answered and counted (none dropped at the end), in about
    # the second asked for (wrk was interrupted once drained, not left to run its -d)
    assert load.done + load.errors == len(_Handler.bodies)
    assert 1 <= load.elapsed < 3
    unique = [b for b in _Handler.bodies if b.startswith(b'{"query":"ok"')]
    assert len(set(unique)) == len(unique) and UNIQUE.encode() not in unique[0]
    # one in three answers is good: the bodies go in turn
    assert abs(load.done - (load.done + load.errors) / 3) <= 2


def test_without_wrk_on_path_the_httpx_lanes_send(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import harness

    monkeypatch.delenv(harness.LOAD_ENV, raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert harness.load_generator() == "httpx"
    monkeypatch.setenv(harness.LOAD_ENV, "wrk")
    with pytest.raises(RuntimeError, match="not on PATH"):
        harness.load_generator()
    monkeypatch.setenv(harness.LOAD_ENV, "httpx")
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/wrk")
    assert harness.load_generator() == "httpx"
