#!/usr/bin/env python3
"""Send UDP datagrams the way the guide's time-sensitive sender does.

StarlingX's "Enable TSN in Kata Containers" sends with SO_PRIORITY 6 (which
its taprio map puts into traffic class 1, the queue with the etf child) and
gives every packet a launch time (SO_TXTIME, CLOCK_TAI) inside the transmit
window of that class; etf orders and releases packets by that time.

Usage: send.py SRC DST PORT TXTIME_COUNT PLAIN_COUNT [options]

First TXTIME_COUNT datagrams go out from a socket with SO_TXTIME enabled,
each with an SCM_TXTIME control message carrying its launch time. Then
PLAIN_COUNT datagrams go out with the same priority from an ordinary socket
(no SO_TXTIME, no launch time), which etf is expected to drop. The last
line printed is "sent-txtime=N sent-plain=M". Standard library only.

Launch times: taprio accepts a packet from an SO_TXTIME socket only if its
launch time falls inside an interval in which the gate of the packet's
traffic class is open, and drops it otherwise. So each launch time is at
least --ahead-ms from now and placed --offset-us into the class's window,
which starts --window-us into each --cycle-us cycle counted from
--base-time. The defaults are the guide's schedule: base-time
1588076872000000000, a 1 ms cycle, traffic class 1 open from 200 to 300 us
(sched-entry S 02 100000 after S 01 200000).
"""

import argparse
import socket
import struct
import sys
import time

# From <asm-generic/socket.h>: the socket option and the control message
# share the number.
SO_TXTIME = 61
SCM_TXTIME = SO_TXTIME
# <linux/time.h>; time.CLOCK_TAI is the same number where Python has it.
CLOCK_TAI = getattr(time, "CLOCK_TAI", 11)


def parse_args():
    p = argparse.ArgumentParser(
        description="UDP sender with SO_PRIORITY and SO_TXTIME launch times")
    p.add_argument("src", help="source address to bind (eth1.3's address)")
    p.add_argument("dst", help="destination address")
    p.add_argument("port", type=int, help="destination UDP port")
    p.add_argument("txtime_count", type=int,
                   help="datagrams sent with an SCM_TXTIME launch time")
    p.add_argument("plain_count", type=int,
                   help="datagrams sent afterwards without a launch time")
    p.add_argument("--priority", type=int, default=6,
                   help="SO_PRIORITY of both sockets (the guide's 6)")
    p.add_argument("--ahead-ms", type=float, default=20.0,
                   help="launch no earlier than CLOCK_TAI now + this; more "
                        "than etf's delta (the guide's 5 ms), so that etf "
                        "holds each packet until delta before its time")
    p.add_argument("--base-time", type=int, default=1588076872000000000,
                   help="the taprio schedule's base-time, ns")
    p.add_argument("--cycle-us", type=int, default=1000,
                   help="the schedule's cycle time (sum of its intervals)")
    p.add_argument("--window-us", type=int, default=200,
                   help="start of the traffic class's open interval in "
                        "the cycle")
    p.add_argument("--offset-us", type=int, default=20,
                   help="launch time's offset into that interval; small, "
                        "so that the frame also ends inside the interval "
                        "should taprio not know the link speed (it then "
                        "assumes 10 Mb/s)")
    p.add_argument("--gap-ms", type=float, default=2.0,
                   help="pause between datagrams")
    return p.parse_args()


def udp_socket(src, priority):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, priority)
    return s


def launch_time(args, last):
    """The next launch time in the class's window, later than last."""
    cycle = args.cycle_us * 1000
    earliest = time.clock_gettime_ns(CLOCK_TAI) + int(args.ahead_ms * 1e6)
    # Start of the first cycle that begins at or after earliest.
    k = -(-(earliest - args.base_time) // cycle)
    t = args.base_time + k * cycle + (args.window_us + args.offset_us) * 1000
    # etf drops a packet whose launch time is before the last one's.
    while t <= last:
        t += cycle
    return t


def main():
    args = parse_args()
    dst = (args.dst, args.port)
    gap = args.gap_ms / 1000.0

    # struct sock_txtime { __kernel_clockid_t clockid; __u32 flags; }
    # flags 0: no deadline mode (the guide's etf has none) and no error
    # reports on the socket's error queue.
    txs = udp_socket(args.src, args.priority)
    txs.setsockopt(socket.SOL_SOCKET, SO_TXTIME,
                   struct.pack("=iI", CLOCK_TAI, 0))

    sent_txtime = 0
    last = 0
    first_err = None
    for i in range(args.txtime_count):
        last = launch_time(args, last)
        payload = b"kforge-txtime %d %d" % (i, last)
        cmsg = (socket.SOL_SOCKET, SCM_TXTIME, struct.pack("=Q", last))
        try:
            txs.sendmsg([payload], [cmsg], 0, dst)
            sent_txtime += 1
        except OSError as e:
            if first_err is None:
                first_err = e
        time.sleep(gap)
    if first_err is not None:
        print("txtime send error: %s" % first_err)

    plain = udp_socket(args.src, args.priority)
    sent_plain = 0
    first_err = None
    for i in range(args.plain_count):
        try:
            plain.sendto(b"kforge-plain %d" % i, dst)
            sent_plain += 1
        except OSError as e:
            if first_err is None:
                first_err = e
        time.sleep(gap)
    if first_err is not None:
        print("plain send error: %s" % first_err)

    txs.close()
    plain.close()
    print("launch-window: cycle %d us, window at %d us, offset %d us, "
          "at least %g ms ahead, clockid %d, priority %d"
          % (args.cycle_us, args.window_us, args.offset_us, args.ahead_ms,
             CLOCK_TAI, args.priority))
    print("sent-txtime=%d sent-plain=%d" % (sent_txtime, sent_plain))
    return 0 if (sent_txtime == args.txtime_count
                 and sent_plain == args.plain_count) else 1


if __name__ == "__main__":
    sys.exit(main())
