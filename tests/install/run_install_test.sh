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
