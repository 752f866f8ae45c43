"""``python -m stripe_emulator --host 127.0.0.1 --port 12111 [--state-file PATH]``"""

import argparse
import contextlib
import os

from stripe_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stripe_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("STRIPE_EMULATOR_PORT", "12111"))
    )
    parser.add_argument("--state-file", help="persist state as JSON here and reload it at start")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = EmulatorServer(args.host, args.port, args.state_file, args.verbose)
    print(
        f"Stripe emulator listening on {server.url} (control API: {server.url}/_emulator/)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
