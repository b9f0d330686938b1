#!/usr/bin/env python3
"""A plain Python asyncio echo server: a peer for scripts/bench-compare.sh.

It is what the lectures' Python server becomes with asyncio: one coroutine per client,
`readline` for lines. Usage: asyncio_echo.py [--mode line|raw] [--port N]. Prints
`listening on ADDR (MODE mode)` on stdout, like `cargo lab serve`, then serves 127.0.0.1
until killed.
"""

import argparse
import asyncio


async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            writer.write(line + b"\r\n")
            await writer.drain()
    except (ConnectionError, ValueError):
        pass  # a reset, or a line over the 64 KiB limit: drop this client
    finally:
        writer.close()


async def echo_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(16 * 1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["line", "raw"], default="line")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    handler = echo_lines if args.mode == "line" else echo_raw
    server = await asyncio.start_server(
        handler, "127.0.0.1", args.port, backlog=1024, limit=64 * 1024
    )
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port} ({args.mode} mode)", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
