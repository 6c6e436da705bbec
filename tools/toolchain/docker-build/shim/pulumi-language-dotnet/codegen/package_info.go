// Package codegen declares the .NET package metadata that providers embed in their schema.
package codegen

// CSharpPackageInfo is the `language.csharp` section of a Pulumi package schema.
type CSharpPackageInfo struct {
	RespectSchemaVersion bool              `json:"respectSchemaVersion,omitempty"`
	PackageReferences    map[string]string `json:"packageReferences,omitempty"`
}
