#!/bin/sh
# Installs the Debian packages the build and the tests need, only when some are
# missing. Without root it prints the exact apt-get line and fails.
set -eu
PKGS="build-essential pkg-config libmodbus-dev libcurl4-openssl-dev libcjson-dev libcmocka-dev \
libmicrohttpd-dev libyaml-dev clang libclang-rt-14-dev clang-format cppcheck openssl curl \
gnuplot-nox mbpoll python3-pymodbus kubernetes-client procps iproute2"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# kubectl may come from elsewhere than Debian's kubernetes-client; either will do.
case "$missing" in
*kubernetes-client*)
	if command -v kubectl >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed 's/ kubernetes-client//')
	fi
	;;
esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root: apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
