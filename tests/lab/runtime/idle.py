"""Stand-in for control-plane components the lab does not model
(kube-controller-manager, kube-scheduler): runs until SIGTERM."""

import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("lab component up:", " ".join(sys.argv[1:2]), flush=True)
while True:
    time.sleep(3600)
