#!/bin/bash
# Floor of a fresh converge: the same work as site.yml (without smoke) on a fresh
# systemd host, as a plain script over the same SSH as Ansible's (key, known_hosts,
# ControlPersist: SSH_CONFIG, written by bench/run.py) and the same sudo user.
# Usage: floor_converge.sh SSH_CONFIG ADDRESS FILES_DIR
# FILES_DIR holds the finished orthanc.json and pacs_provisioner.nft of a converged host.
set -euo pipefail
config=$1 address=$2 files=$3
remote() { ssh -F "$config" "$address" "$@"; }
# As the role does on a first install (roles/orthanc/tasks/install-package.yml): no service starts
# while the packages install. Without it the packages' start and restarts can stop Orthanc 1.10.1
# while it creates its index and leave the index unreadable (seen here, 2026-12-01 18:06).
remote sudo sh -c "'printf \"#!/bin/sh\nexit 101\n\" > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d &&
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends orthanc orthanc-dicomweb curl lua5.3 nftables >/dev/null; status=\$?; rm -f /usr/sbin/policy-rc.d;
  exit \$status'"
scp -q -F "$config" "$files/orthanc.json" "$files/pacs_provisioner.nft" "$address:"
remote sudo sh -s <<'EOF' 2>&1
set -ex
cd /etc/orthanc && for f in *.json; do mv -f "$f" "$f.disabled"; done
install -d /etc/nftables.d
install -o root -g orthanc -m 0640 ~deploy/orthanc.json /etc/orthanc/orthanc.json
install -o root -g root -m 0600 ~deploy/pacs_provisioner.nft /etc/nftables.d/pacs_provisioner.nft
rm -f ~deploy/orthanc.json ~deploy/pacs_provisioner.nft
nft -f /etc/nftables.d/pacs_provisioner.nft
systemctl restart orthanc
for i in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8042/system)" != 000 ] && exit 0; sleep 0.5
done
systemctl status orthanc --no-pager; tail -n 30 /var/log/orthanc/Orthanc.log; exit 1
EOF
