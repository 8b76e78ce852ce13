#!/usr/bin/python3
"""Hold every packet of an NFQUEUE queue for a fixed time, then accept it.

Kernels built without sch_netem (tc netem) still ship the iptables NFQUEUE
target; this gives test hosts added latency there. It speaks the nfnetlink
queue protocol directly so the hosts need nothing beyond Debian's python3.

usage: netdelay.py <queue-number> <delay-ms>
"""

import heapq
import os
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
NLMSG_HDR = struct.Struct("=IHHII")
NFGEN_HDR = struct.Struct("!BBH")


def attribute(kind, payload):
    length = 4 + len(payload)
    padding = b"\0" * ((4 - length % 4) % 4)
    return struct.pack("=HH", length, kind) + payload + padding


def message(msg_type, queue, attributes, flags=NLM_F_REQUEST):
    body = NFGEN_HDR.pack(socket.AF_UNSPEC, 0, queue) + b"".join(attributes)
    header = NLMSG_HDR.pack(
        NLMSG_HDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, 0, 0
    )
    return header + body


def expect_ack(sock):
    reply = sock.recv(65536)
    _, msg_type, _, _, _ = NLMSG_HDR.unpack_from(reply)
    if msg_type == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, NLMSG_HDR.size)
        if error != 0:
            raise OSError(-error, os.strerror(-error))


def packet_ids(datagram):
    offset = 0
    while offset + NLMSG_HDR.size <= len(datagram):
        length, msg_type, _, _, _ = NLMSG_HDR.unpack_from(datagram, offset)
        if length < NLMSG_HDR.size:
            return
        if msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            attr = offset + NLMSG_HDR.size + NFGEN_HDR.size
            end = offset + length
            while attr + 4 <= end:
                attr_len, attr_type = struct.unpack_from("=HH", datagram, attr)
                if attr_len < 4:
                    break
                if attr_type & 0x7FFF == NFQA_PACKET_HDR:
                    (packet_id,) = struct.unpack_from("!I", datagram, attr + 4)
                    yield packet_id
                attr += (attr_len + 3) & ~3
        offset += (length + 3) & ~3


def main():
    queue = int(sys.argv[1])
    delay = int(sys.argv[2]) / 1000.0
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    bind_cmd = struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, 0)
    sock.send(message(NFQNL_MSG_CONFIG, queue, [attribute(NFQA_CFG_CMD, bind_cmd)], NLM_F_REQUEST | NLM_F_ACK))
    expect_ack(sock)
    params = struct.pack("!IB", 0, NFQNL_COPY_META)
    sock.send(message(NFQNL_MSG_CONFIG, queue, [attribute(NFQA_CFG_PARAMS, params)], NLM_F_REQUEST | NLM_F_ACK))
    expect_ack(sock)
    # Readiness for whoever started us: from here on, queued packets are served.
    print("ready", flush=True)
    sys.stdout.close()

    due = []
    while True:
        timeout = None
        if due:
            timeout = max(0.0, due[0][0] - time.monotonic())
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            arrived = time.monotonic()
            for packet_id in packet_ids(sock.recv(1 << 20)):
                heapq.heappush(due, (arrived + delay, packet_id))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, packet_id = heapq.heappop(due)
            verdict = struct.pack("!II", NF_ACCEPT, packet_id)
            sock.send(message(NFQNL_MSG_VERDICT, queue, [attribute(NFQA_VERDICT_HDR, verdict)]))


if __name__ == "__main__":
    main()
