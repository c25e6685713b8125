"""What warren's stub gateways (payment_gateway.py, sms_gateway.py) share:
the control state tests drive (a mode that can count down, a delay, one
lock), a JSON-answering HTTP/1.1 handler with the control endpoints
(POST /_control, POST /_reset), and the server's start and stop.

A stub subclasses StubState (reset() sets its own counters and calls
StubState.reset) and StubHandler (log_prefix, server_version, and the
do_GET/do_POST of its own API after handle_control), then calls serve(). PORT 0 picks a free port; the first line on stderr says which
("listening on 127.0.0.1:PORT"). It listens on 127.0.0.1 unless the
environment variable STUB_ADDRESS says otherwise (0.0.0.0 in a container:
docker-compose.yml). SIGTERM stops it with exit status 0.
"""
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubState:
    """The mode tests set through /_control, and the stub's data, behind one lock."""

    def __init__(self, normal_mode):
        self.normal_mode = normal_mode
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forgets everything (called with the lock held, or before serving)."""
        self.mode, self.times, self.delay = self.normal_mode, None, 5.0

    def control(self, command):
        """Applies a /_control command: mode, times (then back to normal), delay."""
        self.mode = command.get("mode", self.normal_mode)
        self.times = command.get("times")
        self.delay = float(command.get("delay", 5))

    def take_mode(self):
        """The mode for this request (counts down `times`); call with the lock held."""
        mode = self.mode
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.times = self.normal_mode, None
        return mode


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_prefix = "stub"

    def setup(self):
        # headers and body go out in separate writes: without TCP_NODELAY a
        # keep-alive client waits for its delayed ACK (40 ms) on every answer
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        sys.stderr.write(self.log_prefix + ": " + (fmt % args) + "\n")

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

    def handle_control(self, body):
        """Answers POST /_control and /_reset; False for any other path."""
        state = self.server.state
        if self.path == "/_control":
            command = json.loads(body or "{}")
            with state.lock:
                state.control(command)
                mode = state.mode
            self.reply(200, {"mode": mode})
            return True
        if self.path == "/_reset":
            with state.lock:
                state.reset()
            self.reply(200, {})
            return True
        return False


def serve(handler_class, state, port):
    """Serves handler_class with state (self.server.state) until SIGTERM."""
    address = os.environ.get("STUB_ADDRESS", "127.0.0.1")
    server = ThreadingHTTPServer((address, port), handler_class)
    server.daemon_threads = True
    server.state = state

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
