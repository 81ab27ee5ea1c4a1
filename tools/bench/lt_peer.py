#!/usr/bin/python3
"""A python3-libtorrent peer for interop tests and the download benchmark.

usage: lt_peer.py seed|leech TORRENT DATADIR PORT [PEER_HOST:PORT]

Loopback only: listens on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP/PEX/uTP off. Prints "ready
<port>" once listening; a leecher prints "done <seconds>" when complete and exits.
"""
import sys
import time

import libtorrent as lt

mode, torrent, datadir, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
peer = sys.argv[5] if len(sys.argv) > 5 else None

settings = lt.high_performance_seed() if mode == "seed" else lt.default_settings()
settings.update({
    "listen_interfaces": "127.0.0.1:%d" % port,
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
})
ses = lt.session(settings)
ti = lt.torrent_info(torrent)
flags = lt.torrent_flags.disable_pex
if mode == "seed":
    flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent({"ti": ti, "save_path": datadir, "flags": flags})
while not ses.is_listening():
    time.sleep(0.05)
print("ready %d" % ses.listen_port(), flush=True)
start = time.time()
if peer:
    host, p = peer.rsplit(":", 1)
    h.connect_peer((host, int(p)), 0)
try:
    while True:
        time.sleep(0.05)
        s = h.status()
        if mode == "leech" and s.is_seeding:
            print("done %.3f" % (time.time() - start), flush=True)
            break
except KeyboardInterrupt:
    pass
