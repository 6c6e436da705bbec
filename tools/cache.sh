# For the scripts that cache heavy builds under ${AURIGRAPH_CACHE:-~/.cache/aurigraph-infra}/<kind>/<key>:
# tools/kind/build.sh, tools/kind/monitoring/build.sh and tools/prune.sh. (The toolchain's and the supply-chain
# tools' scripts still copy and keep every entry: their keys hash the scripts themselves, so moving them here waits
# for their next rebuild; docker/bases/build.sh keeps one entry itself.) Sourced, never run. The disk is shared
# with other checkouts and CI runs, so:
#   - a checkout links its tools to the cache entry (hard links: one copy on disk, and the checkout keeps
#     working if the cache is removed); it copies only where the two are on different filesystems;
#   - after an entry is made or used, entries of the same kind left by older inputs are removed, keeping the
#     newest AURIGRAPH_CACHE_KEEP (2) so that switching between two branches does not rebuild.

cache_root() { printf '%s\n' "${AURIGRAPH_CACHE:-$HOME/.cache/aurigraph-infra}"; }

# cache_install SOURCE TARGET: SOURCE (a file or a directory) appears at TARGET, hard-linked where possible.
cache_install() {
  local source=$1 target=$2
  rm -rf "$target"
  mkdir -p "$(dirname "$target")"
  cp -al "$source" "$target" 2>/dev/null || { rm -rf "$target"; cp -a "$source" "$target"; }
}

# cache_prune KIND KEY: marks KEY as just used and removes the older entries of KIND beyond the newest kept.
cache_prune() {
  local dir keep entry
  dir="$(cache_root)/$1"
  keep=${AURIGRAPH_CACHE_KEEP:-2}
  if [ -d "$dir/$2" ]; then touch "$dir/$2"; fi
  # Partial builds left by crashed runs a day ago go too (a younger one may be another run's, still building).
  find "$dir" -mindepth 1 -maxdepth 1 -name '*.partial' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
  # Entries newest first by the time they were last used.
  ls -1dt "$dir"/*/ 2>/dev/null | grep -v '\.partial/$' | tail -n +"$((keep + 1))" | while read -r entry; do
    [ "$(basename "$entry")" = "$2" ] && continue
    echo "cache: removing $entry (older than the newest $keep of $1)" >&2
    rm -rf "$entry"
  done || true
}

# cache_build KIND KEY COMMAND...: the entry KIND/KEY, made once by running COMMAND with the directory to fill
# (ENTRY/bin) as its last argument. A run that finds another building it (CI starts one early in the background)
# waits on the lock of KIND, then finds the entry. The entry's path is in $cache_entry afterwards.
cache_build() {
  local kind=$1 key=$2 started
  shift 2
  cache_entry="$(cache_root)/$kind/$key"
  mkdir -p "$(dirname "$cache_entry")"
  exec 9>"$(dirname "$cache_entry")/.lock"
  flock 9
  if [ ! -f "$cache_entry/complete" ]; then
    rm -rf "$cache_entry.partial"
    started=$(date +%s)
    # Explicit: a caller's `if` or `||` would switch errexit off in here, and a failed build must not be kept.
    "$@" "$cache_entry.partial/bin" || { started=$?; flock -u 9; exec 9>&-; return "$started"; }
    echo "$(( $(date +%s) - started ))" > "$cache_entry.partial/build-seconds"
    rm -rf "$cache_entry" && mv "$cache_entry.partial" "$cache_entry"
    touch "$cache_entry/complete"
    printf 'cache: %s built in %s s into %s\n' "$kind" "$(cat "$cache_entry/build-seconds")" "$cache_entry" >&2
  else
    printf 'cache: %s from %s\n' "$kind" "$cache_entry" >&2
  fi
  flock -u 9
  exec 9>&-
  cache_prune "$kind" "$key"
}
