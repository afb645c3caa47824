#!/usr/bin/env python3
"""The Python `websockets` echo of scripts/deflate-bench.sh.

usage: py_echo.py [plain | deflate | takeover]

  deflate   websockets' own deflate settings (what compression="deflate"
            uses: windows of 12 bits, memLevel 5), answered with
            server_no_context_takeover and client_no_context_takeover
  takeover  the same with context takeover (websockets' default)
  plain     compression off

Listens on an ephemeral port of 127.0.0.1 and prints it on stdout.
"""
import asyncio
import sys

import websockets
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except Exception:
        pass


async def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "deflate"
    if mode == "plain":
        extensions = []
    else:
        nct = mode == "deflate"
        extensions = [ServerPerMessageDeflateFactory(
            server_no_context_takeover=nct, client_no_context_takeover=nct,
            server_max_window_bits=12, client_max_window_bits=12,
            compress_settings={"memLevel": 5})]
    kw = dict(max_size=64 << 20, ping_interval=None, compression=None, extensions=extensions)
    async with serve(echo, "127.0.0.1", 0, **kw) as server:
        port = server.sockets[0].getsockname()[1]
        print("python websockets %s %s on ws://127.0.0.1:%d"
              % (websockets.__version__, mode, port), flush=True)
        await server.serve_forever()


asyncio.run(main())
