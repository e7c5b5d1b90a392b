"""An ArcadeDB server speaking Bolt, in its own interpreter, for tests/bolt_server.py.

Run as `python tests/bolt_server_child.py ROOT BOLT_PORT HTTP_PORT DATABASE` from a scratch
directory (the JVM writes ./log there) with the root password in ARCADEDB_ROOT_PASSWORD. It
listens on loopback only, creates DATABASE, prints READY_LINE, and stops when its stdin closes
(the parent closed it, or died).
"""

from __future__ import annotations

import os
import sys

READY_LINE = "BOLT SERVER READY"


def main(root: str, bolt_port: int, http_port: int, database: str) -> None:
    import arcadedb_embedded

    server = arcadedb_embedded.create_server(
        root,
        root_password=os.environ["ARCADEDB_ROOT_PASSWORD"],
        config={
            "host": "127.0.0.1",
            "http_port": http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
        },
    )
    server.start()
    try:
        server.create_database(database)
        print(READY_LINE, flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
