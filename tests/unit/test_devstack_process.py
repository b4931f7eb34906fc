"""Pid-file process handling of the local stack, with real child processes (no services)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from weir.devstack.kafka import server_properties
from weir.process import DevStackError, port_in_use, read_pid, start_and_wait, stop_process
from weir.runtime import build_config


def test_start_wait_stop_and_stop_twice_is_harmless(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "p.pid", tmp_path / "p.log"
    pid = start_and_wait([sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(60)"],
                         pid_file, log, lambda: log.exists() and "hi" in log.read_text(), 10, "sleeper")
    assert read_pid(pid_file) == pid
    assert stop_process(pid_file) is True
    assert read_pid(pid_file) is None
    assert stop_process(pid_file) is False


def test_a_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "p.pid", tmp_path / "p.log"
    with pytest.raises(DevStackError, match="exited during start-up(.|\n)*boom"):
        start_and_wait([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], pid_file, log,
                       lambda: False, 10, "crasher")
    assert not pid_file.exists()


def test_a_process_never_healthy_is_stopped_again(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "p.pid", tmp_path / "p.log"
    with pytest.raises(DevStackError, match="not healthy"):
        start_and_wait([sys.executable, "-c", "import time; time.sleep(60)"], pid_file, log, lambda: False, 1.5,
                       "idler")
    assert read_pid(pid_file) is None


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    pid_file = tmp_path / "stale.pid"
    pid_file.write_text("999999")
    assert read_pid(pid_file) is None
    assert stop_process(pid_file) is False


def test_port_in_use_sees_a_listening_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert port_in_use(sock.getsockname()[1])


def test_taken_kafka_port_is_named_with_the_env_var_that_moves_it(tmp_path: Path) -> None:
    from weir.devstack.kafka import start_kafka

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = build_config(state_dir=tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{port}")
        with pytest.raises(DevStackError, match=f"port {port}(.|\n)*WEIR_KAFKA_BOOTSTRAP_SERVERS"):
            start_kafka(config)


def test_taken_dynamodb_port_is_named(tmp_path: Path) -> None:
    from weir.devstack.dynamodb import start_dynamodb

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = build_config(state_dir=tmp_path, dynamodb_endpoint=f"http://127.0.0.1:{port}")
        with pytest.raises(DevStackError, match="WEIR_DYNAMODB_ENDPOINT"):
            start_dynamodb(config)


def test_old_java_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.devstack.kafka import java_binary

    fake = tmp_path / "jdk" / "bin"
    fake.mkdir(parents=True)
    java = fake / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(DevStackError, match="Java 11 .* too old(.|\n)*JAVA_HOME"):
        java_binary()


def test_kraft_properties_listen_on_loopback_only(tmp_path: Path) -> None:
    text = server_properties(build_config(state_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:19092",
                                         kafka_controller_port=9093))
    assert "process.roles=broker,controller" in text
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:9093" in text
    assert f"log.dirs={tmp_path}/kafka/data" in text
