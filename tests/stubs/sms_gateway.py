#!/usr/bin/python3
"""A stub SMS gateway for warren's tests, in Twilio's wire format.

  sms_gateway.py PORT [ACCOUNT_SID [AUTH_TOKEN]]
      (defaults ACwarrenlocal and local_token, warren's config defaults)

POST /2010-04-01/Accounts/{sid}/Messages.json (form: To, From, Body; HTTP
basic auth sid:token) answers 201 with a message resource ({"sid": "SM...",
"status": "queued", ...}); wrong credentials get 401 (code 20003), a To
that is not E.164 gets 400 (code 21211), a missing Body 400 (code 21602).

Control (for tests):
  POST /_control {"mode": "ok"|"fail500"|"fail429"|"timeout",
                  "times": N (then back to ok; default: until changed),
                  "delay": seconds (timeout mode; default 5)}
  GET  /_messages   every accepted message: [{"sid", "to", "from", "body"}]
  GET  /_stats      {"requests", "messages", "mode"}
  POST /_reset      forgets everything.
PORT 0 picks a free port; the first line on stderr says which
("listening on 127.0.0.1:PORT"). It listens on 127.0.0.1 unless the
environment variable STUB_ADDRESS says otherwise (0.0.0.0 in a container:
docker-compose.yml). Exits 0 on SIGTERM.
"""
import base64
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

E164 = re.compile(r"^\+[0-9]{8,15}$")


class Gateway:
    """All state, behind one lock."""

    def __init__(self, sid, token):
        self.sid, self.token = sid, token
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.mode, self.times, self.delay = "ok", None, 5.0
        self.requests = 0
        self.messages = []

    def take_mode(self):
        mode = self.mode
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.times = "ok", None
        return mode


def twilio_error(status, code, message):
    return {"code": code, "message": message, "status": status,
            "more_info": "https://www.twilio.com/docs/errors/%d" % code}


class Handler(BaseHTTPRequestHandler):
    def setup(self):
        # headers and body go out in separate writes: without TCP_NODELAY a
        # keep-alive client waits for its delayed ACK (40 ms) on every answer
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    protocol_version = "HTTP/1.1"
    server_version = "stub-sms-gateway/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("sms-stub: " + (fmt % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace")

    def do_GET(self):
        gw = self.server.gateway
        with gw.lock:
            if self.path == "/_messages":
                return self.reply(200, gw.messages)
            if self.path == "/_stats":
                return self.reply(200, {"requests": gw.requests, "messages": len(gw.messages),
                                        "mode": gw.mode})
        self.reply(404, twilio_error(404, 20404, "The requested resource was not found"))

    def do_POST(self):
        gw = self.server.gateway
        body = self.read_body()
        if self.path == "/_control":
            command = json.loads(body or "{}")
            with gw.lock:
                gw.mode = command.get("mode", "ok")
                gw.times = command.get("times")
                gw.delay = float(command.get("delay", 5))
            return self.reply(200, {"mode": gw.mode})
        if self.path == "/_reset":
            with gw.lock:
                gw.reset()
            return self.reply(200, {})
        if self.path != "/2010-04-01/Accounts/%s/Messages.json" % gw.sid:
            return self.reply(404, twilio_error(404, 20404,
                                                "The requested resource was not found"))
        self.send_message(gw, body)

    def authorized(self, gw):
        expected = base64.b64encode(("%s:%s" % (gw.sid, gw.token)).encode()).decode()
        return self.headers.get("Authorization") == "Basic " + expected

    def send_message(self, gw, body):
        if not self.authorized(gw):
            return self.reply(401, twilio_error(401, 20003, "Authenticate"))
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        with gw.lock:
            gw.requests += 1
            mode = gw.take_mode()
            delay = gw.delay
        if mode in ("fail500", "fail429"):
            status = 500 if mode == "fail500" else 429
            return self.reply(status, twilio_error(status, 20500 if status == 500 else 20429,
                                                   "The stub was told to fail."))
        if mode == "timeout":
            time.sleep(delay)  # then answers too late: nothing is recorded
            return self.reply(503, twilio_error(503, 20503, "Too late."))
        if not E164.match(form.get("To", "")):
            return self.reply(400, twilio_error(400, 21211,
                                                "The 'To' number is not a valid phone number."))
        if not form.get("Body"):
            return self.reply(400, twilio_error(400, 21602, "Message body is required."))
        with gw.lock:
            sid = "SM%032d" % (len(gw.messages) + 1)
            message = {"sid": sid, "to": form["To"], "from": form.get("From", ""),
                       "body": form["Body"]}
            gw.messages.append(message)
        self.reply(201, {"sid": sid, "account_sid": gw.sid, "to": form["To"],
                         "from": form.get("From", ""), "body": form["Body"],
                         "status": "queued", "num_segments": "1",
                         "api_version": "2010-04-01",
                         "uri": "/2010-04-01/Accounts/%s/Messages/%s.json" % (gw.sid, sid)})


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: sms_gateway.py PORT [ACCOUNT_SID [AUTH_TOKEN]]")
    address = os.environ.get("STUB_ADDRESS", "127.0.0.1")
    server = ThreadingHTTPServer((address, int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.gateway = Gateway(sys.argv[2] if len(sys.argv) > 2 else "ACwarrenlocal",
                             sys.argv[3] if len(sys.argv) > 3 else "local_token")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # port 0 picks a free port: say which, for whoever started us
    sys.stderr.write("listening on %s:%d\n" % (address, server.server_address[1]))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
