#!/bin/sh
# Copy the page's third-party scripts from node_modules/ (installed by `npm ci` from the
# exact versions in package-lock.json) into vendor/, where index.html loads them.
# Run from anywhere: `npm ci --prefix www && sh www/vendor.sh`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src="$here/node_modules"
dst="$here/vendor"

if [ ! -d "$src/marked" ] || [ ! -d "$src/dompurify" ]; then
	echo "vendor.sh: $src has no marked or dompurify; run 'npm ci' in $here first" >&2
	exit 1
fi

# source in node_modules -> name in vendor/ (served as .js so the web server sends a
# JavaScript MIME type, which module scripts require)
copy() {
	if [ ! -f "$src/$1" ]; then
		echo "vendor.sh: missing $src/$1" >&2
		exit 1
	fi
	cp "$src/$1" "$dst/$2"
}

rm -rf "$dst"
mkdir -p "$dst"
copy marked/lib/marked.esm.js marked.esm.js
copy marked/lib/marked.esm.js.map marked.esm.js.map
copy marked/LICENSE LICENSE.marked.txt
copy dompurify/dist/purify.es.mjs purify.es.js
copy dompurify/dist/purify.es.mjs.map purify.es.mjs.map
copy dompurify/LICENSE LICENSE.dompurify.txt
echo "vendor.sh: copied marked and DOMPurify into $dst"
