#!/usr/bin/python3
"""A stub payment gateway for warren's tests, in Stripe's wire format.

  payment_gateway.py PORT [API_KEY]      (API_KEY defaults to sk_test_local)

POST /v1/payment_intents (form: amount, currency, payment_method, confirm,
metadata[order_id]; Authorization: Bearer API_KEY; optional Idempotency-Key)
answers 200 with a succeeded payment_intent, or 402 with a card_error. The
same Idempotency-Key gets the same stored answer and never a second charge;
the same key with other parameters gets 400 idempotency_error, and while the
first request with a key is still running, 409. Stripe's test tokens drive
outcomes: pm_card_chargeDeclined (generic_decline),
pm_card_chargeDeclinedInsufficientFunds, pm_card_chargeDeclinedExpiredCard.

Control (for tests):
  POST /_control {"mode": "approve"|"decline"|"timeout"|"fail500"|"fail429",
                  "times": N (then back to approve; default: until changed),
                  "delay": seconds (timeout mode; default 5)}
     timeout: sleeps `delay`, then processes the charge as usual (a slow
     gateway: the charge happens even though the client gave up).
  GET  /_stats  {"requests", "charges", "declines", "replays", "intents": [...]}
  POST /_reset  forgets everything.
PORT 0 picks a free port; the first line on stderr says which
("listening on 127.0.0.1:PORT"). It listens on 127.0.0.1 unless the
environment variable STUB_ADDRESS says otherwise (0.0.0.0 in a container:
docker-compose.yml). Exits 0 on SIGTERM.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DECLINING_TOKENS = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds":
        ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard":
        ("expired_card", "expired_card", "Your card has expired."),
}
REQUIRED = ("amount", "currency", "payment_method")


class Gateway:
    """All state, behind one lock."""

    def __init__(self, api_key):
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.mode, self.times, self.delay = "approve", None, 5.0
        self.requests = self.charges = self.declines = self.replays = 0
        self.stored = {}  # idempotency key -> (params, status, body)
        self.in_flight = set()
        self.intents = []
        self.counter = 0

    def take_mode(self):
        """The mode for this request (counts down `times`)."""
        mode = self.mode
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.times = "approve", None
        return mode


def error_body(kind, code, message, **extra):
    error = {"type": kind, "code": code, "message": message}
    error.update(extra)
    return {"error": error}


class Handler(BaseHTTPRequestHandler):
    def setup(self):
        # headers and body go out in separate writes: without TCP_NODELAY a
        # keep-alive client waits for its delayed ACK (40 ms) on every answer
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    protocol_version = "HTTP/1.1"
    server_version = "stub-payment-gateway/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("payment-stub: " + (fmt % args) + "\n")

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

    # ---- control -----------------------------------------------------------

    def do_GET(self):
        gw = self.server.gateway
        if self.path != "/_stats":
            return self.reply(404, error_body("invalid_request_error", "resource_missing",
                                              "Unrecognized request URL"))
        with gw.lock:
            self.reply(200, {"requests": gw.requests, "charges": gw.charges,
                             "declines": gw.declines, "replays": gw.replays,
                             "mode": gw.mode, "intents": gw.intents})

    def do_POST(self):
        gw = self.server.gateway
        body = self.read_body()
        if self.path == "/_control":
            command = json.loads(body or "{}")
            with gw.lock:
                gw.mode = command.get("mode", "approve")
                gw.times = command.get("times")
                gw.delay = float(command.get("delay", 5))
            return self.reply(200, {"mode": gw.mode})
        if self.path == "/_reset":
            with gw.lock:
                gw.reset()
            return self.reply(200, {})
        if self.path != "/v1/payment_intents":
            return self.reply(404, error_body("invalid_request_error", "resource_missing",
                                              "Unrecognized request URL"))
        self.charge(gw, body)

    # ---- the Stripe endpoint -------------------------------------------------

    def charge(self, gw, body):
        if self.headers.get("Authorization") != "Bearer " + gw.api_key:
            return self.reply(401, error_body("invalid_request_error", "api_key_invalid",
                                              "Invalid API Key provided."))
        params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return self.reply(400, error_body("invalid_request_error", "parameter_missing",
                                              "Missing required param: " + missing[0] + ".",
                                              param=missing[0]))
        key = self.headers.get("Idempotency-Key")
        with gw.lock:
            gw.requests += 1
            if key in gw.stored:
                return self.replay(gw, key, params)
            if key in gw.in_flight:
                return self.reply(409, error_body(
                    "idempotency_error", "idempotency_key_in_use",
                    "There is currently another in-progress request using this key."))
            mode = gw.take_mode()
            delay = gw.delay
            if key:
                gw.in_flight.add(key)
        try:
            if mode == "fail500":
                return self.reply(500, error_body("api_error", "stub_failure",
                                                  "The stub was told to fail."))
            if mode == "fail429":  # Stripe's answer to too many requests
                return self.reply(429, error_body("rate_limit_error", "rate_limit",
                                                  "Too many requests hit the API too quickly."))
            if mode == "timeout":
                time.sleep(delay)
            status, answer = self.process(gw, params, mode)
            with gw.lock:
                if key:
                    gw.stored[key] = (params, status, answer)
            self.reply(status, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout mode): the charge stands
        finally:
            with gw.lock:
                gw.in_flight.discard(key)

    def replay(self, gw, key, params):
        """Same key: the stored answer, unless the parameters differ."""
        stored_params, status, answer = gw.stored[key]
        if stored_params != params:
            return self.reply(400, error_body(
                "idempotency_error", "idempotency_key_reused",
                "Keys for idempotent requests can only be used with the same parameters."))
        gw.replays += 1
        self.reply(status, answer)

    def process(self, gw, params, mode):
        with gw.lock:
            gw.counter += 1
            intent_id = "pi_stub%08d" % gw.counter
        intent = {"id": intent_id, "object": "payment_intent",
                  "amount": int(params["amount"]), "currency": params["currency"],
                  "payment_method": params["payment_method"],
                  "metadata": {"order_id": params.get("metadata[order_id]", "")},
                  "confirm": params.get("confirm") == "true"}
        decline = DECLINING_TOKENS.get(params["payment_method"])
        if mode == "decline" and not decline:
            decline = DECLINING_TOKENS["pm_card_chargeDeclined"]
        with gw.lock:
            if decline:
                gw.declines += 1
                intent["status"] = "requires_payment_method"
                code, decline_code, message = decline
                return 402, error_body("card_error", code, message, decline_code=decline_code,
                                       payment_intent=intent)
            gw.charges += 1
            intent["status"] = "succeeded"
            gw.intents.append(intent)
            return 200, intent


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: payment_gateway.py PORT [API_KEY]")
    address = os.environ.get("STUB_ADDRESS", "127.0.0.1")
    server = ThreadingHTTPServer((address, int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.gateway = Gateway(sys.argv[2] if len(sys.argv) > 2 else "sk_test_local")

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
