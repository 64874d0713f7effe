#!/usr/bin/env bash
# Builds the Fabric v2.5 binaries (peer, orderer, configtxgen, cryptogen, osnadmin) from the Go
# module proxy into network/.cache/bin, reusing the Go build and module caches under
# network/.cache so repeat runs (and CI with that folder cached) take seconds.
# Usage: network/build-fabric.sh [fabric-commit]   (default: v2.5.16 = f871cf92a026)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
commit="${1:-f871cf92a026}"
cache="$here/.cache"
mkdir -p "$cache/bin" "$cache/gocache" "$cache/gomodcache"
export GOBIN="$cache/bin" GOCACHE="$cache/gocache" GOMODCACHE="$cache/gomodcache" CGO_ENABLED=0
for tool in peer orderer configtxgen cryptogen osnadmin; do
  if [[ -x "$cache/bin/$tool" && -f "$cache/bin/.$tool.$commit" ]]; then
    echo "fabric $tool@$commit: cached"
    continue
  fi
  echo "fabric $tool@$commit: building"
  if ! go install "github.com/hyperledger/fabric/cmd/$tool@$commit"; then
    echo "cannot build fabric $tool@$commit: the Go module proxy did not serve github.com/hyperledger/fabric at that version" >&2
    exit 3
  fi
  touch "$cache/bin/.$tool.$commit"
done
echo "fabric binaries in $cache/bin"
