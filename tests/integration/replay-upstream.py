#!/usr/bin/env python3
"""replay-upstream.py DIR: an upstream that answers POST /v1/messages with
a recorded file, real HTTP over loopback.  The request's "model" names the
file in DIR; a .txt file is sent as a server-sent event stream in 7-byte
writes (so lines and events arrive split, as TCP may split them), a .json
file whole.  Prints "listening on 127.0.0.1:PORT" first."""
import http.server
import json
import os
import sys

DIR = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        path = os.path.join(DIR, os.path.basename(body.get("model", "")))
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        self.send_response(200)
        if path.endswith(".txt"):
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                piece = data[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
