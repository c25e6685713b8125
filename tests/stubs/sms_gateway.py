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
PORT 0 picks a free port and says which on stderr's first line; the
address (STUB_ADDRESS), SIGTERM, /_control and /_reset are stub_server.py's,
shared with payment_gateway.py.
"""
import base64
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from stub_server import StubHandler, StubState, serve  # noqa: E402

E164 = re.compile(r"^\+[0-9]{8,15}$")


class Gateway(StubState):
    """All state, behind one lock (StubState's)."""

    def __init__(self, sid, token):
        self.sid, self.token = sid, token
        super().__init__("ok")

    def reset(self):
        super().reset()
        self.requests = 0
        self.messages = []


def twilio_error(status, code, message):
    return {"code": code, "message": message, "status": status,
            "more_info": "https://www.twilio.com/docs/errors/%d" % code}


class Handler(StubHandler):
    server_version = "stub-sms-gateway/1"
    log_prefix = "sms-stub"

    def not_found(self):
        self.reply(404, twilio_error(404, 20404, "The requested resource was not found"))

    def do_GET(self):
        gw = self.server.state
        with gw.lock:
            if self.path == "/_messages":
                return self.reply(200, gw.messages)
            if self.path == "/_stats":
                return self.reply(200, {"requests": gw.requests, "messages": len(gw.messages),
                                        "mode": gw.mode})
        self.not_found()

    def do_POST(self):
        body = self.read_body()
        if self.handle_control(body):
            return
        gw = self.server.state
        if self.path != "/2010-04-01/Accounts/%s/Messages.json" % gw.sid:
            return self.not_found()
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
    serve(Handler,
          Gateway(sys.argv[2] if len(sys.argv) > 2 else "ACwarrenlocal",
                  sys.argv[3] if len(sys.argv) > 3 else "local_token"),
          int(sys.argv[1]))


if __name__ == "__main__":
    main()
