# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the scripts in this folder. Source it; do not run it.

# The packages a build of ipcbus needs (Debian 12 names). libnats-dev and nats-server are
# for ipcbus-bridge and its tests; a build without them simply leaves the bridge out.
# systemd: only for systemd-socket-activate, which the socket-activation test runs.
IPCBUS_BUILD_PACKAGES=(g++ cmake ninja-build ccache pkg-config libgtest-dev libbenchmark-dev
                       nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
                       libtomlplusplus-dev libnats-dev nats-server help2man dpkg-dev
                       systemd)

# ensure_packages PKG...: installs whichever of the Debian packages are missing.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "error: need root (or sudo) to install: ${missing[*]}" >&2
      return 1
    }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" </dev/null
}

# ccache: paths under the checkout count as relative, so a fresh clone (CI) reuses what
# another checkout of the same sources compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"

# configure_and_build PRESET [TARGET...]: configures the CMake preset and builds it.
configure_and_build() {
  local preset=$1
  shift
  cmake --preset "$preset" >/dev/null
  if [ $# -gt 0 ]; then
    cmake --build --preset "$preset" --target "$@"
  else
    cmake --build --preset "$preset"
  fi
}
