#!/usr/bin/env bash
# Builds the Fabric v2.5 binaries a native veilsum network needs — peer, orderer, configtxgen,
# cryptogen, osnadmin, and the chaincode-as-a-service builder (detect, build, release) — from a
# Fabric source tarball, into a cache keyed by the tarball's SHA-256 and kept outside the clone:
#
#   ${VEILSUM_CACHE:-~/.cache/veilsum}/fabric/<sha256>/{bin,ccaas/bin,sampleconfig,go}
#
# The Go build and module caches live there too, so a second run (and CI's fresh clones) take
# seconds. Fabric itself builds offline from its vendor/ folder; ccaas_builder is its own Go module
# with two small dependencies, fetched through the Go module proxy (GOPROXY as configured).
#
# FABRIC_SOURCE: the source tarball (default ../shared/third_party/fabric-2.5.16-src.tar.gz beside
# the clone). Prints the cache folder as its last line. Exit 3 when no source can be found.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
default_source="$repo/../shared/third_party/fabric-2.5.16-src.tar.gz"
source="${FABRIC_SOURCE:-$default_source}"
if [[ ! -f "$source" ]]; then
  echo "fabric:build: no Fabric source at $source; set FABRIC_SOURCE to a fabric-2.5.x source tarball (with vendor/)" >&2
  exit 3
fi
source="$(cd "$(dirname "$source")" && pwd)/$(basename "$source")"
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "fabric:build: no Go toolchain: install Go >= 1.26 (Fabric 2.5.16 needs it) or put it on PATH" >&2; exit 3; }

sha="$(sha256sum "$source" | cut -d' ' -f1)"
if [[ -f "$source.sha256" ]] && ! grep -q "^$sha" "$source.sha256"; then
  echo "fabric:build: $source does not match the SHA-256 in $source.sha256" >&2
  exit 3
fi
cache="${VEILSUM_CACHE:-$HOME/.cache/veilsum}/fabric/$sha"
tools=(peer orderer configtxgen cryptogen osnadmin)
ccaas_tools=(detect build release)

complete() {
  local t
  for t in "${tools[@]}"; do [[ -x "$cache/bin/$t" ]] || return 1; done
  for t in "${ccaas_tools[@]}"; do [[ -x "$cache/ccaas/bin/$t" ]] || return 1; done
  [[ -f "$cache/sampleconfig/core.yaml" && -f "$cache/sampleconfig/orderer.yaml" ]]
}
if complete; then
  echo "fabric binaries cached (source sha256 ${sha:0:12})"
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"/{bin,ccaas/bin,sampleconfig,go/cache,go/modcache}
# One build at a time per cache folder (tests and CI may start it concurrently).
exec 9>"$cache/.lock"
flock 9
if complete; then echo "$cache"; exit 0; fi

src="$cache/src"
if [[ ! -d "$src/cmd/peer" ]]; then
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  echo "fabric:build: extracting $(basename "$source")"
  tar -xzf "$source" -C "$src.tmp" --strip-components=1
  mv "$src.tmp" "$src"
fi
cp "$src/sampleconfig/core.yaml" "$src/sampleconfig/orderer.yaml" "$cache/sampleconfig/"

export GOCACHE="$cache/go/cache" GOMODCACHE="$cache/go/modcache" CGO_ENABLED=0 GOTOOLCHAIN=local
start=$(date +%s)
for t in "${tools[@]}"; do
  [[ -x "$cache/bin/$t" ]] && continue
  echo "fabric:build: $t"
  (cd "$src" && GOFLAGS=-mod=vendor GOPROXY=off go build -o "$cache/bin/$t.tmp" "./cmd/$t")
  mv "$cache/bin/$t.tmp" "$cache/bin/$t"
done
for t in "${ccaas_tools[@]}"; do
  [[ -x "$cache/ccaas/bin/$t" ]] && continue
  echo "fabric:build: ccaas_builder $t"
  if ! (cd "$src/ccaas_builder" && GOFLAGS= go build -o "$cache/ccaas/bin/$t.tmp" "./cmd/$t"); then
    echo "fabric:build: ccaas_builder needs its two Go module dependencies (Go module proxy unreachable?)" >&2
    exit 3
  fi
  mv "$cache/ccaas/bin/$t.tmp" "$cache/ccaas/bin/$t"
done
echo "fabric:build: built in $(($(date +%s) - start)) s"
echo "$cache"
