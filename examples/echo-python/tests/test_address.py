"""The address syntax and environment rules of the unit contract (sections 1 and 2)."""

import pytest

from echo_python.runtime.address import AddressError, parse_address
from echo_python.runtime.env import EnvError, load_env


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("unix:/tmp/a.sock", "unix", "unix:/tmp/a.sock"),
        ("unix:///tmp/a.sock", "unix", "unix:/tmp/a.sock"),
        ("127.0.0.1:0", "tcp", "127.0.0.1:0"),
        ("tcp://localhost:50051", "tcp", "localhost:50051"),
        ("[::1]:0", "tcp", "[::1]:0"),
        ("tcp://[::1]:8080", "tcp", "[::1]:8080"),
    ],
)
def test_parses_every_form(text, kind, canonical):
    address = parse_address(text)
    assert address.kind == kind
    assert str(address) == canonical


@pytest.mark.parametrize(
    "text",
    ["", "unix:relative.sock", "unix://host/x.sock", "localhost", ":80", "::1:80", "h:port", "h:70000", "[::1]80"],
)
def test_rejects_malformed(text):
    with pytest.raises(AddressError):
        parse_address(text)


def test_unix_path_must_be_shorter_than_108_bytes():
    longest = "/" + "a" * 106
    assert parse_address(f"unix:{longest}").path == longest
    with pytest.raises(AddressError, match="shorter than 108"):
        parse_address(f"unix:{longest}b")


def test_reports_the_bound_port():
    assert str(parse_address("127.0.0.1:0").with_port(43210)) == "127.0.0.1:43210"
    assert parse_address("unix:/x.sock").with_port(1).path == "/x.sock"


def test_standalone_defaults():
    env = load_env({}, "my-unit")
    assert (env.unit_id, str(env.listen), env.standalone, env.token) == ("my-unit", "127.0.0.1:50051", True, None)


def test_flag_wins_over_hsu_listen():
    env = load_env({"HSU_LISTEN": "unix:/a.sock"}, "u", listen_flag="127.0.0.1:7000")
    assert str(env.listen) == "127.0.0.1:7000"


@pytest.mark.parametrize(
    "environ",
    [
        {"HSU_LISTEN": "nonsense"},
        {"HSU_MASTER_ADDR": "unix:relative"},
        {"HSU_MASTER_PID": "abc"},
        {"HSU_INDEX": "-1"},
        {"HSU_UNIT_ID": "Upper_Case"},
    ],
)
def test_bad_variables_are_refused(environ):
    with pytest.raises(EnvError):
        load_env(environ, "u")
