#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs this build into a temporary prefix, then builds the outside consumer
# (tests/install/consumer) against it three ways (CMake + the static library, CMake + the
# shared one, pkg-config + the shared one) and runs a real publish/subscribe between two
# of its processes each time, through the installed ipcbusd.
#   run_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d)
domain="t$$-install"
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

# The installed daemon, in a domain of our own; it says "ready" once it accepts clients.
export IPCBUS_DOMAIN=$domain IPCBUS_NO_AUTOSTART=1
mkfifo "$work/daemon.out"
"$prefix/bin/ipcbusd" --domain "$domain" --log-level warn >"$work/daemon.out" &
daemon_pid=$!
exec 3<"$work/daemon.out"  # kept open: the daemon must never write into a closed pipe
read -r -t 30 ready <&3 && [ "$ready" = ready ] || { echo "the installed ipcbusd did not start" >&2; exit 1; }

# pubsub PROGRAM TOPIC: subscriber first (it prints "ready"), then the publisher.
pubsub() {
  local program=$1 topic=$2 count=1000 line
  coproc SUB { "$program" sub "$topic" "$count"; }
  local sub_pid=$SUB_PID
  # Our own copy of its output: bash drops SUB the moment the subscriber exits.
  exec 4<&"${SUB[0]}"
  read -r -t 30 line <&4 || { echo "$program: the subscriber never got ready" >&2; return 1; }
  [ "$line" = ready ] || { echo "$program: subscriber said '$line'" >&2; return 1; }
  "$program" pub "$topic" "$count" >/dev/null
  read -r -t 30 line <&4 || { echo "$program: no result from the subscriber" >&2; return 1; }
  exec 4<&-
  wait "$sub_pid"
  [ "$line" = "received $count" ] || { echo "$program: subscriber said '$line'" >&2; return 1; }
  echo "$program: $line"
}

for target in ipcbus::ipcbus ipcbus::ipcbus_shared; do
  dir=$work/cmake-${target#ipcbus::}
  cmake -S "$source/tests/install/consumer" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" -DIPCBUS_TARGET="$target" >/dev/null
  cmake --build "$dir" >/dev/null
  if [ "$target" = ipcbus::ipcbus_shared ]; then
    ldd "$dir/consumer" | grep -q "libipcbus.so.0 => $prefix" ||
      { echo "the shared consumer does not load $prefix's libipcbus.so.0" >&2; exit 1; }
  fi
  pubsub "$dir/consumer" "install/${target#ipcbus::}"
done

# No daemon running and none named: the shared library starts the ipcbusd installed beside
# it (PREFIX/bin), not one of the configured prefix or of PATH.
shared=$work/cmake-ipcbus_shared/consumer
autostart_domain="t$$-install-autostart"
(
  unset IPCBUS_DAEMON IPCBUS_NO_AUTOSTART
  export IPCBUS_DOMAIN=$autostart_domain PATH=/usr/bin:/bin
  IPCBUS_DOMAIN=$autostart_domain "$shared" pub install/autostart 1 >/dev/null
)
started=$(pgrep -f -- "ipcbusd --domain $autostart_domain" || true)
[ -n "$started" ] || { echo "no ipcbusd was autostarted for $autostart_domain" >&2; exit 1; }
for pid in $started; do
  exe=$(readlink "/proc/$pid/exe")
  kill "$pid"
  [ "$exe" = "$(realpath "$prefix/bin/ipcbusd")" ] ||
    { echo "the shared library autostarted $exe, not $prefix/bin/ipcbusd" >&2; exit 1; }
done
echo "$shared: autostarted $prefix/bin/ipcbusd"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
c++ -O2 -o "$work/consumer-pc" "$source/tests/install/consumer/consumer.cpp" \
    $(pkg-config --define-prefix --cflags --libs ipcbus) \
    -Wl,-rpath,"$(pkg-config --define-prefix --variable=libdir ipcbus)"
pubsub "$work/consumer-pc" install/pkgconfig
echo "installed package: CMake static, CMake shared and pkg-config consumers all delivered"

# What a deployment needs besides the binaries, at the prefix's real paths.
fail() { echo "$*" >&2; exit 1; }
check_artifacts() {  # check_artifacts ROOT PREFIX: files under ROOT, paths inside naming PREFIX
  local root=$1 at=$2 unit=$1$2/lib/systemd/system/ipcbusd@.service page
  [ -f "$unit" ] || fail "no systemd unit at $unit"
  grep -qx "ExecStart=$at/bin/ipcbusd --domain %i --socket-dir /run/ipcbus" "$unit" ||
    fail "$unit does not run $at/bin/ipcbusd: $(grep ExecStart "$unit")"
  grep -qx "User=ipcbus" "$unit" || fail "$unit does not run as the ipcbus user"
  grep -q "example.invalid" "$unit" && fail "$unit still points to example.invalid"
  grep -qx "ListenSequentialPacket=/run/ipcbus/%i.sock" "${unit%.service}.socket" ||
    fail "no socket-activation unit beside $unit"
  grep -q '^u ipcbus ' "$root$at/lib/sysusers.d/ipcbus.conf" || fail "no sysusers entry for ipcbus"
  for page in ipcbus ipcbusd ipcbus-bridge; do
    grep -q "^\.TH" "$root$at/share/man/man1/$page.1" 2>/dev/null || fail "no man page $page.1"
  done
  for doc in ipcbusd.example.toml DEPLOYING.md LICENSE; do
    [ -f "$root$at/share/doc/ipcbus/$doc" ] || fail "no $doc in share/doc/ipcbus"
  done
  [ -f "$root$at/share/bash-completion/completions/ipcbus" ] || fail "no bash completion"
}
check_artifacts "" "$prefix"

# Bash completion completes commands and each command's options, and knows every option
# the tool has (a new option must be added to it).
completion=$prefix/share/bash-completion/completions/ipcbus
complete_words() {  # complete_words WORD...: what completing the last word offers
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ipcbus
           echo "${COMPREPLY[*]}"' _ "$completion" "$@"
}
[ "$(complete_words ipcbus to)" = topics ] || fail "completing 'ipcbus to' gave '$(complete_words ipcbus to)'"
[ "$(complete_words ipcbus echo --max)" = --max-bytes ] || fail "completing 'ipcbus echo --max' failed"
for command in topics info pub echo hz perf doctor; do
  # The options table of --help: lines that begin with the option's names.
  for option in $("$prefix/bin/ipcbus" "$command" --help |
                  grep -oE '^ +(-[a-z],)?--[a-z-]+' | grep -oE -- '--[a-z-]+' | sort -u); do
    complete_words ipcbus "$command" "$option" | grep -qw -- "$option" ||
      fail "bash completion does not know 'ipcbus $command $option'"
  done
done
echo "systemd unit, sysusers, man pages, docs and bash completion installed at $prefix"

# The Debian package: built by CPack, unpacked (not installed: no root, no dpkg database),
# with the same files under /usr, and a pkg-config consumer built against it.
(cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null) || fail "cpack -G DEB failed"
deb=$(ls "$work"/deb/ipcbus_*_amd64.deb) || fail "no ipcbus_<version>_amd64.deb"
dpkg-deb -x "$deb" "$work/debroot"
dpkg-deb -f "$deb" Depends | grep -q libc6 || fail "$deb declares no dependencies"
dpkg-deb -e "$deb" "$work/debcontrol"
grep -q systemd-sysusers "$work/debcontrol/postinst" || fail "$deb does not create the ipcbus user"
check_artifacts "$work/debroot" /usr
export PKG_CONFIG_PATH="$work/debroot/usr/lib/pkgconfig:$work/debroot/usr/lib/x86_64-linux-gnu/pkgconfig"
c++ -O2 -o "$work/consumer-deb" "$source/tests/install/consumer/consumer.cpp" \
    $(pkg-config --define-prefix --cflags --libs ipcbus) \
    -Wl,-rpath,"$(pkg-config --define-prefix --variable=libdir ipcbus)"
ldd "$work/consumer-deb" | grep -q "libipcbus.so.0 => $work/debroot" ||
  fail "the .deb consumer does not load the package's libipcbus.so.0"
pubsub "$work/consumer-deb" install/deb
echo "$(basename "$deb"): unpacked, complete, and a pkg-config consumer delivered"
