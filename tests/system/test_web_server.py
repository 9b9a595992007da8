"""web/server.py under idle connections and invalid paths, started as make web starts it."""

import socket
import sys
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import requests

from tools.servers import free_port, start, stop, wait_for

TIMEOUT = 1.5  # --timeout: short, so the test does not wait long for idle connections to be dropped
MAX_THREADS = 4


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Tuple[int, int, Path]]:
    """(port, pid, log) of a running web server."""
    port, log = free_port(), tmp_path / "web.log"
    process = start(
        [
            sys.executable,
            "-m",
            "web.server",
            "--port",
            str(port),
            "--timeout",
            str(TIMEOUT),
            "--max-threads",
            str(MAX_THREADS),
        ],
        log,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/helplines.json", process, log)
        yield port, process.pid, log
    finally:
        stop(process)


def threads_of(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def idle_connections(port: int, count: int) -> List[socket.socket]:
    """Connections that send nothing, as a stalled or hostile client would."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def raw_get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(4096):  # the server closes after an error reply
            data += chunk
        return data


def test_idle_connections_hold_a_bounded_number_of_threads_and_are_dropped(web):
    port, pid, log = web
    idle = idle_connections(port, 40)
    time.sleep(0.5)
    assert threads_of(pid) <= MAX_THREADS + 1  # the workers and the accept loop

    # Every idle connection is closed by the server, the queued ones after a thread frees up.
    deadline = time.monotonic() + TIMEOUT * (40 / MAX_THREADS + 2)
    for conn in idle:
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        assert conn.recv(1) == b""  # EOF: the server hung up (a timeout here raises)
        conn.close()

    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    assert "Traceback" not in log.read_text()


def test_a_real_request_is_served_while_idle_clients_fill_every_thread(web):
    port, _, _ = web
    idle = idle_connections(port, MAX_THREADS)
    try:
        started = time.monotonic()
        assert requests.get(f"http://127.0.0.1:{port}/config.json", timeout=10).status_code == 200
        assert time.monotonic() - started < TIMEOUT + 2  # waited at most for one idle client to be dropped
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.parametrize("path", ["/%00", "/index.html%00.js", "/%ff", "/a%0ab", "/%c0%af"])
def test_an_invalid_path_gets_400_without_a_traceback(web, path):
    port, _, log = web
    reply = raw_get(port, path)
    assert reply.startswith(b"HTTP/1.0 400 ") or reply.startswith(b"HTTP/1.1 400 ")
    # The server is still fine for the next client.
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    assert "Traceback" not in log.read_text()


def test_the_page_and_helplines_json_show_the_changed_number(moved_number, tmp_path):
    port, log = free_port(), tmp_path / "web.log"
    process = start(
        [sys.executable, "-m", "web.server", "--port", str(port)], log, {"KNOWLEDGE_DIR": str(moved_number)}
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/helplines.json", process, log)
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
        lines = requests.get(f"http://127.0.0.1:{port}/helplines.json", timeout=10).json()["helplines"]
    finally:
        stop(process)
    helpbar = page[page.index('id="kf-helpbar"') : page.index("</nav>")]
    assert 'href="tel:112" aria-label="Call 112, Emergency services">Call 112</a>' in helpbar
    assert "tel:911" not in page and "Call 911" not in page
    assert 'In an emergency call <a href="tel:112">112</a>.' in page  # the page's own sentence
    data = page[page.index('id="kf-data">') :]
    assert '"number": "112"' in data  # the widget's lines, if /helplines.json cannot be fetched
    assert {"number": "112", "call": "112"}.items() <= next(h for h in lines if h["id"] == "emergency_911").items()
