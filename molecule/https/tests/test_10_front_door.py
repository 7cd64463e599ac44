"""What an administrator sees on the PACS host: nginx from Debian's packages, the
TLS material private to root, the front door file checked and in place."""

testinfra_hosts = ["pp-https-pacs"]


def test_nginx_from_debian_running_and_enabled(host):
    assert host.package("nginx").is_installed
    assert host.run("apt-cache policy nginx").stdout.count("deb.debian.org") >= 1
    service = host.service("nginx")
    assert service.is_running and service.is_enabled


def test_tls_material_is_root_only(host):
    folder = host.file("/etc/nginx/pacs-https")
    assert folder.is_directory and folder.user == "root" and folder.mode == 0o700
    key = host.file("/etc/nginx/pacs-https/server.key")
    assert key.user == "root" and key.group == "root" and key.mode == 0o600
    assert key.content_string.startswith("-----BEGIN ")
    assert host.file("/etc/nginx/pacs-https/server.crt").mode == 0o644


def test_front_door_file_is_managed_and_valid(host):
    conf = host.file("/etc/nginx/conf.d/pacs-https.conf")
    text = conf.content_string
    assert text.startswith("#") and "Ansible managed" in "".join(text.splitlines()[:3])
    for line in ("ssl_protocols TLSv1.2 TLSv1.3;", "server 127.0.0.1:8042 max_fails=1 fail_timeout=2s;",
                 "proxy_next_upstream error timeout http_502 http_503 http_504;",
                 "client_max_body_size 4g;", 'proxy_set_header Forwarded "host=$host;proto=https";',
                 "ssl_verify_client optional;", "location /modalities {"):
        assert line in text, line
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert host.run("nginx -t").rc == 0
    # The candidate checker works on a file alone, and refuses a broken one.
    assert host.run("/usr/local/sbin/pacs-https-check-candidate /etc/nginx/conf.d/pacs-https.conf").rc == 0
    host.run("printf 'server { listen 443 ssl; bogus_directive on; }\\n' > /tmp/pp-bad.conf")
    bad = host.run("/usr/local/sbin/pacs-https-check-candidate /tmp/pp-bad.conf")
    assert bad.rc != 0 and "bogus_directive" in bad.stderr


def test_orthanc_http_only_for_loopback(host):
    """Orthanc 1.10.1 has no bind address: RemoteAccessAllowed false makes it refuse
    every request that does not come from loopback (nginx's do)."""
    config = host.file("/etc/orthanc/orthanc.json").content_string
    assert '"RemoteAccessAllowed": false' in config
    local = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8042/system")
    assert local.stdout == "401"  # loopback reaches Orthanc (and its authentication)
