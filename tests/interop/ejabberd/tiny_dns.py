"""A minimal UDP DNS responder for the private ejabberd of run-ejabberd.sh (ejabberd resolves peers with inet_res only,
which reads no hosts file): an A record for one name, NXDOMAIN for every other question (so no SRV records: ejabberd
falls back to the name itself on outgoing_s2s_port, RFC 6120 §3.2.2). usage: tiny_dns.py BIND_IP PORT NAME ADDRESS"""
import socket
import struct
import sys

bind_ip, port, name, address = sys.argv[1], int(sys.argv[2]), sys.argv[3].lower().rstrip("."), sys.argv[4]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((bind_ip, port))
while True:
    data, peer = sock.recvfrom(512)
    if len(data) < 12:
        continue
    qid, _flags, qdcount = struct.unpack(">HHH", data[:6])
    i, labels = 12, []
    while i < len(data) and data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    question_end = i + 5
    if qdcount != 1 or question_end > len(data):
        continue
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
    question = data[12:question_end]
    if ".".join(labels).lower() == name and qtype == 1:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(address)
        sock.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer, peer)
    elif ".".join(labels).lower() == name:
        sock.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question, peer)  # no such record
    else:
        sock.sendto(struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question, peer)  # NXDOMAIN
