#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SMTP sink for breaker's notify tests (python3-aiosmtpd, run with /usr/bin/python3).

Listens on 127.0.0.1:PORT and stores each accepted message in DIR/messages/ as NNNNNN.eml plus
NNNNNN.json (message_id, notification_id, incident_id, subject, from, to, body), written
atomically (temporary file + rename) before the 250 reply, so a message the client saw
accepted is always on disk.

Faults on command, by control files in DIR (checked for every message):
  fail_451    answer DATA with "451 4.3.0 Try again later" (transient; nothing stored)
  fail_554    answer DATA with "554 5.6.0 Message rejected" (permanent; nothing stored)
  stall       store the message, then wait until the file is removed before replying
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.messages = os.path.join(directory, "messages")
        os.makedirs(self.messages, exist_ok=True)
        self.counter = len([n for n in os.listdir(self.messages) if n.endswith(".json")])

    def control(self, name):
        return os.path.exists(os.path.join(self.directory, name))

    async def handle_DATA(self, server, session, envelope):
        if self.control("fail_451"):
            return "451 4.3.0 Try again later"
        if self.control("fail_554"):
            return "554 5.6.0 Message rejected"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "message_id": str(message.get("Message-ID", "")),
            "notification_id": str(message.get("X-Breaker-Notification-Id", "")),
            "incident_id": str(message.get("X-Breaker-Incident-Id", "")),
            "subject": str(message.get("Subject", "")),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "body": body.get_content() if body is not None else "",
        }
        self.counter += 1
        base = os.path.join(self.messages, "%06d" % self.counter)
        for suffix, data in ((".eml", raw), (".json", json.dumps(record).encode())):
            tmp = base + suffix + ".tmp"
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, base + suffix)
        while self.control("stall"):
            await asyncio.sleep(0.01)
        return "250 2.0.0 OK stored"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    handler = Handler(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test"), host="127.0.0.1", port=args.port,
        reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
