#!/usr/bin/env bash
# Disposable SSH hosts for the provider's integration tests.
#
# A host is a network namespace joined to a per-bed bridge, with its own
# copy-on-write view of / (overlayfs), its own mount/pid/uts/ipc namespaces and
# its own sshd. A bed ("slot") owns 10.231.<slot>.0/24; see README.md.
set -euo pipefail

# Hosts and helpers must never pick up tools from a developer's PATH (pyenv shims, cargo bins).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly HOST_PATH=$PATH

STATE_ROOT=${MKE_TESTBED_ROOT:-/var/tmp/mke-testbed}
STATE_ROOT=${STATE_ROOT%/}
readonly STATE_ROOT
SELF=$(readlink -f "${BASH_SOURCE[0]}")
readonly SELF
readonly SELF_DIR=${SELF%/*}

# Slots 1..127 own 10.231.<slot>.0/24; 10.231.<slot+128>.0/24 is the slot's network behind a bastion.
readonly MAX_SLOT=127
readonly MAX_INDEX=240
readonly INNER_BRIDGE=inner0
readonly SSHD_PIDFILE=/run/mke-testbed-sshd.pid
readonly DELAY_DIR=/usr/local/libexec/mke-testbed
readonly DELAY_STATE=/run/mke-testbed-netdelay
readonly NEEDPW_PASSWORD=needpw-password
readonly READY_TIMEOUT_S=120

die() {
	echo "testbed: $*" >&2
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: testbed.sh <command> ...
  preflight                              check that this machine can run test hosts
  claim <owner-pid>                      reserve a free slot for a process; prints "<slot> <slot-dir>"
  up <slot> <host> <index> [--foreground]
  up-behind <slot> <bastion> <host> <index> [--foreground]
                                         start a host (behind: reachable only via the bastion);
                                         prints "ready <address>"; --foreground stays until the host dies
  down <slot> <host>                     stop one host and remove everything it had
  teardown-slot <slot>                   stop every host of a slot and remove the slot
  gc                                     tear down every slot whose owner process is gone
  exec <slot> <host> -- <cmd...>         run a command inside a host as root
  netem <slot> <host> <delay-ms>         add latency to traffic towards a host (0 removes it)
  link <slot> <host> down|up             cut or restore a host's network link
  rekey <slot> <host>                    give a host new ssh host keys and reload its sshd
  list                                   show slots, owners and hosts
EOF
	exit 2
}

valid_slot() {
	[[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= MAX_SLOT)) || die "slot must be 1..$MAX_SLOT, got '$1'"
}

valid_host() {
	# Kubernetes takes node names from these hostnames, so they must be DNS labels.
	[[ $1 =~ ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ ]] || die "host name must be a lowercase DNS label of at most 32 characters, got '$1'"
}

valid_index() {
	[[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= MAX_INDEX)) || die "host index must be 1..$MAX_INDEX, got '$1'"
}

slot_dir() { echo "$STATE_ROOT/slot-$1"; }
host_dir() { echo "$STATE_ROOT/slot-$1/hosts/$2"; }
bridge_name() { echo "mtb$1"; }
netns_name() { echo "mtb$1-$2"; }
veth_name() { echo "mtb$1h$2"; }
main_prefix() { echo "10.231.$1"; }
inner_prefix() { echo "10.231.$(($1 + 128))"; }

# The 22nd field of /proc/<pid>/stat; with the pid it identifies a process across pid reuse.
proc_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	local -a fields
	read -r -a fields <<<"$stat"
	echo "${fields[19]}"
}

owner_alive() {
	local owner_file
	owner_file="$(slot_dir "$1")/owner"
	[[ -r $owner_file ]] || return 1
	local pid start
	read -r pid start <"$owner_file" || return 1
	[[ -n ${pid:-} && -n ${start:-} ]] || return 1
	[[ $(proc_starttime "$pid" 2>/dev/null) == "$start" ]]
}

require_claimed() {
	[[ -r "$(slot_dir "$1")/owner" ]] || die "slot $1 is not claimed; run 'testbed.sh claim <owner-pid>' first"
}

load_host() {
	local state
	state="$(host_dir "$1" "$2")/state"
	[[ -r $state ]] || die "no host '$2' in slot $1"
	# shellcheck source=/dev/null
	source "$state"
}

host_running() {
	[[ -n ${INIT_PID:-} && $(proc_starttime "$INIT_PID" 2>/dev/null) == "${INIT_START:-}" ]]
}

require_running() {
	host_running || die "host '$HOST' of slot $SLOT is not running (see $(host_dir "$SLOT" "$HOST")/console.log)"
}

# Runs in the root mount namespace but inside the host's network namespace.
in_host_net() {
	nsenter --net="/run/netns/$NETNS" -- "$@"
}

on_veth() {
	if [[ -n $VETH_NETNS ]]; then
		ip -n "$VETH_NETNS" "$@"
	else
		ip "$@"
	fi
}

host_exec() {
	nsenter --target "$INIT_PID" --net --mount --uts --ipc --pid --root --wd -- \
		/usr/bin/env -i PATH="$HOST_PATH" HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb "$@"
}

# Polls until "$@" succeeds; a readiness wait with a deadline, never a fixed pause.
wait_until() {
	local timeout_s=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout_s))
	until "$@"; do
		((SECONDS < deadline)) || {
			echo "testbed: timed out after ${timeout_s}s waiting for $what" >&2
			return 1
		}
		sleep 0.02
	done
}

cmd_preflight() {
	((EUID == 0)) || die "test hosts need root (running as uid $EUID)"
	[[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd is missing (apt-get install openssh-server)"
	[[ -x /usr/bin/sudo ]] || die "/usr/bin/sudo is missing (apt-get install sudo)"
	local tool
	for tool in ip tc nsenter unshare flock mount chroot ssh-keygen openssl mknod setsid; do
		command -v "$tool" >/dev/null || die "'$tool' is missing (apt-get install iproute2 util-linux openssh-client openssl coreutils)"
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || die "the kernel has no overlayfs"
	unshare --net --mount --uts --ipc --pid --fork true 2>/dev/null ||
		die "cannot create namespaces (unshare --net --mount --uts --ipc --pid failed; a container without CAP_SYS_ADMIN?)"
	ip link add "mtbp$$" type bridge 2>/dev/null && ip link del "mtbp$$" ||
		die "cannot create network interfaces (ip link add ... type bridge failed)"
}

# iproute2 makes /run/netns a shared mount the first time it is used; racing `ip netns add`
# calls can stack duplicate mounts, so do it once under the global lock.
prepare_netns_dir() {
	mountpoint -q /run/netns 2>/dev/null && return 0
	ip netns add mtb-prepare
	ip netns del mtb-prepare
}

# br_netfilter (when loaded) sends bridged frames through the root namespace's FORWARD
# chain; a Docker-style DROP policy there would cut hosts off from one another.
forward_rule() {
	local bridge=$1 action=$2
	[[ $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null) == 1 ]] || return 0
	command -v iptables >/dev/null || return 0
	local rule=(FORWARD -i "$bridge" -o "$bridge" -m comment --comment mke-testbed -j ACCEPT)
	case $action in
	add)
		iptables -w -S FORWARD 2>/dev/null | grep -qvx -- '-P FORWARD ACCEPT' || return 0
		iptables -w -C "${rule[@]}" 2>/dev/null || iptables -w -I "${rule[@]}"
		;;
	del)
		while iptables -w -D "${rule[@]}" 2>/dev/null; do :; done
		;;
	esac
}

create_bridge() {
	local slot=$1 bridge
	bridge=$(bridge_name "$slot")
	ip link add "$bridge" type bridge
	echo 1 >"/proc/sys/net/ipv6/conf/$bridge/disable_ipv6" 2>/dev/null || true
	ip addr add "$(main_prefix "$slot").1/24" dev "$bridge"
	ip link set "$bridge" up
	# Without this, the root namespace would send traffic for the bastion-only network to its default gateway.
	ip route add unreachable "$(inner_prefix "$slot").0/24"
	forward_rule "$bridge" add
}

cmd_claim() {
	local owner=${1:-}
	[[ $owner =~ ^[0-9]+$ ]] || die "claim needs the owner's pid"
	local start
	start=$(proc_starttime "$owner") || die "owner pid $owner is not running"
	mkdir -p "$STATE_ROOT"
	chmod 0700 "$STATE_ROOT"
	exec {lock}>"$STATE_ROOT/.lock"
	flock -w 600 "$lock" || die "could not lock $STATE_ROOT/.lock"
	prepare_netns_dir
	collect_garbage
	# Round robin rather than lowest-free: a slot just torn down is not handed out again at
	# once, so a test checking that its bed's names are gone does not see a new bed's.
	local first slot dir attempt
	first=$(cat "$STATE_ROOT/.next-slot" 2>/dev/null || echo 1)
	[[ $first =~ ^[0-9]+$ ]] && ((first >= 1 && first <= MAX_SLOT)) || first=1
	for ((attempt = 0; attempt < MAX_SLOT; attempt++)); do
		slot=$(((first - 1 + attempt) % MAX_SLOT + 1))
		dir=$(slot_dir "$slot")
		[[ -e $dir ]] && continue
		# Leftovers whose slot directory vanished (removed by hand) would collide with the new bed.
		teardown_slot "$slot" >/dev/null
		echo "$((slot % MAX_SLOT + 1))" >"$STATE_ROOT/.next-slot"
		# A half-built slot would otherwise stay claimed for as long as its owner lives.
		trap 'teardown_slot "$slot" >/dev/null 2>&1 || true' EXIT
		mkdir -p "$dir/hosts"
		echo "$owner $start" >"$dir/owner"
		ssh-keygen -q -t ed25519 -N '' -C "mke-testbed-slot-$slot" -f "$dir/client_key"
		# tmpfs: a lower layer inside the root fs would overlap lowerdir=/, which overlayfs refuses.
		mkdir "$dir/template"
		mount -t tmpfs -o size=16m,mode=0755 mke-testbed-template "$dir/template"
		build_template "$dir/template" "$dir/client_key.pub" "$(openssl passwd -6 "$NEEDPW_PASSWORD")"
		create_bridge "$slot"
		trap - EXIT
		echo "$slot $dir"
		return 0
	done
	die "all $MAX_SLOT slots are in use (run 'testbed.sh list')"
}

# Replaces lower-layer entries of a directory with whiteouts so the host sees it empty.
hide_lower_entries() {
	local upper=${1:?} lower=${2:?}
	shift 2
	[[ $upper == "$STATE_ROOT"/slot-*/template/* ]] || die "refusing to hide entries in '$upper'"
	local entry name keep
	[[ -d $lower ]] || return 0
	for entry in "$lower"/* "$lower"/.[!.]* "$lower"/..?*; do
		[[ -e $entry || -L $entry ]] || continue
		name=${entry##*/}
		for keep in "$@"; do
			[[ $name == "$keep" ]] && continue 2
		done
		mknod "$upper/$name" c 0 0
	done
}

# A home's .bashrc and .profile as a freshly installed Debian host has them: root's from
# base-files (`install_fresh_dotfiles <home> 0 0 /usr/share/base-files/dot.`), a user's
# from /etc/skel (`... /etc/skel/.`). Where the distribution has none, a plain file
# that sources nothing.
install_fresh_dotfiles() {
	local home=${1:?} uid=${2:?} gid=${3:?} source_prefix=${4:?}
	[[ $home == "$STATE_ROOT"/slot-*/template/* ]] || die "refusing to write dotfiles into '$home'"
	local name
	for name in bashrc profile; do
		if [[ -f $source_prefix$name ]]; then
			install -m 0644 -o "$uid" -g "$gid" "$source_prefix$name" "$home/.$name"
		else
			printf '# ~/.%s of an mke test-bed host\n' "$name" >"$home/.$name"
			chown "$uid:$gid" "$home/.$name"
			chmod 0644 "$home/.$name"
		fi
	done
}

free_id() {
	local db=$1 id=$2
	while grep -q "^[^:]*:[^:]*:$id:" "$db"; do
		id=$((id + 1))
	done
	echo "$id"
}

# What all hosts of a slot share on top of the real root: accounts, sudoers, sshd config,
# whiteouts over the developer's dotfiles. A read-only overlay layer built once per slot,
# so starting a host writes only a handful of files (deleting files is slow on a
# discard-mounted disk) and runs no useradd.
build_template() {
	local template=${1:?} client_pub=${2:?} needpw_hash=${3:?}
	[[ $template == "$STATE_ROOT"/slot-*/template ]] || die "refusing to build a template at '$template'"
	install -d -m 0755 "$template/etc" "$template/etc/ssh" "$template/etc/sudoers.d" "$template$DELAY_DIR"
	local deploy_uid needpw_uid deploy_gid needpw_gid
	deploy_uid=$(free_id /etc/passwd 2001)
	needpw_uid=$(free_id /etc/passwd $((deploy_uid + 1)))
	deploy_gid=$(free_id /etc/group 2001)
	needpw_gid=$(free_id /etc/group $((deploy_gid + 1)))
	local file
	for file in passwd shadow group gshadow; do
		grep -Ev '^(deploy|needpw):' "/etc/$file" >"$template/etc/$file" || true
		chmod --reference="/etc/$file" "$template/etc/$file"
		chown --reference="/etc/$file" "$template/etc/$file"
	done
	printf '%s\n' \
		"deploy:x:$deploy_uid:$deploy_gid:deploy with passwordless sudo:/home/deploy:/bin/bash" \
		"needpw:x:$needpw_uid:$needpw_gid:needpw whose sudo asks for a password:/home/needpw:/bin/bash" \
		>>"$template/etc/passwd"
	# "*" rather than "!": sshd refuses key logins to accounts whose password is locked with "!".
	printf '%s\n' "deploy:*:19700:0:99999:7:::" "needpw:$needpw_hash:19700:0:99999:7:::" >>"$template/etc/shadow"
	printf '%s\n' "deploy:x:$deploy_gid:" "needpw:x:$needpw_gid:" >>"$template/etc/group"
	printf '%s\n' "deploy:!::" "needpw:!::" >>"$template/etc/gshadow"
	printf '%s\n' "deploy ALL=(ALL:ALL) NOPASSWD: ALL" "needpw ALL=(ALL:ALL) ALL" >"$template/etc/sudoers.d/mke-testbed"
	chmod 0440 "$template/etc/sudoers.d/mke-testbed"

	# Hosts start with a fresh host's /root and /home, not the developer's dotfiles: a
	# developer's .bashrc (pyenv, cargo) would cost CPU in every SSH command run through bash.
	install -d -m 0755 "$template/home"
	hide_lower_entries "$template/home" /home
	install -d -m 0700 "$template/root"
	hide_lower_entries "$template/root" /root .ssh .bashrc .profile
	install_fresh_dotfiles "$template/root" 0 0 /usr/share/base-files/dot.
	install -d -m 0700 "$template/root/.ssh"
	hide_lower_entries "$template/root/.ssh" /root/.ssh authorized_keys
	install -m 0600 "$client_pub" "$template/root/.ssh/authorized_keys"
	local user uid gid
	for user in deploy:"$deploy_uid":"$deploy_gid" needpw:"$needpw_uid":"$needpw_gid"; do
		IFS=: read -r user uid gid <<<"$user"
		install -d -m 0750 -o "$uid" -g "$gid" "$template/home/$user"
		install_fresh_dotfiles "$template/home/$user" "$uid" "$gid" /etc/skel/.
		install -d -m 0700 -o "$uid" -g "$gid" "$template/home/$user/.ssh"
		install -m 0600 -o "$uid" -g "$gid" "$client_pub" "$template/home/$user/.ssh/authorized_keys"
	done

	local key
	for key in /etc/ssh/ssh_host_*; do
		[[ -e $key ]] || continue
		case ${key##*/} in
		ssh_host_ed25519_key | ssh_host_ed25519_key.pub | ssh_host_rsa_key | ssh_host_rsa_key.pub) ;;
		*) mknod "$template/etc/ssh/${key##*/}" c 0 0 ;;
		esac
	done
	printf '%s\n' \
		"# sshd of an mke test-bed host" \
		"Port 22" \
		"HostKey /etc/ssh/ssh_host_ed25519_key" \
		"HostKey /etc/ssh/ssh_host_rsa_key" \
		"PidFile $SSHD_PIDFILE" \
		"PermitRootLogin prohibit-password" \
		"PubkeyAuthentication yes" \
		"AuthorizedKeysFile .ssh/authorized_keys" \
		"PasswordAuthentication no" \
		"KbdInteractiveAuthentication no" \
		"UsePAM no" \
		"StrictModes yes" \
		"AllowTcpForwarding yes" \
		"X11Forwarding no" \
		"PrintMotd no" \
		"PrintLastLog no" \
		"UseDNS no" \
		"LogLevel INFO" \
		"MaxStartups 200:30:400" \
		"MaxSessions 100" \
		"Subsystem sftp internal-sftp" \
		>"$template/etc/ssh/sshd_config"
	install -m 0755 "$SELF_DIR/netdelay.py" "$template$DELAY_DIR/netdelay.py"
}

provision_host() {
	local upper=${1:?} host=${2:?} address=${3:?}
	[[ $upper == "$STATE_ROOT"/slot-*/hosts/*/upper ]] || die "refusing to provision '$upper'"
	mkdir -p "$upper/etc/ssh"
	printf '%s\n' "$host" >"$upper/etc/hostname"
	printf '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$address" "$host" >"$upper/etc/hosts"
	# Every host shares the real /etc via the lower layer; machine IDs must still differ per node.
	local machine_id
	machine_id=$(od -An -tx1 -N16 /dev/urandom)
	machine_id=${machine_id//[[:space:]]/}
	printf '%s\n' "$machine_id" >"$upper/etc/machine-id"
	if [[ -e /var/lib/dbus/machine-id ]]; then
		mkdir -p "$upper/var/lib/dbus"
		printf '%s\n' "$machine_id" >"$upper/var/lib/dbus/machine-id"
	fi
}

generate_host_keys() {
	local etc_ssh=${1:?} host=${2:?}
	[[ $etc_ssh == "$STATE_ROOT"/slot-*/hosts/*/upper/etc/ssh || $etc_ssh =~ ^/proc/[0-9]+/root/etc/ssh$ ]] ||
		die "refusing to write host keys into '$etc_ssh'"
	rm -f "$etc_ssh"/ssh_host_ed25519_key{,.pub} "$etc_ssh"/ssh_host_rsa_key{,.pub}
	ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$etc_ssh/ssh_host_ed25519_key"
	# 2048 bits: fast enough to keep 50-host beds quick, still accepted by current OpenSSH.
	ssh-keygen -q -t rsa -b 2048 -N '' -C "root@$host" -f "$etc_ssh/ssh_host_rsa_key"
}

write_state() {
	local file=$1
	shift
	printf '%s\n' "$@" >"$file.tmp"
	mv "$file.tmp" "$file"
}

# Entry point inside the new namespaces (pid 1 of the host until it execs the init loop).
cmd_init() {
	local slot=$1 host=$2
	local dir merged
	dir=$(host_dir "$slot" "$host")
	merged=$dir/merged
	echo -n "$host" >/proc/sys/kernel/hostname
	mount -t overlay overlay -o "lowerdir=$(slot_dir "$slot")/template:/,upperdir=$dir/upper,workdir=$dir/work" "$merged"
	# Other hosts' upper layers live under STATE_ROOT on the lower layer: hide them all.
	if [[ -d $merged$STATE_ROOT ]]; then
		mount -t tmpfs -o ro,mode=0755,size=4k mke-testbed-hidden "$merged$STATE_ROOT"
	fi
	mount -t proc -o nosuid,nodev,noexec proc "$merged/proc"
	mount -t sysfs -o nosuid,nodev,noexec sysfs "$merged/sys"
	mount --rbind /dev "$merged/dev"
	mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$merged/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$merged/dev/pts"
	mount --bind "$merged/dev/pts/ptmx" "$merged/dev/ptmx"
	mount -t tmpfs -o nosuid,nodev,mode=0755 run "$merged/run"
	mount -t tmpfs -o nosuid,nodev,mode=1777 tmp "$merged/tmp"
	# bash as pid 1 reaps orphans (sessions' background jobs) while it waits for sshd;
	# the loop brings sshd back if a test kills it.
	local init_loop='cd /
mkdir -p -m 0755 /run/sshd
while :; do
	/usr/sbin/sshd -D -e
	sleep 0.5
done'
	cd "$merged"
	exec chroot "$merged" /usr/bin/env -i PATH="$HOST_PATH" HOME=/root LANG=C.UTF-8 \
		/bin/bash -c "$init_loop" "mke-testbed-init:$(netns_name "$slot" "$host")"
}

start_host() {
	local slot=$1 host=$2 address=$3 foreground=$4
	local dir
	dir=$(host_dir "$slot" "$host")
	nsenter --net="/run/netns/$NETNS" -- \
		unshare --mount --uts --ipc --pid --fork --propagation private -- "$SELF" __init "$slot" "$host" \
		</dev/null >>"$dir/console.log" 2>&1 &
	local holder=$! init=
	read_init_pid() {
		kill -0 "$holder" 2>/dev/null || return 0
		init=$(cat "/proc/$holder/task/$holder/children" 2>/dev/null) || return 1
		init=${init%% *}
		[[ -n $init ]]
	}
	sshd_listening() {
		kill -0 "$holder" 2>/dev/null || return 0
		[[ -s /proc/$init/root$SSHD_PIDFILE ]]
	}
	wait_until "$READY_TIMEOUT_S" "host $host to start" read_init_pid &&
		wait_until "$READY_TIMEOUT_S" "sshd on $host" sshd_listening || true
	if ! kill -0 "$holder" 2>/dev/null || [[ -z $init || ! -s /proc/$init/root$SSHD_PIDFILE ]]; then
		kill -KILL "$init" "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
		echo "testbed: host $host failed to start; its console:" >&2
		tail -n 20 "$dir/console.log" >&2 || true
		exit 1
	fi
	write_state "$dir/state" "SLOT=$slot" "HOST=$host" "NETNS=$NETNS" "VETH=$VETH" "VETH_NETNS=$VETH_NETNS" \
		"ADDRESS=$address" "HOLDER_PID=$holder" "INIT_PID=$init" "INIT_START=$(proc_starttime "$init")"
	trap - EXIT
	echo "ready $address"
	if [[ $foreground == yes ]]; then
		# The caller keeps this process as the host's parent-of-record, so the host's
		# processes are reaped even where pid 1 does not reap orphans.
		exec >/dev/null 2>&1
		wait "$holder" || true
	fi
}

prepare_host_dirs() {
	local slot=$1 host=$2 address=$3
	local dir upper
	dir=$(host_dir "$slot" "$host")
	[[ -e $dir ]] && die "host '$host' already exists in slot $slot"
	[[ -e /run/netns/$NETNS ]] && die "network namespace $NETNS already exists"
	# Until the host is ready, failing anywhere removes whatever of it exists.
	# shellcheck disable=SC2064 # slot and host are expanded now on purpose
	trap "cmd_down $slot $host >/dev/null 2>&1 || true" EXIT
	upper=$dir/upper
	mkdir -p "$upper" "$dir/work" "$dir/merged"
	write_state "$dir/state" "SLOT=$slot" "HOST=$host" "NETNS=$NETNS" "VETH=$VETH" "VETH_NETNS=$VETH_NETNS" "ADDRESS=$address"
	provision_host "$upper" "$host" "$address"
}

configure_host_net() {
	local address=$1
	ip -n "$NETNS" addr add "$address/24" dev eth0
	ip -n "$NETNS" link set eth0 up
	ip -n "$NETNS" link set lo up
}

cmd_up() {
	(($# >= 3)) || usage
	local slot=$1 host=$2 index=$3 foreground=no
	[[ ${4:-} == --foreground ]] && foreground=yes
	valid_slot "$slot"
	valid_host "$host"
	valid_index "$index"
	require_claimed "$slot"
	NETNS=$(netns_name "$slot" "$host")
	VETH=$(veth_name "$slot" "$index")
	VETH_NETNS=
	local address
	address="$(main_prefix "$slot").$((10 + 10#$index))"
	local dir
	dir=$(host_dir "$slot" "$host")
	prepare_host_dirs "$slot" "$host" "$address"
	generate_host_keys "$dir/upper/etc/ssh" "$host" &
	local keygen=$!
	ip netns add "$NETNS"
	ip link add "$VETH" type veth peer name eth0 netns "$NETNS"
	ip link set "$VETH" master "$(bridge_name "$slot")" up
	configure_host_net "$address"
	wait "$keygen" || die "host key generation for $host failed"
	start_host "$slot" "$host" "$address" "$foreground"
}

ensure_inner_bridge() {
	local slot=$1 bastion_ns=$2
	exec {slot_lock}>"$(slot_dir "$slot")/lock"
	flock -w 60 "$slot_lock" || die "could not lock slot $slot"
	if ! ip -n "$bastion_ns" link show "$INNER_BRIDGE" >/dev/null 2>&1; then
		ip -n "$bastion_ns" link add "$INNER_BRIDGE" type bridge
		ip -n "$bastion_ns" addr add "$(inner_prefix "$slot").1/24" dev "$INNER_BRIDGE"
		ip -n "$bastion_ns" link set "$INNER_BRIDGE" up
	fi
	exec {slot_lock}>&-
}

cmd_up_behind() {
	(($# >= 4)) || usage
	local slot=$1 bastion=$2 host=$3 index=$4 foreground=no
	[[ ${5:-} == --foreground ]] && foreground=yes
	valid_slot "$slot"
	valid_host "$bastion"
	valid_host "$host"
	valid_index "$index"
	require_claimed "$slot"
	local bastion_ns
	(
		load_host "$slot" "$bastion"
		[[ -z $VETH_NETNS ]] || die "bastion '$bastion' is itself behind another bastion"
		require_running
	)
	bastion_ns=$(netns_name "$slot" "$bastion")
	NETNS=$(netns_name "$slot" "$host")
	VETH=$(veth_name "$slot" "$index")
	VETH_NETNS=$bastion_ns
	local address
	address="$(inner_prefix "$slot").$((10 + 10#$index))"
	local dir
	dir=$(host_dir "$slot" "$host")
	prepare_host_dirs "$slot" "$host" "$address"
	generate_host_keys "$dir/upper/etc/ssh" "$host" &
	local keygen=$!
	ensure_inner_bridge "$slot" "$bastion_ns"
	ip netns add "$NETNS"
	ip -n "$bastion_ns" link add "$VETH" type veth peer name eth0 netns "$NETNS"
	ip -n "$bastion_ns" link set "$VETH" master "$INNER_BRIDGE" up
	configure_host_net "$address"
	wait "$keygen" || die "host key generation for $host failed"
	start_host "$slot" "$host" "$address" "$foreground"
}

# Prints the pids whose network namespace is the given one (zombies excluded).
netns_pids() {
	ip netns pids "$1" 2>/dev/null || true
}

# Kills the pid-namespace init of every listed network namespace first: the kernel then
# kills the rest of that pid namespace and the init's parent can reap it normally.
kill_namespaces() {
	local ns pid key nspid_line
	local -a all=() nspid
	for ns in "$@"; do
		for pid in $(netns_pids "$ns"); do
			all+=("$pid")
			while read -r key nspid_line; do
				[[ $key == NSpid: ]] || continue
				read -r -a nspid <<<"$nspid_line"
				if [[ ${nspid[-1]} == 1 ]]; then
					kill -KILL "$pid" 2>/dev/null || true
				fi
				break
			done 2>/dev/null <"/proc/$pid/status" || true
		done
	done
	((${#all[@]} > 0)) || return 0
	no_pids_in() {
		local ns
		for ns in "$@"; do
			[[ -z $(netns_pids "$ns") ]] || return 1
		done
	}
	wait_until 10 "the hosts' processes to exit" no_pids_in "$@" 2>/dev/null && return 0
	for ns in "$@"; do
		for pid in $(netns_pids "$ns"); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	wait_until 20 "the hosts' processes to exit after SIGKILL" no_pids_in "$@"
}

slot_netns_list() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^mtb$1-" || true
}

remove_dir() {
	local dir=$1
	[[ -e $dir ]] || return 0
	# Renaming first makes the removal atomic for anyone scanning for free slots.
	local trash
	trash="$STATE_ROOT/.trash-${dir##*/}-$$-$RANDOM"
	mv "$dir" "$trash"
	rm -rf --one-file-system "$trash"
}

teardown_slot() {
	local slot=$1
	local -a namespaces
	mapfile -t namespaces < <(slot_netns_list "$slot")
	if ((${#namespaces[@]} > 0)); then
		kill_namespaces "${namespaces[@]}"
	fi
	local link
	for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^mtb${slot}h[0-9]+$" || true); do
		ip link del "$link" 2>/dev/null || true
	done
	local ns
	for ns in "${namespaces[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	local bridge
	bridge=$(bridge_name "$slot")
	forward_rule "$bridge" del
	ip link del "$bridge" 2>/dev/null || true
	ip route del unreachable "$(inner_prefix "$slot").0/24" 2>/dev/null || true
	local template
	template="$(slot_dir "$slot")/template"
	if mountpoint -q "$template" 2>/dev/null; then
		umount "$template" 2>/dev/null || umount --lazy "$template"
	fi
	remove_dir "$(slot_dir "$slot")"
	local left
	left=$(slot_netns_list "$slot")
	[[ -z $left ]] || die "slot $slot still has network namespaces: $left"
	echo "slot $slot torn down"
}

cmd_teardown_slot() {
	(($# == 1)) || usage
	valid_slot "$1"
	teardown_slot "$1"
}

collect_garbage() {
	local dir slot
	local -A seen=()
	for dir in "$STATE_ROOT"/slot-*; do
		[[ -d $dir ]] || continue
		slot=${dir##*/slot-}
		seen[$slot]=1
		owner_alive "$slot" || teardown_slot "$slot" >&2
	done
	# Namespaces and bridges whose slot directory is gone have no owner at all.
	for slot in $( (ip netns list 2>/dev/null | awk '{print $1}'; ip -o link show 2>/dev/null | awk -F': ' '{print $2}') |
		sed -nE 's/^mtb([0-9]+)([-h].*)?(@.*)?$/\1/p' | sort -un); do
		[[ -n ${seen[$slot]:-} ]] && continue
		((slot >= 1 && slot <= MAX_SLOT)) || continue
		teardown_slot "$slot" >&2
	done
	rm -rf --one-file-system "$STATE_ROOT"/.trash-* 2>/dev/null || true
}

cmd_gc() {
	[[ -d $STATE_ROOT ]] || mkdir -p "$STATE_ROOT"
	exec {lock}>"$STATE_ROOT/.lock"
	flock -w 600 "$lock" || die "could not lock $STATE_ROOT/.lock"
	collect_garbage
}

cmd_down() {
	(($# == 2)) || usage
	local slot=$1 host=$2
	valid_slot "$slot"
	valid_host "$host"
	local dir
	dir=$(host_dir "$slot" "$host")
	local ns
	ns=$(netns_name "$slot" "$host")
	if [[ -r $dir/state ]]; then
		load_host "$slot" "$host"
	fi
	kill_namespaces "$ns"
	if [[ -n ${VETH:-} ]]; then
		on_veth link del "$VETH" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	remove_dir "$dir"
}

cmd_exec() {
	(($# >= 4)) && [[ $3 == -- ]] || usage
	local slot=$1 host=$2
	shift 3
	valid_slot "$slot"
	valid_host "$host"
	load_host "$slot" "$host"
	require_running
	host_exec "$@"
}

stop_delayer() {
	while in_host_net iptables -w -D INPUT ! -i lo -m comment --comment mke-testbed-delay -j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null; do :; done
	host_exec sh -c "if [ -s $DELAY_STATE.pid ]; then kill \$(cat $DELAY_STATE.pid) 2>/dev/null; rm -f $DELAY_STATE.pid $DELAY_STATE.out; fi"
}

# Kernels without sch_netem: hold incoming packets in an NFQUEUE served by netdelay.py
# inside the host (so the host's own init reaps it).
start_delayer() {
	local ms=$1
	command -v iptables >/dev/null || die "this kernel has no sch_netem and iptables is missing for the NFQUEUE fallback (apt-get install iptables)"
	[[ -x /usr/bin/python3 ]] || die "this kernel has no sch_netem and /usr/bin/python3 is missing for the NFQUEUE fallback"
	host_exec sh -c "setsid /usr/bin/python3 $DELAY_DIR/netdelay.py 0 $ms </dev/null >$DELAY_STATE.out 2>&1 & echo \$! >$DELAY_STATE.pid"
	delayer_ready() {
		grep -qx ready "/proc/$INIT_PID/root$DELAY_STATE.out" 2>/dev/null && return 0
		host_exec sh -c "kill -0 \$(cat $DELAY_STATE.pid)" 2>/dev/null || {
			cat "/proc/$INIT_PID/root$DELAY_STATE.out" >&2 2>/dev/null || true
			die "the packet delayer in $HOST exited"
		}
		return 1
	}
	wait_until 30 "the packet delayer in $HOST" delayer_ready
	in_host_net iptables -w -I INPUT ! -i lo -m comment --comment mke-testbed-delay -j NFQUEUE --queue-num 0 --queue-bypass
}

cmd_netem() {
	(($# == 3)) || usage
	local slot=$1 host=$2 ms=$3
	valid_slot "$slot"
	[[ $ms =~ ^[0-9]+$ ]] || die "delay must be whole milliseconds, got '$ms'"
	load_host "$slot" "$host"
	require_running
	on_veth link show "$VETH" >/dev/null 2>&1 || die "interface $VETH of $host is gone"
	if [[ $(cat "$(host_dir "$slot" "$host")/delay-mode" 2>/dev/null) == nfqueue ]]; then
		stop_delayer
	fi
	if [[ -n $VETH_NETNS ]]; then
		tc -n "$VETH_NETNS" qdisc del dev "$VETH" root 2>/dev/null || true
	else
		tc qdisc del dev "$VETH" root 2>/dev/null || true
	fi
	rm -f "$(host_dir "$slot" "$host")/delay-mode"
	((10#$ms > 0)) || return 0
	local -a tc_cmd=(tc)
	[[ -n $VETH_NETNS ]] && tc_cmd+=(-n "$VETH_NETNS")
	if "${tc_cmd[@]}" qdisc replace dev "$VETH" root netem delay "$((10#$ms))ms" 2>/dev/null; then
		echo netem >"$(host_dir "$slot" "$host")/delay-mode"
	else
		start_delayer "$((10#$ms))"
		echo nfqueue >"$(host_dir "$slot" "$host")/delay-mode"
	fi
}

cmd_link() {
	(($# == 3)) || usage
	local slot=$1 host=$2 state=$3
	valid_slot "$slot"
	[[ $state == up || $state == down ]] || die "link state must be 'up' or 'down', got '$state'"
	load_host "$slot" "$host"
	on_veth link set "$VETH" "$state"
	[[ $state == up ]] || return 0
	# Neighbours that probed the host while it was cut off hold FAILED entries and would
	# answer "no route to host" for a while; make them resolve it afresh.
	ip neigh flush to "$ADDRESS" 2>/dev/null || true
	local ns
	for ns in $(slot_netns_list "$slot"); do
		ip -n "$ns" neigh flush to "$ADDRESS" 2>/dev/null || true
	done
}

cmd_rekey() {
	(($# == 2)) || usage
	local slot=$1 host=$2
	valid_slot "$slot"
	load_host "$slot" "$host"
	require_running
	local root=/proc/$INIT_PID/root
	generate_host_keys "$root/etc/ssh" "$host"
	# sshd re-executes itself on SIGHUP, loading the new keys, and rewrites its pid file
	# once it listens again; removing the file first makes that the readiness signal.
	host_exec sh -c "pid=\$(cat $SSHD_PIDFILE) && rm -f $SSHD_PIDFILE && kill -HUP \$pid"
	sshd_back() { [[ -s $root$SSHD_PIDFILE ]]; }
	wait_until 30 "sshd on $host to reload" sshd_back
}

cmd_list() {
	local dir slot owner host
	for dir in "$STATE_ROOT"/slot-*; do
		[[ -d $dir ]] || continue
		slot=${dir##*/slot-}
		owner=$(cat "$dir/owner" 2>/dev/null || echo '?')
		if owner_alive "$slot"; then owner="$owner (alive)"; else owner="$owner (dead)"; fi
		echo "slot $slot owner $owner"
		for host in "$dir"/hosts/*; do
			[[ -r $host/state ]] || continue
			(
				# shellcheck source=/dev/null
				source "$host/state"
				state=stopped
				host_running && state=running
				echo "  $HOST $ADDRESS $state"
			)
		done
	done
}

main() {
	(($# >= 1)) || usage
	local command=$1
	shift
	case $command in
	preflight) cmd_preflight ;;
	claim) cmd_claim "$@" ;;
	up) cmd_up "$@" ;;
	up-behind) cmd_up_behind "$@" ;;
	down) cmd_down "$@" ;;
	teardown-slot) cmd_teardown_slot "$@" ;;
	gc) cmd_gc ;;
	exec) cmd_exec "$@" ;;
	netem) cmd_netem "$@" ;;
	link) cmd_link "$@" ;;
	rekey) cmd_rekey "$@" ;;
	list) cmd_list ;;
	__init) cmd_init "$@" ;;
	*) usage ;;
	esac
}

main "$@"
