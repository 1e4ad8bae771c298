"""The lab kube-apiserver: health endpoints only, backed by real etcd.

Accepts kube-apiserver's flags as kubeadm writes them and uses these:
--advertise-address, --secure-port, --tls-cert-file, --tls-private-key-file,
--etcd-servers, --etcd-cafile, --etcd-certfile, --etcd-keyfile.
Serves HTTPS /livez, /readyz and /healthz: 200 "ok" while etcd answers its
/health through the apiserver's etcd client certificate, 500 otherwise.
Everything else is 404. Standard library only.
"""

from __future__ import annotations

import http.server
import json
import signal
import socketserver
import ssl
import sys
import threading
import time
import urllib.request


def parse_flags(argv):
    flags = {}
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            flags[key] = value
    return flags


class EtcdProbe:
    def __init__(self, flags):
        self.servers = flags["etcd-servers"].split(",")
        ctx = ssl.create_default_context(cafile=flags["etcd-cafile"])
        ctx.load_cert_chain(flags["etcd-certfile"], flags["etcd-keyfile"])
        self.ctx = ctx
        self.lock = threading.Lock()
        self.checked = 0.0
        self.result = (False, "not checked")

    def check(self):
        with self.lock:
            if time.monotonic() - self.checked < 1.0:
                return self.result
            self.result = self._probe()
            self.checked = time.monotonic()
            return self.result

    def _probe(self):
        errors = []
        for server in self.servers:
            try:
                with urllib.request.urlopen(server + "/health", context=self.ctx, timeout=2) as r:
                    body = json.loads(r.read().decode())
                if str(body.get("health")) == "true":
                    return True, f"etcd {server} healthy"
                errors.append(f"{server}: {body}")
            except Exception as exc:
                errors.append(f"{server}: {exc}")
        return False, "; ".join(errors)


def make_handler(probe):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path not in ("/livez", "/readyz", "/healthz"):
                self.send_error(404)
                return
            ok, detail = probe.check()
            body = b"ok" if ok else f"[-]etcd failed: {detail}\n{path[1:]} check failed".encode()
            self.send_response(200 if ok else 500)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    return Handler


class Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer without the reverse DNS lookup of its own address.

    HTTPServer.server_bind asks socket.getfqdn() for the bound host; the lab's
    namespaces have no reachable resolver, so that lookup alone held every start
    (and every restart after a restore) for about ten seconds before :6443
    accepted a connection.
    """

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def main(argv):
    flags = parse_flags(argv)
    probe = EtcdProbe(flags)
    port = int(flags.get("secure-port", "6443"))
    server = Server(("0.0.0.0", port), make_handler(probe))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"lab kube-apiserver serving on :{port}, etcd {probe.servers}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
