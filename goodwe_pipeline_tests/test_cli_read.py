"""``goodwe-pipeline read``: sign conventions in its help and output, advice per failure."""

from __future__ import annotations

import json

import pytest

from goodwe_pipeline.cli import main
from goodwe_pipeline.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    free_loopback_udp_host,
)


def test_help_states_the_sign_conventions_and_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["read", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "grid_power_w + export to the grid, - import from it" in text
    assert "battery_power_w + discharge, - charge" in text
    assert "Exit status: 0" in text


def test_a_reading_comes_with_its_sign_conventions(capsys) -> None:
    emulator = Emulator(EmulatorConfig(host=free_loopback_udp_host(), serial="9010KETU23READ01"))
    with EmulatorThread(emulator):
        host, port = emulator.udp_address
        assert main(["read", f"{host}:{port}", "--family", "ET"]) == 0
    captured = capsys.readouterr()
    reading = json.loads(captured.out)
    assert reading["device_id"] == "9010KETU23READ01"
    assert "grid_power_w" in reading and "battery_power_w" in reading
    assert captured.err.startswith("signs: grid_power_w + export")


@pytest.mark.parametrize(
    ("address", "advice"),
    [
        ("127.0.0.1:9", "nothing accepts Modbus/TCP connections on port 9"),
        (None, "UDP port 8899 is closed on this host"),
    ],
    ids=["closed Modbus/TCP port", "closed UDP port"],
)
def test_an_unreachable_host_without_a_family_gets_address_advice(capsys, address, advice):
    """Auto-detection fails the same way for an unreachable host and an unknown inverter;
    only the second should be told to name the family."""
    address = address or free_loopback_udp_host()
    assert main(["read", address, "--timeout", "0.3", "--retries", "0"]) == 1
    error = capsys.readouterr().err
    assert advice in error, error
    assert "name the family" not in error and "not supported" not in error, error
