# Sourced by the image build scripts. Removes what a server never reads but
# every inner engine would copy (docs, man pages, translations, apt caches).
trim_rootfs() {
  r=$1
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* \
    "$r"/usr/share/lintian "$r"/usr/share/linda "$r"/var/cache/man/* \
    "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/var/log/*.log \
    "$r"/tmp/* "$r"/var/tmp/*
  # Keep only the C/English locale data; gettext falls back to English.
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias \
    -exec rm -rf {} + 2>/dev/null || true
  # Python bytecode caches are rebuilt on demand.
  find "$r/usr/lib" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
}
