#!/usr/bin/env bash
# Builds wirespan's Debian package and container image and tests both as a user would meet them,
# in a clean Debian 12 made with debootstrap (containers cannot run here, so the image's layers
# are unpacked and its binary run with chroot).
#
#   sudo bash deploy/test-package.sh [deb|image|all]     (default: all)
#
# deb:   `cargo deb`; `apt-get install ./wirespan_*.deb` in a fresh Debian 12 root (apt brings
#        libpcap0.8); the installed binary replays a bundled capture (spans identical to the
#        build's own), reads the installed config (`config --print-default`, and `capture -d`
#        compiles its filter with the installed libpcap); `systemd-analyze verify` on the
#        installed unit; `dpkg -r` leaves only the conffile, `dpkg -P` and autoremove leave
#        the root as it was.
# image: deploy/Containerfile built with podman on a base imported from the same Debian 12
#        root; `podman save`, layers unpacked in order; its files are the binary, its config
#        and libraries only (no shell); the binary replays the capture and compiles the filter
#        under chroot; prints the image's size.
#
# Needs root, cargo-deb, debootstrap, podman (image), systemd-analyze (verify, if present) and
# Debian's package mirror. The Debian root is made once and kept as
# target/package/bookworm-minbase.tar (WIRESPAN_DEBIAN_ROOT=FILE to use another tarball).
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
REPO=$PWD
WORK=$(mktemp -d /var/tmp/wirespan-package.XXXXXX)
MOUNTS=()
cleanup() {
  for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
CHECKS=0
ok() {
  CHECKS=$((CHECKS + 1))
  echo "ok: $*"
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# --- the package ------------------------------------------------------------------------------
echo "== cargo deb"
cargo deb --quiet >"$WORK/cargo-deb.out" 2>&1 || { cat "$WORK/cargo-deb.out" >&2; fail "cargo deb"; }
VERSION=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
DEB=target/debian/wirespan_${VERSION}-1_amd64.deb
[ -f "$DEB" ] || fail "no $DEB"
ok "built $DEB ($(stat -c %s "$DEB") bytes)"
control=$(dpkg-deb -f "$DEB")
grep -q '^Depends:.*libpcap0.8' <<<"$control" || fail "Depends lacks libpcap0.8: $control"
grep -q '^Depends:.*libc6' <<<"$control" || fail "Depends lacks libc6: $control"
ok "Depends: $(dpkg-deb -f "$DEB" Depends)"
contents=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/wirespan ./etc/wirespan/wirespan.toml ./usr/lib/systemd/system/wirespan.service \
  ./usr/share/man/man1/wirespan.1.gz ./usr/share/man/man1/wirespan-capture.1.gz \
  ./usr/share/doc/wirespan/copyright; do
  grep -qx "$f" <<<"$contents" || fail "$f not in the package"
done
ok "the package holds the binary, config, unit, man pages and copyright"
[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)" = /etc/wirespan/wirespan.toml ] ||
  fail "conffiles is not /etc/wirespan/wirespan.toml"
ok "the config is a conffile"
dpkg-deb -x "$DEB" "$WORK/unpacked"
file -b "$WORK/unpacked/usr/bin/wirespan" | grep -q 'stripped' && ! file -b "$WORK/unpacked/usr/bin/wirespan" | grep -q 'not stripped' ||
  fail "the packaged binary is not stripped"
ok "the packaged binary is stripped ($(stat -c %s "$WORK/unpacked/usr/bin/wirespan") bytes)"

# --- a clean Debian 12 --------------------------------------------------------------------------
BASE_TAR=${WIRESPAN_DEBIAN_ROOT:-target/package/bookworm-minbase.tar}
if [ ! -f "$BASE_TAR" ]; then
  echo "== debootstrap Debian 12 (once; kept as $BASE_TAR)"
  mkdir -p "$(dirname "$BASE_TAR")"
  debootstrap --variant=minbase bookworm "$WORK/bootstrap" http://deb.debian.org/debian \
    >"$WORK/debootstrap.out" 2>&1 || { tail -20 "$WORK/debootstrap.out" >&2; fail debootstrap; }
  tar -C "$WORK/bootstrap" -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$WORK/bootstrap"
fi

PCAP=pcaps/http/underlay-vxlan.pcap
# The spans the build itself writes, for comparison with every installed copy.
WIRESPAN_HOST_NAME=package-test target/release/wirespan replay "$PCAP" -o "$WORK/expected.jsonl" \
  2>"$WORK/expected.err" || { cat "$WORK/expected.err" >&2; fail "the build's own replay of $PCAP"; }
[ -s "$WORK/expected.jsonl" ] || fail "the build wrote no spans for $PCAP"
EXPECTED_FILTER=$(target/release/wirespan --config deploy/wirespan.toml capture -d)

CHROOT=$(command -v chroot)
# Runs the replay and the filter compile inside root $1, with the binary at $2, and nothing
# from this environment.
check_runs() {
  local root=$1 bin=$2 what=$3
  mkdir -p "$root/tmp"
  cp "$PCAP" "$root/tmp/$(basename "$PCAP")"
  env -i WIRESPAN_HOST_NAME=package-test "$CHROOT" "$root" "$bin" replay "/tmp/$(basename "$PCAP")" \
    -o /tmp/spans.jsonl --stats 2>"$WORK/replay.err" || { cat "$WORK/replay.err" >&2; fail "$what: replay"; }
  cmp -s "$root/tmp/spans.jsonl" "$WORK/expected.jsonl" ||
    { diff <(tr , "\n" <"$root/tmp/spans.jsonl") <(tr , "\n" <"$WORK/expected.jsonl") | head -20 >&2; fail "$what: the spans differ from the build's own"; }
  ok "$what: replay of $PCAP wrote the build's $(grep -o '"spanId"' "$WORK/expected.jsonl" | wc -l) spans, byte for byte"
  local filter
  filter=$(env -i "$CHROOT" "$root" "$bin" --config /etc/wirespan/wirespan.toml capture -d 2>&1) ||
    fail "$what: capture -d with the installed config: $filter"
  [ "$filter" = "$EXPECTED_FILTER" ] || fail "$what: the compiled filter differs: $filter"
  ok "$what: the installed config's filter compiles with the installed libpcap ($(wc -l <<<"$filter") instructions)"
  rm -f "$root/tmp/$(basename "$PCAP")" "$root/tmp/spans.jsonl"
}

# The root's paths, but for the state apt and dpkg keep about themselves.
snapshot() {
  (cd "$1" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/lib/apt -o -path ./var/lib/dpkg \
    -o -path ./var/cache -o -path ./var/log -o -path ./run \) -prune -o -print | LC_ALL=C sort)
}
installed_packages() {
  chroot "$1" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | LC_ALL=C sort
}

test_deb() {
  echo "== the package on a clean Debian 12"
  local root=$WORK/debian
  mkdir -p "$root"
  tar -C "$root" -xf "$BASE_TAR"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  MOUNTS+=("$root/proc")
  export DEBIAN_FRONTEND=noninteractive
  # systemd too, as on a real host: so that the unit can be verified against its targets.
  chroot "$root" apt-get update -qq >/dev/null
  chroot "$root" apt-get install -y -qq --no-install-recommends systemd >"$WORK/apt.out" 2>&1 ||
    { tail "$WORK/apt.out" >&2; fail "apt-get install systemd"; }
  snapshot "$root" >"$WORK/before"
  installed_packages "$root" >"$WORK/packages.before"
  cp "$DEB" "$root/tmp/"
  chroot "$root" apt-get install -y --no-install-recommends "/tmp/$(basename "$DEB")" >"$WORK/apt.out" 2>&1 ||
    { tail -20 "$WORK/apt.out" >&2; fail "apt-get install ./$(basename "$DEB")"; }
  rm "$root/tmp/$(basename "$DEB")"
  [ "$(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev}' wirespan)" = "ii " ] || fail "wirespan not installed"
  [ "$(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev}' libpcap0.8)" = "ii " ] || fail "apt did not bring libpcap0.8"
  ok "apt-get install ./$(basename "$DEB") installed it and libpcap0.8"
  [ "$(chroot "$root" wirespan --version)" = "wirespan $VERSION" ] || fail "wirespan --version"
  cmp -s "$root/etc/wirespan/wirespan.toml" deploy/wirespan.toml || fail "the installed config is not deploy/wirespan.toml"
  [ -f "$root/usr/lib/systemd/system/wirespan.service" ] || fail "the unit is not installed"
  [ ! -e "$root/etc/systemd/system/multi-user.target.wants/wirespan.service" ] ||
    fail "the unit was enabled before it is configured"
  ok "installed: /usr/bin/wirespan $VERSION, /etc/wirespan/wirespan.toml, the unit (not enabled until configured)"
  [ -f "$root/usr/share/man/man1/wirespan-capture.1.gz" ] || fail "no man page"
  check_runs "$root" /usr/bin/wirespan "installed package"
  local printed
  printed=$(chroot "$root" wirespan --config /etc/wirespan/wirespan.toml config --print-default) ||
    fail "config --print-default with the installed config"
  [ "$printed" = "$(target/release/wirespan config --print-default)" ] || fail "config --print-default differs"
  # Every key of the installed config is an option the defaults list.
  while read -r key; do
    grep -q "^# $key = " <<<"$printed" || fail "the installed config's $key is not an option"
  done < <(awk -F' = ' '/^[a-z-]+ = /{print $1}' "$root/etc/wirespan/wirespan.toml")
  ok "config --print-default reads the installed config; each of its keys is a known option"
  if command -v systemd-analyze >/dev/null; then
    local verify
    verify=$(systemd-analyze verify --root="$root" /usr/lib/systemd/system/wirespan.service 2>&1) ||
      fail "systemd-analyze verify: $verify"
    [ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
    ok "systemd-analyze verify: the installed unit is clean"
  else
    echo "skipped: systemd-analyze is not on this machine"
  fi

  chroot "$root" dpkg -r wirespan >"$WORK/dpkg.out" 2>&1 || { cat "$WORK/dpkg.out" >&2; fail "dpkg -r"; }
  [ "$(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev}' wirespan)" = "rc " ] || fail "not in state rc after dpkg -r"
  # What is there now and was not before, but for the files of the packages apt brought.
  LC_ALL=C comm -13 "$WORK/packages.before" <(installed_packages "$root") >"$WORK/deps"
  [ -s "$WORK/deps" ] || fail "no dependency was installed with wirespan"
  xargs chroot "$root" dpkg-query -L <"$WORK/deps" |
    sed 's|^|.|; p; s#^\./\(lib\|lib64\|bin\|sbin\)/#./usr/\1/#' | LC_ALL=C sort -u >"$WORK/deps.files"
  LC_ALL=C comm -23 <(snapshot "$root") "$WORK/before" | LC_ALL=C comm -23 - "$WORK/deps.files" >"$WORK/left.r"
  # debhelper's scripts keep a removed unit's enablement and mask until purge.
  unexpected=$(grep -v -x -e './etc/wirespan' -e './etc/wirespan/wirespan.toml' \
    -e '\./etc/systemd/system/\(multi-user\.target\.wants/\)\?wirespan\.service' \
    -e '\./var/lib/systemd/deb-systemd-helper-\(enabled\|masked\)\(/.*\)\?wirespan\.service.*' \
    -e '\./var/lib/systemd/deb-systemd-helper-\(enabled\|masked\)\(/multi-user\.target\.wants\)\?' "$WORK/left.r" || true)
  [ -z "$unexpected" ] || fail "dpkg -r left: $unexpected"
  grep -qx './etc/wirespan/wirespan.toml' "$WORK/left.r" || fail "dpkg -r removed the conffile"
  ok "dpkg -r: left the conffile and the unit's enablement state only: $(tr '\n' ' ' <"$WORK/left.r")"
  chroot "$root" dpkg -P wirespan >"$WORK/dpkg.out" 2>&1 || { cat "$WORK/dpkg.out" >&2; fail "dpkg -P"; }
  chroot "$root" apt-get autoremove --purge -y >"$WORK/apt.out" 2>&1 || { tail "$WORK/apt.out" >&2; fail autoremove; }
  [ -z "$(chroot "$root" dpkg-query -W -f '${db:Status-Abbrev}' wirespan 2>/dev/null)" ] ||
    fail "dpkg still knows wirespan after dpkg -P"
  diff <(snapshot "$root") "$WORK/before" >"$WORK/left.p" || fail "dpkg -P and autoremove left: $(cat "$WORK/left.p")"
  ok "dpkg -P (and apt-get autoremove of libpcap0.8) left the root as it was"
}

test_image() {
  echo "== the container image"
  command -v podman >/dev/null || fail "podman is not installed"
  local base=localhost/wirespan-base:bookworm image=localhost/wirespan:package-test
  podman image exists "$base" || podman import "$BASE_TAR" "$base" >/dev/null
  # chroot isolation: RUN steps need no container runtime (which this sandbox refuses).
  podman build --isolation=chroot --build-arg BASE="$base" -f deploy/Containerfile -t "$image" \
    target/debian >"$WORK/build.out" 2>&1 || { tail -30 "$WORK/build.out" >&2; fail "podman build"; }
  ok "podman build -f deploy/Containerfile target/debian"
  podman save -q --format docker-archive -o "$WORK/image.tar" "$image"
  mkdir -p "$WORK/saved" "$WORK/image"
  tar -C "$WORK/saved" -xf "$WORK/image.tar"
  # Layers in order; a whiteout (.wh.NAME) deletes NAME from the layers below.
  python3 - "$WORK/saved" "$WORK/image" <<'EOF'
import json, os, shutil, sys, tarfile
saved, root = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(saved, "manifest.json")))[0]
for layer in manifest["Layers"]:
    with tarfile.open(os.path.join(saved, layer)) as t:
        for m in t.getmembers():
            d, b = os.path.split(m.name)
            if b.startswith(".wh."):
                target = os.path.join(root, d, b[4:])
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.remove(target)
                continue
            t.extract(m, root, filter="tar")
EOF
  local files
  files=$(cd "$WORK/image" && find . -type f -o -type l | sort)
  for f in ./usr/bin/wirespan ./etc/wirespan/wirespan.toml ./usr/lib/x86_64-linux-gnu/libpcap.so.0.8 \
    ./usr/share/doc/wirespan/copyright ./usr/share/doc/libpcap0.8/copyright ./usr/share/doc/libc6/copyright; do
    grep -qx "$f" <<<"$files" || fail "the image lacks $f"
  done
  local extra
  extra=$(grep -v -e '^\./usr/bin/wirespan$' -e '^\./etc/wirespan/wirespan.toml$' \
    -e '^\./usr/share/doc/[a-z0-9.+-]*/copyright$' -e '^\./lib64/ld-linux-x86-64\.so\.2$' \
    -e '^\./\(usr/\)\?lib/x86_64-linux-gnu/lib[a-z0-9_.+-]*\.so\.[0-9.]*$' <<<"$files" || true)
  [ -z "$extra" ] || fail "the image holds more than the binary, its config and libraries: $extra"
  ok "the image holds only the binary, its config, $(grep -c '\.so' <<<"$files") libraries and $(grep -c '/copyright$' <<<"$files") packages' copyright files (no shell)"
  cmp -s "$WORK/image/usr/bin/wirespan" "$WORK/unpacked/usr/bin/wirespan" || fail "the image's binary is not the package's"
  cmp -s "$WORK/image/etc/wirespan/wirespan.toml" deploy/wirespan.toml || fail "the image's config is not deploy/wirespan.toml"
  ok "the image's binary and config are the package's"
  local config
  config=$(podman image inspect "$image" --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}}')
  [ "$config" = '["/usr/bin/wirespan"] ["--config","/etc/wirespan/wirespan.toml","capture","--stats"] 0:0' ] ||
    fail "the image's entrypoint, command or user: $config"
  ok "entrypoint /usr/bin/wirespan, command: the manifest's args"
  check_runs "$WORK/image" /usr/bin/wirespan "image"
  local size
  size=$(podman image inspect "$image" --format '{{.Size}}')
  ok "the image weighs $size bytes ($(du -sh "$WORK/image" | cut -f1) unpacked; the .tar saved: $(stat -c %s "$WORK/image.tar") bytes)"
  podman rmi "$image" >/dev/null
}

case $WHAT in
deb) test_deb ;;
image) test_image ;;
all)
  test_deb
  test_image
  ;;
*) fail "usage: $0 [deb|image|all]" ;;
esac
echo "package test: $CHECKS checks passed"
