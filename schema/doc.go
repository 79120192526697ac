// Package schema checks tool-call arguments against the JSON Schema a tool
// declares as its inputSchema, and fingerprints tool definitions.
//
// [Cache.Validate] compiles each distinct input schema once (keyed by the
// sha256 of its canonical form) and reports every violation as a
// [ValidationError] that a front end can turn into a 400 answer. Schemas never
// reach outside themselves: references to anything but the schema document
// and the bundled draft meta-schemas are refused, so a hostile tool schema
// cannot make the gateway read files or open connections.
//
// [Canonical] and [Fingerprint] give a stable, whitespace- and
// key-order-insensitive form of JSON values and of a tool list, so that a
// change of a provider's tools can be detected by comparing two strings.
//
// The package is a leaf: it depends on the standard library, the JSON Schema
// validator and the module's internal JSON string encoder only.
package schema
