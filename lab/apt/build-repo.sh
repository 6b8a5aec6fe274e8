#!/bin/sh
# Build the lab's signed apt repositories, laid out like the real upstreams so
# the tool's production code path (key URL, list line, apt-get install) runs
# unchanged against the lab:
#   OUT/tailscale/stable/{debian,ubuntu}/CODENAME.noarmor.gpg   (binary keyring)
#   OUT/tailscale/stable/{debian,ubuntu}/dists/CODENAME/...
#   OUT/cloudflare/cloudflare-main.gpg, OUT/cloudflare/cloudflared/dists/any/...
# usage: build-repo.sh OUT GNUPGHOME STANDINS_DIR BASE_URL
set -eu
out=$1 export GNUPGHOME=$2 standins=$3 base=$4
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"

# A throwaway signing key, made once per cache: it signs nothing but the lab.
if ! gpg --batch --list-secret-keys lab@infra.invalid >/dev/null 2>&1; then
  gpg --batch --passphrase '' --quick-gen-key 'infra lab apt repository (THROWAWAY) <lab@infra.invalid>' \
    ed25519 sign never 2>/dev/null
fi

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT INT TERM
for src in "$standins"/*/; do
  pkg=$(basename "$src")
  work="$debs/root-$pkg"
  cp -a "$src" "$work"
  # The daemon is the CLI under another name (it looks at argv[0]). Linked here, not kept as a
  # symlink in git: npm pack drops symlinks, and the lab runs from the installed package too.
  if [ "$pkg" = tailscale ]; then
    mkdir -p "$work/usr/sbin" && ln -sf ../bin/tailscale "$work/usr/sbin/tailscaled"
  fi
  find "$work" -type d -exec chmod 0755 {} +
  find "$work" -type f -exec chmod 0644 {} +
  for x in "$work"/DEBIAN/postinst "$work"/DEBIAN/prerm "$work"/DEBIAN/postrm "$work"/usr/bin/* "$work"/usr/sbin/*; do
    [ -f "$x" ] && chmod 0755 "$x"
  done
  dpkg-deb --root-owner-group -Zxz --build "$work" "$debs/" >/dev/null
  rm -rf "$work"
done

# OUT itself is bind-mounted into the services container: replace its
# children, never the directory.
new="$out/.new"
rm -rf "$new" && mkdir -p "$new"

# publish DIR SUITE DEBGLOB: a pool plus one signed dists/SUITE tree.
publish() {
  dir=$1 suite=$2 glob=$3
  mkdir -p "$dir/pool/main" "$dir/dists/$suite/main/binary-amd64" "$dir/dists/$suite/main/binary-arm64"
  cp $debs/$glob "$dir/pool/main/"
  (
    cd "$dir"
    for arch in amd64 arm64; do
      apt-ftparchive --arch "$arch" packages pool/main >"dists/$suite/main/binary-$arch/Packages"
      gzip -9nk "dists/$suite/main/binary-$arch/Packages"
    done
    apt-ftparchive -o APT::FTPArchive::Release::Origin=infra-lab \
      -o APT::FTPArchive::Release::Label="infra lab stand-in" \
      -o APT::FTPArchive::Release::Suite="$suite" -o APT::FTPArchive::Release::Codename="$suite" \
      -o APT::FTPArchive::Release::Architectures="amd64 arm64" \
      -o APT::FTPArchive::Release::Components=main \
      release "dists/$suite" >"dists/$suite/Release.tmp"
    mv "dists/$suite/Release.tmp" "dists/$suite/Release"
    gpg --batch --yes --clearsign -o "dists/$suite/InRelease" "dists/$suite/Release"
    gpg --batch --yes -abs -o "dists/$suite/Release.gpg" "dists/$suite/Release"
  )
}

ts="$new/tailscale/stable"
for os_codes in debian:trixie debian:bookworm ubuntu:jammy ubuntu:noble; do
  os=${os_codes%%:*} code=${os_codes#*:}
  publish "$ts/$os" "$code" 'tailscale*.deb'
  gpg --batch --export lab@infra.invalid >"$ts/$os/$code.noarmor.gpg"
  gpg --batch --armor --export lab@infra.invalid >"$ts/$os/$code.gpg"
  echo "deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] $base/tailscale/stable/$os $code main" \
    >"$ts/$os/$code.tailscale-keyring.list"
done

cf="$new/cloudflare"
publish "$cf/cloudflared" any 'cloudflared*.deb'
gpg --batch --export lab@infra.invalid >"$cf/cloudflare-main.gpg"
cp "$cf/cloudflare-main.gpg" "$cf/cloudflare-public-v2.gpg"

chmod -R a+rX "$new"
rm -rf "$out/tailscale" "$out/cloudflare"
mv "$new/tailscale" "$new/cloudflare" "$out/"
rmdir "$new"
