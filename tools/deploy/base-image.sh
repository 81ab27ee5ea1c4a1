#!/usr/bin/env bash
# A local stand-in for the Dockerfile's base image (node:20-bookworm-slim), for hosts that
# reach no image registry (air-gapped, or CI here): Debian bookworm from debootstrap's
# minbase variant, plus this host's Node 20 and npm, npm's global config and the CA file it
# names (so `npm ci` inside `docker build` trusts the same registry certificates as the host),
# and a `node` user with uid/gid 1000 as in the official image. Then `docker import`.
#
#   tools/deploy/base-image.sh [TAG]        # default btoverlay/node:20-bookworm-slim
#   docker build --network host --build-arg NODE_IMAGE=TAG .
#
# Idempotent: an image already tagged TAG is kept (delete it to rebuild). Needs root,
# debootstrap, a Debian mirror (BASE_IMAGE_MIRROR, default: the host's first apt source)
# and a running Docker engine. Prints the tag on stdout.
set -euo pipefail

tag="${1:-btoverlay/node:20-bookworm-slim}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
for tool in debootstrap node npm docker; do
  command -v "$tool" >/dev/null || { echo "base-image: $tool is needed" >&2; exit 2; }
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != 20 ]; then
  echo "base-image: this host's node is $(node --version); the image needs Node 20" >&2
  exit 2
fi

mirror="${BASE_IMAGE_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { print $2; exit }')"
fi
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d "${TMPDIR:-/tmp}/btoverlay-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "base-image: debootstrap --variant=minbase bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}

# Node: the binary, npm (and corepack) from the host's global node_modules, their links.
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(npm root -g)/npm"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# npm's global config, and the CA file it names, at the same paths.
globalconfig="$(npm config get globalconfig)"
if [ -f "$globalconfig" ]; then
  install -D -m 0644 "$globalconfig" "$root/usr/local/etc/npmrc"
fi
cafile="$(npm config get cafile)"
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  install -D -m 0644 "$cafile" "$root$cafile"
fi

# The official image's user: node, uid/gid 1000, home /home/node.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# Slim: no apt lists, caches, docs or man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$(node -p 'process.versions.node')" \
  --change 'CMD ["node"]' \
  --message "btoverlay stand-in for node:20-bookworm-slim (debootstrap minbase + host Node)" \
  - "$tag" >/dev/null
echo "$tag"
