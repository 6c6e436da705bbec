// Command vulndb builds a grype vulnerability database (schema 6) from advisories in the GitHub Security
// Advisory form that vunnel writes, with grype's own database builder. The pipeline's vulnerability gate reads it
// where the published database cannot be downloaded: air-gapped runs, and tests that need an advisory matching
// a package really in an image.
//
// Usage: vulndb -advisories DIR -out DIR
//
// DIR holds one JSON file per advisory ({"identifier": ..., "schema": ..., "item": {"Advisory": ...}}); the
// database is written to OUT/vulnerability.db, for `grype db import`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/OneOfOne/xxhash"

	"github.com/anchore/grype/grype/db"
	"github.com/anchore/grype/grype/db/provider"
)

func main() {
	advisories := flag.String("advisories", "", "directory of advisories (*.json, vunnel's GitHub form)")
	out := flag.String("out", "", "directory that receives vulnerability.db")
	flag.Parse()
	if *advisories == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: vulndb -advisories DIR -out DIR")
		os.Exit(2)
	}
	if err := build(*advisories, *out); err != nil {
		fmt.Fprintf(os.Stderr, "vulndb: %v\n", err)
		os.Exit(1)
	}
}

func xxh64(data []byte) string {
	hash := xxhash.New64()
	_, _ = hash.Write(data)
	return fmt.Sprintf("%x", hash.Sum(nil))
}

// build lays the advisories out as a vunnel workspace of the "github" provider and runs grype's builder on it.
func build(advisories, out string) error {
	files, err := filepath.Glob(filepath.Join(advisories, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	workspace, err := os.MkdirTemp("", "vulndb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workspace)
	providerDir := filepath.Join(workspace, "github")
	results := filepath.Join(providerDir, "results")
	if err := os.MkdirAll(results, 0o755); err != nil {
		return err
	}
	var listing strings.Builder
	for _, file := range files {
		content, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		name := filepath.Base(file)
		if err := os.WriteFile(filepath.Join(results, name), content, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&listing, "%s  results/%s\n", xxh64(content), name)
	}
	checksums := []byte(listing.String())
	if err := os.WriteFile(filepath.Join(providerDir, "checksums"), checksums, 0o600); err != nil {
		return err
	}
	now := time.Now().UTC()
	metadata := fmt.Sprintf(`{
  "provider": "github",
  "urls": ["file://%s"],
  "store": "flat-file",
  "timestamp": %q,
  "version": 2,
  "distribution_version": 1,
  "processor": "aurigraph-infra vulndb",
  "listing": {"digest": %q, "path": "checksums", "algorithm": "xxh64"},
  "schema": {
    "version": "1.0.3",
    "url": "https://raw.githubusercontent.com/anchore/vunnel/main/schema/provider-workspace-state/schema-1.0.3.json"
  },
  "stale": false
}`, advisories, now.Format(time.RFC3339), xxh64(checksums))
	metadataPath := filepath.Join(providerDir, "metadata.json")
	if err := os.WriteFile(metadataPath, []byte(metadata), 0o600); err != nil {
		return err
	}
	state, err := provider.ReadState(metadataPath)
	if err != nil {
		return fmt.Errorf("reading the workspace: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	err = db.Build(db.BuildConfig{
		SchemaVersion:   6,
		Directory:       out,
		States:          provider.States{*state},
		Timestamp:       now,
		IncludeCPEParts: []string{"a", "h", "o"},
		Hydrate:         true,
		BatchSize:       100,
	})
	if err != nil {
		return err
	}
	fmt.Printf("vulndb: %d advisories from %s into %s\n", len(files), advisories, filepath.Join(out, "vulnerability.db"))
	return nil
}
