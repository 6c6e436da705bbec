// Package java declares the Java package metadata that providers embed in their schema.
package java

// PackageInfo is the `language.java` section of a Pulumi package schema.
type PackageInfo struct {
	BuildFiles                      string            `json:"buildFiles,omitempty"`
	GradleNexusPublishPluginVersion string            `json:"gradleNexusPublishPluginVersion,omitempty"`
	Dependencies                    map[string]string `json:"dependencies,omitempty"`
}
