"""Interoperability check with an independent Phoenix Channels client.

Runs the PyPI package phoenix-channels-python-client against a running
`switchboard serve --auth none --api-key KEY`, with both protocol versions:
joins room:interop and expects an ok reply; a join to user:2 as user 1 must be
refused. With V1 it also publishes through POST /api/broadcast and expects
the message with its payload intact. (With V2 that client drops every message
whose join_ref is not its join's, broadcasts included — `[null, null, …]`, as
Phoenix itself sends them — so V2 broadcasts are not checked with it.)

    python3 scripts/interop/python_client.py --port 4000 --api-key demo-key
"""
import argparse
import asyncio
import json
import sys
import urllib.request

from phoenix_channels_python_client import PHXChannelsClient


def publish(port: int, api_key: str, topic: str, payload: dict) -> None:
    body = json.dumps({"topic": topic, "event": "news", "payload": payload}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/broadcast", data=body, method="POST",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202, response.status


async def check(port: int, api_key: str, version: str) -> None:
    url = f"ws://127.0.0.1:{port}/socket/websocket"
    received: asyncio.Queue = asyncio.Queue()
    # The client sends its api_key as a connect param; with auth none the
    # built-in socket takes user_id from the params, so pass it in the URL.
    async with PHXChannelsClient(f"{url}?user_id=1", "unused", protocol_version=version) as client:
        async def on_message(message):
            await received.put(message)

        await client.subscribe_to_topic("room:interop", on_message)
        print(f"vsn {version}: joined room:interop")
        if version == "1.0":
            payload = {"text": "hello from the API", "n": 42, "nested": {"list": [1, 2.5, None, True]}}
            publish(port, api_key, "room:interop", payload)
            message = await asyncio.wait_for(received.get(), timeout=5)
            text = repr(message)
            assert "news" in text and "hello from the API" in text, text
            print(f"vsn {version}: broadcast received: {text[:160]}")
        try:
            await client.subscribe_to_topic("user:2", on_message)
        except Exception as error:  # the join is refused: unauthorized
            print(f"vsn {version}: join user:2 refused as expected: {error!r}"[:200])
        else:
            raise AssertionError("join to user:2 as user 1 was accepted")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--api-key", default="demo-key")
    args = parser.parse_args()
    for version in ("2.0", "1.0"):
        asyncio.run(check(args.port, args.api_key, version))
    print("interop: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
