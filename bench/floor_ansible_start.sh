#!/bin/sh
# The last step of bench/floor_ansible.yml, as floor_converge.sh does it.
set -e
cd /etc/orthanc
for f in *.json; do [ "$f" = orthanc.json ] || mv -f "$f" "$f.disabled"; done
nft -f /etc/pacs_provisioner.nft
systemctl restart orthanc
for i in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8042/system)" != 000 ] && exit 0
  sleep 0.5
done
exit 1
