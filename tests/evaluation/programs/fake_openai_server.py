"""A stand-in for `python -m vllm.entrypoints.openai.api_server` (vLLM cannot run on the CPU test machine).

Accepts the server flags the eval stage passes (--model, --served-model-name, --host, --port; others are
ignored), records its argv to $FAKE_SERVER_ARGV_FILE, answers GET /v1/models and POST
/v1/chat/completions with a fixed answer, and runs until it is terminated.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--served-model-name")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
args, _unknown = parser.parse_known_args()
if os.environ.get("FAKE_SERVER_ARGV_FILE"):
    with open(os.environ["FAKE_SERVER_ARGV_FILE"], "w") as handle:
        json.dump(sys.argv[1:], handle)


class Handler(BaseHTTPRequestHandler):
    def _send(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._send({"data": [{"id": args.served_model_name}]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = "This image is fake." if body.get("model") == args.served_model_name else "unknown model"
        self._send({"choices": [{"message": {"content": answer}}], "usage": {"completion_tokens": 5}})

    def log_message(self, *a):
        pass


ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
