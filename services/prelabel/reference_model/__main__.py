"""python -m services.prelabel.reference_model --http PORT --grpc PORT [--delay S] [--fail]
[--malformed]: serve the reference model until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal

from services.prelabel.reference_model.server import Behaviour, ReferenceModel


async def _serve(args: argparse.Namespace) -> None:
    model = ReferenceModel(Behaviour(delay_seconds=args.delay, fail=args.fail,
                                     malformed=args.malformed))
    await model.start(args.host, args.http, args.grpc)
    print(f"reference model: HTTP {model.http_url if args.http is not None else '-'}, "
          f"gRPC {model.grpc_url if args.grpc is not None else '-'}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await model.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.prelabel.reference_model",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http", type=int, default=None, metavar="PORT",
                        help="serve HTTP/JSON on this port (0: any free port)")
    parser.add_argument("--grpc", type=int, default=None, metavar="PORT",
                        help="serve gRPC on this port (0: any free port)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fail", action="store_true", help="refuse every call (503)")
    parser.add_argument("--malformed", action="store_true",
                        help="answer labels that are not the job's")
    args = parser.parse_args()
    if args.http is None and args.grpc is None:
        parser.error("give --http PORT, --grpc PORT or both")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
