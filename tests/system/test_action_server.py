"""The action server as scripts/run_actions.sh starts it (make run, make actions):
loopback only by default, and with ACTION_SERVER_TOKEN only for callers that have it."""

import asyncio
import ipaddress
import socket
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

import pytest
import requests

from tests.conftest import ROOT
from tools.servers import free_port, start, stop, wait_for

TOKEN = "test-token-7c1d"
ACTION_CALL = {
    "next_action": "action_list_helplines",
    "sender_id": "token-test",
    "tracker": {
        "sender_id": "token-test",
        "slots": {},
        "events": [],
        "paused": False,
        "active_loop": {},
        "latest_message": {"text": "", "intent": {"name": "ask_for_help"}, "entities": []},
        "latest_action_name": "action_listen",
        "followup_action": None,
    },
    "domain": {},
}


def non_loopback_address() -> Optional[str]:
    """An address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def listening_addresses(port: int) -> List[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """The local addresses that listen on `port`, from the kernel's socket tables: true on any
    machine, with or without another network interface to connect from."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                # each 32-bit word of the address is in the host's (little-endian) byte order
                words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, width, 8)]
                ip = ipaddress.ip_address(b"".join(words))
                found.append(getattr(ip, "ipv4_mapped", None) or ip)  # ::ffff:127.0.0.1 is 127.0.0.1
    return found


def run_actions(tmp: Path, env: Dict[str, str]) -> subprocess.Popen:
    return start([str(ROOT / "scripts" / "run_actions.sh")], tmp / "actions.log", env)


@pytest.fixture(scope="module")
def action_server(tmp_path_factory) -> Iterator[str]:
    """The base URL of an action server started as run.sh starts it, with a token."""
    tmp, port = tmp_path_factory.mktemp("actions"), free_port()
    process = run_actions(tmp, {"ACTIONS_PORT": str(port), "ACTION_SERVER_TOKEN": TOKEN})
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, tmp / "actions.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_it_listens_on_loopback_only(action_server):
    port = int(action_server.rsplit(":", 1)[1])
    addresses = listening_addresses(port)
    assert addresses and all(a.is_loopback for a in addresses), addresses
    address = non_loopback_address()  # and, where the machine has another address, from there
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=3).close()


@pytest.mark.parametrize("auth", [{}, {"params": {"token": "wrong"}}, {"headers": {"Authorization": "Bearer wrong"}}])
def test_a_request_without_the_token_gets_401(action_server, auth):
    response = requests.post(f"{action_server}/webhook", json=ACTION_CALL, timeout=10, **auth)
    assert response.status_code == 401
    assert requests.get(f"{action_server}/actions", timeout=10, **auth).status_code == 401


def test_health_needs_no_token(action_server):
    assert requests.get(f"{action_server}/health", timeout=10).status_code == 200


def test_rasa_presents_the_token_from_endpoints_yml(action_server, monkeypatch):
    """Rasa's own client, configured by the project's endpoints.yml, gets through."""
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("ACTION_SERVER_TOKEN", TOKEN)
    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    endpoint.url = f"{action_server}/webhook"  # the test server's port instead of 5055
    reply = asyncio.run(endpoint.request(json=ACTION_CALL, method="post"))
    assert "988" in reply["responses"][0]["text"]


def test_it_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    process = run_actions(
        tmp_path, {"ACTIONS_PORT": str(free_port()), "ACTIONS_HOST": "0.0.0.0", "ACTION_SERVER_TOKEN": ""}
    )
    try:
        assert process.wait(timeout=60) != 0
    finally:
        stop(process)
    assert "without a token" in (tmp_path / "actions.log").read_text()
