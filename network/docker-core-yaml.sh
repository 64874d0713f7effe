#!/usr/bin/env bash
# Writes deploy/fabric/core.yaml for docker-compose.yml: the Fabric source's sampleconfig core.yaml
# with `vm.endpoint:` left blank, so a peer running chaincode as a service registers no Docker
# health check (CORE_VM_ENDPOINT='' does not do it: an empty environment value counts as unset).
# The official peer image already has the ccaas builder at /opt/hyperledger/ccaas_builder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$(bash "$here/build-fabric.sh" | tail -1)"
out="${1:-$(dirname "$here")/deploy/fabric/core.yaml}"
mkdir -p "$(dirname "$out")"
sed -e 's#^\(    endpoint:\) unix:///var/run/docker.sock$#\1#' "$cache/sampleconfig/core.yaml" >"$out"
if grep -q '^    endpoint: unix:///var/run/docker.sock' "$out"; then
  echo "could not blank vm.endpoint in $out" >&2
  exit 1
fi
echo "$out"
