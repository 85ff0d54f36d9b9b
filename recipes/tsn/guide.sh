#!/bin/bash
# The steps of StarlingX's "Enable TSN in Kata Containers"
# (docs.starlingx.io, developer_resources/stx_tsn_in_kata; source
# doc/source/developer_resources/stx_tsn_in_kata.rst in starlingx/docs),
# run inside the Kata guest. The ethtool, tc taprio/etf, VLAN, ptp4l and
# phc2sys commands are the ones the guide runs in the container for its
# "Case 2"; where the emulated machine needs something else, the comment at
# that command says what and why.
#
# Machine: QEMU (TCG) with two emulated igb NICs (82576) on one QEMU hub, so
# eth0 and eth1 are wired to each other. eth1 plays the guide's I210; eth0
# is moved into the network namespace "peer" and plays the far end (the
# guide's receiver, and the PTP port on the other side of the link).
#
# Console protocol: each step starts with "kforge-step: NAME"; commands are
# echoed as "+ CMD" and followed by "rc=N"; the summary lines (NAME=VALUE
# and the like) are what the recipe's checks match. No step stops the
# script; every wait is bounded.

exec 2>&1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE" || exit 1

# Addresses and paths used by several steps.
IP_SELF=192.168.3.1     # eth1.3, the sender (the guide's container)
IP_PEER=192.168.3.2     # eth0.3 in netns peer, the receiver
UDP_PORT=5006
MASTER_UDS=/run/ptp4l-eth1
SLAVE_UDS=/run/ptp4l-eth0
MASTER_LOG=/tmp/kforge-ptp4l-eth1.log
SLAVE_LOG=/tmp/kforge-ptp4l-eth0.log
SLAVE_CFG=/tmp/kforge-ptp4l-eth0.cfg
MASTER_PID=

step() {
	echo "kforge-step: $1"
}

# run CMD...: echo the command, run it, print its exit status.
run() {
	echo "+ $*"
	"$@"
	local rc=$?
	echo "rc=$rc"
	return $rc
}

# runc CMD...: like run, and keep the command's output in OUT.
runc() {
	echo "+ $*"
	OUT=$("$@" 2>&1)
	local rc=$?
	[ -n "$OUT" ] && printf '%s\n' "$OUT"
	echo "rc=$rc"
	return $rc
}

# wait_up NETNS DEV: wait at most 20 s for carrier (LOWER_UP) on DEV;
# NETNS empty means the root namespace.
wait_up() {
	local ns=$1 dev=$2 i
	echo "+ wait for carrier on $dev${ns:+ (netns $ns)}"
	for i in $(seq 1 40); do
		if ip ${ns:+-n "$ns"} link show "$dev" 2>/dev/null | grep -q LOWER_UP; then
			echo "carrier $dev: up"
			return 0
		fi
		sleep 0.5
	done
	echo "carrier $dev: none after 20 s"
	return 1
}

# start_master: the grandmaster ptp4l on eth1, in the background.
start_master() {
	# --gmCapable=1 --follow_up_info=1: the two values in which the guide's
	# ptp4l-switch.cfg (its grandmaster) differs from the container's
	# ptp4l.cfg; see the "role:" lines of ptp4l.cfg.
	echo "+ timeout 200 ptp4l -i eth1 -f ptp4l.cfg -m --gmCapable=1 --follow_up_info=1 --uds_address=$MASTER_UDS >$MASTER_LOG &"
	timeout 200 ptp4l -i eth1 -f "$HERE/ptp4l.cfg" -m --gmCapable=1 --follow_up_info=1 \
		--uds_address="$MASTER_UDS" >"$MASTER_LOG" 2>&1 &
	MASTER_PID=$!
}

stop_master() {
	if [ -n "$MASTER_PID" ] && kill -0 "$MASTER_PID" 2>/dev/null; then
		echo "+ kill $MASTER_PID (ptp4l master)"
		kill "$MASTER_PID"
		wait "$MASTER_PID"
		echo "rc=$?"
	fi
	MASTER_PID=
}

###########################################################################
step channels
# The guide's NIC is an I210 passed through; here it is QEMU's 82576.
run lspci -nn -D
# The guide gives eth1 four combined channels: one TX queue per traffic
# class of its taprio schedule.
run ethtool -L eth1 combined 4
runc ethtool -l eth1
combined=$(printf '%s\n' "$OUT" | awk '/^Current hardware settings/ {cur = 1} cur && /^Combined:/ {print $2; exit}')
echo "channels-combined=${combined:-unknown}"
# Links up now, so that taprio (next step) reads eth1's real link speed for
# its per-interval byte budgets; the guide's container had them up already.
run ip link set eth1 up
run ip link set eth0 up
wait_up "" eth1
run sh -c "ethtool eth1 | grep -E 'Speed|Link detected'"

###########################################################################
step taprio
# The guide first deletes the existing root qdisc. The default multiqueue
# root has handle 0 and cannot be deleted, so an error here is expected.
run tc qdisc del dev eth1 root
# The guide's command as written: four traffic classes, priority 6 -> TC 1
# and everything else -> TC 3, one queue per class, a 1 ms cycle of eight
# entries opening one class at a time, CLOCK_TAI. No flags: taprio runs in
# software, which is what the emulated 82576 supports.
echo "+ tc -d qdisc replace dev eth1 parent root handle 100 taprio num_tc 4 map 3 3 3 3 3 3 1 3 3 3 3 3 3 3 3 3 queues 1@0 1@1 1@2 1@3 base-time 1588076872000000000 sched-entry S 01 200000 sched-entry S 02 100000 sched-entry S 04 100000 sched-entry S 08 100000 sched-entry S 01 200000 sched-entry S 02 100000 sched-entry S 04 100000 sched-entry S 08 100000 clockid CLOCK_TAI"
tc -d qdisc replace dev eth1 parent root handle 100 taprio num_tc 4 \
	map 3 3 3 3 3 3 1 3 3 3 3 3 3 3 3 3 \
	queues 1@0 1@1 1@2 1@3 \
	base-time 1588076872000000000 \
	sched-entry S 01 200000 \
	sched-entry S 02 100000 \
	sched-entry S 04 100000 \
	sched-entry S 08 100000 \
	sched-entry S 01 200000 \
	sched-entry S 02 100000 \
	sched-entry S 04 100000 \
	sched-entry S 08 100000 \
	clockid CLOCK_TAI
rc=$?
echo "rc=$rc"
[ "$rc" -eq 0 ] && echo "taprio-accepted"
run tc qdisc show dev eth1

###########################################################################
step etf-offload
# The guide's etf on queue 1 (taprio class 100:2 = TX queue 1 = TC 1) with
# offload. Launch-time offload needs an I210; igb refuses it on the 82576.
runc tc qdisc replace dev eth1 parent 100:2 etf clockid CLOCK_TAI delta 5000000 offload
rc=$?
if [ "$rc" -ne 0 ]; then
	msg=$(printf '%s\n' "$OUT" | sed -n '/./{p;q}')
	echo "etf-offload-refused: ${msg:-exit status $rc}"
else
	echo "etf-offload-accepted"
fi

###########################################################################
step etf
# The same etf without offload: etf then orders packets by their launch time
# in software and releases each one delta (5 ms) before its time.
run tc qdisc replace dev eth1 parent 100:2 etf clockid CLOCK_TAI delta 5000000
rc=$?
[ "$rc" -eq 0 ] && echo "etf-accepted"
run tc qdisc show dev eth1

###########################################################################
step vlan
# The guide's VLAN 3 with socket priority 6 mapped to PCP 6 on egress.
run ip link add link eth1 name eth1.3 type vlan id 3
run vconfig set_egress_map eth1.3 6 6
run ifconfig eth1 up
run ip link set eth1.3 up
runc ip -d link show eth1.3
map=$(printf '%s\n' "$OUT" | grep -o 'egress-qos-map { [^}]*}')
echo "$map" | grep -q ' 6:6 ' && echo "egress-qos-map=6:6"
[ -r /proc/net/vlan/eth1.3 ] && run cat /proc/net/vlan/eth1.3

###########################################################################
step traffic
# The far end: eth0 in its own namespace with the same VLAN, so that the
# datagrams leave through eth1.3 -> eth1 -> taprio -> etf and cross the
# QEMU hub to eth0.3.
run ip netns add peer
run ip link set eth0 netns peer
run ip -n peer link set lo up
run ip -n peer link set eth0 up
run ip -n peer link add link eth0 name eth0.3 type vlan id 3
run ip -n peer addr add "$IP_PEER/24" dev eth0.3
run ip -n peer link set eth0.3 up
run ip addr add "$IP_SELF/24" dev eth1.3
wait_up peer eth0
wait_up "" eth1.3
# A static neighbour entry: otherwise the first launch-timed datagrams wait
# in the ARP queue and can reach etf after their launch time.
peer_mac=$(ip -n peer -o link show eth0.3 | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
run ip neigh replace "$IP_PEER" lladdr "$peer_mac" dev eth1.3 nud permanent

# Queue selection: an skb's queue on eth1 comes from its priority through
# the taprio map (priority 6 -> TC 1) and TC 1's queue range (1@1), i.e. TX
# queue 1, whose child is taprio class 100:2 = the etf qdisc. The VLAN
# device keeps the socket's priority, so SO_PRIORITY 6 is all it takes.
# taprio itself drops a packet from an SO_TXTIME socket whose launch time is
# outside an open interval of its class, so send.py puts every launch time
# into TC 1's interval (200-300 us of each 1 ms cycle from the base-time),
# as the guide's sender does with its transmit window.
cat >/tmp/kforge-recv.py <<'EOF'
# Count UDP datagrams for a while; print received=N.
import socket, sys, time
addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
s.settimeout(0.5)
print("receiver-ready", flush=True)
total = txtime = plain = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        continue
    total += 1
    if data.startswith(b"kforge-txtime"):
        txtime += 1
    else:
        plain += 1
print("received=%d" % total)
print("received-txtime=%d received-plain=%d" % (txtime, plain))
EOF
# send_and_count PATH: a receiver in the peer, 50 datagrams with a launch
# time and 10 without, then the counters of every etf qdisc on eth1 (Sent
# and dropped summed over them) and what the receiver got, as
# "PATH: name=value" lines.
send_and_count() {
	local path=$1
	echo "+ timeout 60 ip netns exec peer python3 /tmp/kforge-recv.py $IP_PEER $UDP_PORT 10 >/tmp/kforge-recv.log &"
	timeout 60 ip netns exec peer python3 /tmp/kforge-recv.py "$IP_PEER" "$UDP_PORT" 10 >/tmp/kforge-recv.log 2>&1 &
	local recv_pid=$!
	for i in $(seq 1 60); do
		grep -q '^receiver-ready' /tmp/kforge-recv.log 2>/dev/null && break
		kill -0 "$recv_pid" 2>/dev/null || break
		sleep 0.5
	done
	run timeout 60 python3 "$HERE/send.py" "$IP_SELF" "$IP_PEER" "$UDP_PORT" 50 10
	echo "+ wait $recv_pid (receiver)"
	wait "$recv_pid"
	echo "rc=$?"
	cat /tmp/kforge-recv.log
	run sh -c "ethtool -S eth1 | grep -E '^ +tx_queue_[0-9]+_packets'"
	runc tc -s qdisc show dev eth1
	# Each etf qdisc's counters: " Sent N bytes M pkt (dropped D, ...)".
	{
	printf '%s\n' "$OUT" | awk -v path="$path" '
		/^qdisc etf / {e = 1; next}
		e && /Sent / {
			for (i = 1; i <= NF; i++) { if ($i == "pkt") sent += $(i-1); if ($i == "(dropped") { d = $(i+1); sub(",", "", d); dropped += d } }
			e = 0
		}
		END { printf "%s: etf-sent=%d\n%s: etf-dropped=%d\n", path, sent, path, dropped }'
	sed -n "s/^\(received.*\)/$path: \1/p" /tmp/kforge-recv.log
	taprio_stats=$(printf '%s\n' "$OUT" | awk '/^qdisc taprio / {t = 1; next} t && /Sent / {print; exit}')
	[ -n "$taprio_stats" ] && echo "$path: taprio-dropped=$(printf '%s\n' "$taprio_stats" | sed -n 's/.*(dropped \([0-9]*\),.*/\1/p')"
	} | tee "/tmp/kforge-traffic-$path"
}

# First as the guide has it: taprio at the root, etf on class 100:2.
send_and_count taprio
path=taprio
if ! grep -q '^taprio: etf-sent=[1-9]' /tmp/kforge-traffic-taprio; then
	# Under software emulation taprio's software gates (eight entries per
	# 1 ms cycle: 8000 timer events a second) can stall its dequeue, so
	# that even the other classes' packets stay in its backlog. The
	# datagrams then go through the guide's etf under mq instead, one etf
	# per TX queue, so that whatever queue a datagram takes, etf decides.
	echo "taprio-software-stalled: taprio sent no datagram of class 1 under emulation; sending through the guide's etf under mq instead"
	run tc qdisc replace dev eth1 root handle 200: mq
	for q in 1 2 3 4; do
		run tc qdisc replace dev eth1 parent 200:$q etf clockid CLOCK_TAI delta 5000000
	done
	send_and_count mq
	path=mq
fi
echo "traffic-path=$path"
sed 's/^[a-z]*: //' "/tmp/kforge-traffic-$path"
###########################################################################
step ptp4l
sed -n 's/^# change: /ptp4l-change: /p' ptp4l.cfg
sed -n 's/^# kept: /ptp4l-kept: /p' ptp4l.cfg
sed -n 's/^# role: /ptp4l-role: /p' ptp4l.cfg
# The taprio schedule goes first: it would hold ptp4l's frames (priority 0
# -> TC 3, open 20% of each cycle) and run its gate timer 8000 times a
# second, delay and load that under TCG belong to taprio, not to ptp4l.
# The schedule itself was shown in the steps above.
run tc qdisc del dev eth1 root
run cat ptp4l.cfg
# The slave's copy names its own port; ptp4l opens every port its file
# names, and there is no eth1 in netns peer.
echo "+ sed 's/^\[eth1\]\$/[eth0]/' ptp4l.cfg >$SLAVE_CFG"
sed 's/^\[eth1\]$/[eth0]/' ptp4l.cfg >"$SLAVE_CFG"
start_master
# No -s: ptp4l refuses slaveOnly with gmCapable 0, and gmCapable 0 (the
# guide's value) already keeps this port from becoming grandmaster.
# --summary_interval=-3 only makes it log every sample with its servo state.
echo "+ timeout 60 ip netns exec peer ptp4l -i eth0 -f $SLAVE_CFG -m --uds_address=$SLAVE_UDS --summary_interval=-3 >$SLAVE_LOG &"
timeout 60 ip netns exec peer ptp4l -i eth0 -f "$SLAVE_CFG" -m \
	--uds_address="$SLAVE_UDS" --summary_interval=-3 >"$SLAVE_LOG" 2>&1 &
slave_pid=$!
# Locked (s2): a "master offset ... s2" sample, or the port's move to
# SLAVE on MASTER_CLOCK_SELECTED, which ptp4l makes when its servo locks.
locked='master offset.* s2 |to SLAVE on MASTER_CLOCK_SELECTED'
echo "+ wait (at most 60 s) for the slave's servo to lock (s2)"
for i in $(seq 1 60); do
	grep -qE "$locked" "$SLAVE_LOG" 2>/dev/null && break
	kill -0 "$slave_pid" 2>/dev/null || break
	sleep 1
done
# A few more samples once locked, then stop the slave: in the next step
# phc2sys, not this slave, steers CLOCK_REALTIME.
grep -qE "$locked" "$SLAVE_LOG" 2>/dev/null && sleep 3
if kill -0 "$slave_pid" 2>/dev/null; then
	echo "+ kill $slave_pid (ptp4l slave)"
	kill "$slave_pid"
fi
wait "$slave_pid"
echo "rc=$?"
echo "--- ptp4l slave (eth0, netns peer) ---"
cat "$SLAVE_LOG"
echo "--- ptp4l master (eth1) so far ---"
cat "$MASTER_LOG"
master_lines=$(wc -l <"$MASTER_LOG")
if grep -qE "$locked" "$SLAVE_LOG"; then
	echo "ptp4l-slave-state=s2"
else
	echo "ptp4l-slave-state=$(sed -n 's/.*master offset.* \(s[0-9]\) .*/\1/p' "$SLAVE_LOG" | tail -n1)"
fi

###########################################################################
step phc2sys
# eth1's PTP hardware clock (the igb's PHC) is what phc2sys reads.
runc ethtool -T eth1
phc=$(printf '%s\n' "$OUT" | sed -n -e 's/^PTP Hardware Clock: *\([0-9][0-9]*\).*/\1/p' \
	-e 's/^Hardware timestamp provider index: *\([0-9][0-9]*\).*/\1/p' | head -n1)
[ -n "$phc" ] && echo "phc-index=$phc"
if [ -z "$MASTER_PID" ] || ! kill -0 "$MASTER_PID" 2>/dev/null; then
	echo "ptp4l master is not running; starting it again"
	start_master
	master_lines=0
fi
# The guide's phc2sys command; -z points it at the master's control socket
# (the default /var/run/ptp4l is not used here, see ptp4l.cfg).
runc timeout 20 phc2sys -s eth1 -c CLOCK_REALTIME -w -O 0 -m -z "$MASTER_UDS"
printf '%s\n' "$OUT" | grep -q ' s2 ' && echo "phc2sys-s2"
stop_master
echo "--- ptp4l master (eth1) since the last step ---"
tail -n +"$((master_lines + 1))" "$MASTER_LOG"

###########################################################################
step tdc
# The kernel's own taprio and etf tests (tc-testing of this kernel's source).
# tdc.py loads nsPlugin, which its tests require, from plugin-lib; each test
# gets a fresh namespace with a veth pair and a dummy device, and the taprio
# tests create a netdevsim device there (eth0 inside that namespace). At the
# end nsPlugin deletes all network namespaces, peer included.
TDC_DIR=/kforge/selftests/tc-testing
TDC_WORK=/tmp/kforge-tdc
mkdir -p "$TDC_WORK/plugins"
# tdc runs its commands with the environment ENVIR (empty by default) and
# the tc/ip paths of NAMES; both come from a local config, found through
# PYTHONPATH so that the kernel's directory stays untouched. The empty
# plugin directory keeps tdc from auto-loading anything besides what the
# tests require.
cat >"$TDC_WORK/tdc_config_local.py" <<EOF
ENVIR = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}
EXTRA_NAMES = {'TC': '$(command -v tc)', 'IP': '$(command -v ip)'}
EOF
run cat "$TDC_WORK/tdc_config_local.py"

# tdc_run NAME FILE: run one test file, bounded; the TAP results go to
# $TDC_WORK/NAME.tap. (Tests that need jq, absent from the guide's image,
# carry a "dependsOn" probe and are reported as skipped by tdc itself.)
tdc_run() {
	local file=$2 tap="$TDC_WORK/$1.tap"
	rm -f "$tap"
	if [ ! -f "$TDC_DIR/$file" ]; then
		echo "tdc: $TDC_DIR/$file not found"
		return 1
	fi
	echo "+ cd $TDC_DIR && PYTHONPATH=$TDC_WORK TDC_PLUGIN_DIR=$TDC_WORK/plugins timeout 150 python3 ./tdc.py --outfile $tap -f $file"
	(cd "$TDC_DIR" && PYTHONPATH="$TDC_WORK" TDC_PLUGIN_DIR="$TDC_WORK/plugins" \
		PYTHONDONTWRITEBYTECODE=1 timeout 150 python3 ./tdc.py --outfile "$tap" -f "$file")
	echo "rc=$?"
}

if [ -d "$TDC_DIR" ]; then
	tdc_run taprio tc-tests/qdiscs/taprio.json
	tdc_run etf tc-tests/qdiscs/etf.json
else
	echo "tdc: $TDC_DIR not found"
fi
# Counted from the TAP result lines: "ok N ...", "ok N ... # skipped ...",
# "not ok N ...".
cat "$TDC_WORK"/*.tap 2>/dev/null | awk '
	/^not ok [0-9]/ { fail++; next }
	/^ok [0-9]/ { if (/# skipped/) skip++; else pass++ }
	END { printf "tdc-pass=%d tdc-skip=%d tdc-fail=%d\n", pass, skip, fail }'

stop_master
echo "kforge-steps-done"
