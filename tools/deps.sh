#!/bin/sh
# deps.sh — make sure the Debian packages lrc builds with are installed.
# As root, installs the missing ones with apt-get; otherwise prints the
# exact command to run and fails. Used by the Makefile before building.
set -u
PKGS="llvm-19-dev flex bison libffi-dev check pkg-config"
[ "${LRC_EXTRA_PKGS:-}" ] && PKGS="$PKGS $LRC_EXTRA_PKGS"
missing=""
for p in $PKGS; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "lrc: installing missing packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || { echo "lrc: apt-get install failed for:$missing" >&2; exit 1; }
  exit 0
fi
echo "lrc: missing Debian packages:$missing" >&2
echo "lrc: install them with:  sudo apt-get install -y$missing" >&2
exit 1
