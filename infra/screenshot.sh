#!/usr/bin/env bash
# screenshot.sh HTML [PNG] — renders a mail's HTML part (default out/issue.html)
# to a PNG (default out/issue.png) with headless Chromium from Debian's
# `chromium` package, installing it when missing, so a person can look at
# what `gazette preview` produced without a mail client.
set -euo pipefail

html=${1:-out/issue.html}
png=${2:-out/issue.png}

if [[ ! -f $html ]]; then
	echo "screenshot.sh: $html not found (run: go run ./cmd/gazette preview --out out FILES...)" >&2
	exit 1
fi

if ! command -v chromium >/dev/null 2>&1; then
	echo "screenshot.sh: installing Debian's chromium package" >&2
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"

# Everything that would reach the network is off: the page is a local file,
# and a screenshot must not depend on (or wait for) Google's services.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$profile" \
	--screenshot="$(realpath -m "$png")" --window-size=800,2000 \
	"file://$(realpath "$html")" 2>/dev/null

echo "wrote $png"
