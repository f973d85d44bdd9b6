"""rawclient.py: speak the control protocol directly, for tests of what
swarmctl would never send.  Every wait has a deadline."""
import json
import socket


class Conn:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, obj):
        self.send_raw((json.dumps(obj) + "\n").encode())

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, verb, args=None, auth=None, rid=1):
        req = {"id": rid, "verb": verb}
        if args is not None:
            req["args"] = args
        if auth is not None:
            req["auth"] = auth
        self.send(req)
        return self.line()

    def closed(self):
        """True once the server has closed the connection."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except OSError:
            return True

    def close(self):
        self.s.close()
