#!/bin/bash
# Floor of a fresh converge: the same work as site.yml (without smoke) on a fresh
# systemd container, as a plain script. Usage: floor_converge.sh CONTAINER FILES_DIR
# FILES_DIR holds the finished orthanc.json and pacs_provisioner.nft of a converged host.
set -euo pipefail
c=$1 files=$2
docker exec "$c" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends orthanc orthanc-dicomweb curl nftables >/dev/null'
docker exec "$c" sh -c 'cd /etc/orthanc && for f in *.json; do mv -f "$f" "$f.disabled"; done; mkdir -p /etc/nftables.d'
docker cp "$files/orthanc.json" "$c:/etc/orthanc/orthanc.json"
docker cp "$files/pacs_provisioner.nft" "$c:/etc/nftables.d/pacs_provisioner.nft"
docker exec "$c" sh -c 'set -ex; chown root:orthanc /etc/orthanc/orthanc.json; chmod 0640 /etc/orthanc/orthanc.json
  nft -f /etc/nftables.d/pacs_provisioner.nft; systemctl restart orthanc
  for i in $(seq 1 240); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8042/system)" != 000 ] && exit 0; sleep 0.5
  done
  systemctl status orthanc --no-pager; tail -n 30 /var/log/orthanc/Orthanc.log; exit 1' 2>&1
