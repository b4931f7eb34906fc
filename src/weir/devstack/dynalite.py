"""A second DynamoDB-compatible server: dynalite (Node.js, Apache-2.0, in memory) on a free loopback port.

moto (the dev stack's server) spends ~15 ms of Python per conditional ``UpdateItem`` (it parses and validates
the update expression in pure Python), so a benchmark against it measures moto. dynalite serves the same calls
about five times faster on this machine. It lacks the TTL API (``weir.online.store`` only warns: reads ignore
expired items anyway), so the dev stack keeps moto; ``bench/bench_stream.py`` runs both side by side and
tests/integration/test_online_dynalite.py checks the store against it.

Installed from npm into ``.state/dynalite`` on first use (``npm install dynalite@4.0.0``, needs ``node`` and
``npm``: ``apt-get install nodejs npm``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weir.process import DevStackError, free_port, start_and_wait, stop_process
from weir.runtime import RuntimeConfig

VERSION = "4.0.0"


def install(home: Path) -> Path:
    """``node_modules/dynalite/cli.js`` under ``home``, installing it with npm when missing."""
    cli = home / "node_modules" / "dynalite" / "cli.js"
    if cli.exists():
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise DevStackError("dynalite needs Node.js: install it (`apt-get install nodejs npm`) or run the "
                            "benchmark with --servers moto")
    home.mkdir(parents=True, exist_ok=True)
    print(f"installing dynalite {VERSION} from npm into {home} ...", flush=True)
    subprocess.run([npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", f"dynalite@{VERSION}"],
                   check=True, stdout=subprocess.DEVNULL)
    return cli


#: dynalite rethrows a request's ``error`` event (``index.js``: ``req.on('error', err => { throw err })``), so one
#: client that drops a connection mid-request (a timed-out or killed writer) ends the whole server, and every
#: later call of a benchmark fails with "connection refused". Preloaded, this logs such an abort and goes on;
#: any other uncaught error still ends the process.
SURVIVE_ABORTS = """process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite: a client aborted a request; ignored: ' + err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
"""


@contextmanager
def dynalite(state_dir: Path) -> Iterator[str]:
    """Run dynalite in memory on a free loopback port; yield its endpoint URL; stop it afterwards."""
    home = state_dir / "dynalite"
    cli = install(home)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    pid_file = home / "dynalite.pid"
    guard = home / "survive_aborts.js"
    guard.write_text(SURVIVE_ABORTS)
    cmd = ["node", "--require", str(guard), str(cli), "--host", "127.0.0.1", "--port", str(port),
           "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]

    def answers() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    start_and_wait(cmd, pid_file, home / "dynalite.log", answers, 30, "dynalite")
    try:
        yield endpoint
    finally:
        stop_process(pid_file)


SERVERS = ("moto", "dynalite")


@contextmanager
def dynamodb_server(name: str, config: RuntimeConfig) -> Iterator[str]:
    """The endpoint of the DynamoDB-compatible server ``name`` for a benchmark: ``moto`` is the dev stack's
    (``weir dev up``, the configured endpoint), ``dynalite`` a private one started for the block."""
    if name == "moto":
        yield config.dynamodb_endpoint
    elif name == "dynalite":
        with dynalite(config.state_dir) as endpoint:
            yield endpoint
    else:
        raise SystemExit(f"unknown DynamoDB-compatible server {name!r}: use one of {', '.join(SERVERS)}")
