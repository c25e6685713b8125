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
PORT 0 picks a free port and says which on stderr's first line; the
address (STUB_ADDRESS), SIGTERM, /_control and /_reset are stub_server.py's,
shared with sms_gateway.py.
"""
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from stub_server import StubHandler, StubState, serve  # noqa: E402

DECLINING_TOKENS = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds":
        ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard":
        ("expired_card", "expired_card", "Your card has expired."),
}
REQUIRED = ("amount", "currency", "payment_method")


class Gateway(StubState):
    """All state, behind one lock (StubState's)."""

    def __init__(self, api_key):
        self.api_key = api_key
        super().__init__("approve")

    def reset(self):
        super().reset()
        self.requests = self.charges = self.declines = self.replays = 0
        self.stored = {}  # idempotency key -> (params, status, body)
        self.in_flight = set()
        self.intents = []
        self.counter = 0


def error_body(kind, code, message, **extra):
    error = {"type": kind, "code": code, "message": message}
    error.update(extra)
    return {"error": error}


class Handler(StubHandler):
    server_version = "stub-payment-gateway/1"
    log_prefix = "payment-stub"

    def not_found(self):
        self.reply(404, error_body("invalid_request_error", "resource_missing",
                                   "Unrecognized request URL"))

    def do_GET(self):
        gw = self.server.state
        if self.path != "/_stats":
            return self.not_found()
        with gw.lock:
            self.reply(200, {"requests": gw.requests, "charges": gw.charges,
                             "declines": gw.declines, "replays": gw.replays,
                             "mode": gw.mode, "intents": gw.intents})

    def do_POST(self):
        body = self.read_body()
        if self.handle_control(body):
            return
        if self.path != "/v1/payment_intents":
            return self.not_found()
        self.charge(self.server.state, body)

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
    serve(Handler, Gateway(sys.argv[2] if len(sys.argv) > 2 else "sk_test_local"),
          int(sys.argv[1]))


if __name__ == "__main__":
    main()
