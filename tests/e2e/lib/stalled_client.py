#!/usr/bin/env python3
"""A WebSocket client that subscribes to the ServerManager's ObjectCreated and
ObjectDestroyed events and then stops reading, with a tiny receive buffer, so
that the server's writes stall. Usage: stalled_client.py PORT PATH.

Prints "subscribed" once its requests are sent; on a line on stdin it reads
whatever the server still sends and prints "closed <bytes> <how>" (how: eof,
reset or open, the latter when the connection is still up after 5 s).
"""
import base64
import json
import os
import socket
import struct
import sys


def frame(text):
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += s.recv(1)
    if b" 101 " not in response.split(b"\r\n")[0]:
        print("handshake failed", response.split(b"\r\n")[0].decode(), flush=True)
        return 1
    session = None
    for i, event in enumerate(["ObjectCreated", "ObjectDestroyed"]):
        params = {"type": event, "object": "manager_ServerManager"}
        s.sendall(frame(json.dumps({"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": params})))
    print("subscribed", flush=True)
    sys.stdin.readline()
    s.settimeout(5)
    total, how = 0, "open"
    try:
        while True:
            data = s.recv(65536)
            if not data:
                how = "eof"
                break
            total += len(data)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "open"
    print(f"closed {total} {how}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
