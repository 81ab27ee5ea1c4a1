#!/usr/bin/python3
"""python3-libtorrent downloads a magnet link (BEP 9 metadata, then the data).

usage: lt_magnet.py MAGNET SAVEDIR PORT [PEER_HOST:PORT]

Loopback only: listens on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP/PEX/uTP off. Prints "ready
<port>" once listening, "metadata <name>" once it has the info dictionary, and
"done <seconds>" when every piece is verified, then exits.
"""
import sys
import time

import libtorrent as lt

uri, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
peer = sys.argv[4] if len(sys.argv) > 4 else None

ses = lt.session({
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
params = lt.parse_magnet_uri(uri)
params.save_path = save
params.flags |= lt.torrent_flags.disable_pex
h = ses.add_torrent(params)
while not ses.is_listening():
    time.sleep(0.05)
print("ready %d" % ses.listen_port(), flush=True)
start = time.time()
dialled = 0.0
said_metadata = False
while True:
    now = time.time()
    if peer and now - dialled > 2:
        host, p = peer.rsplit(":", 1)
        h.connect_peer((host, int(p)), 0)
        dialled = now
    s = h.status()
    if s.has_metadata and not said_metadata:
        said_metadata = True
        print("metadata %s" % s.name, flush=True)
    if s.is_seeding:
        print("done %.3f" % (now - start), flush=True)
        break
    time.sleep(0.05)
